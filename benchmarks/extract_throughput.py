"""Images/s of ``emofeat extract`` on the CPU, next to the two numbers that judge it.

Rows, per backbone, on the same FI-like JPEG photographs (see ``photos.py``: scikit-image's
photos cropped to ~500x375, noise added, JPEG q90), batch size and precision:

  (a) model ceiling: timm's own forward to pooled features
      (``forward_head(forward_features(x), pre_logits=True)``) on random tensors already in
      memory, the better of NCHW and channels_last, measured before and after (b) in every
      repeat; the faster of the two is the ceiling (a noisy slow run would flatter b/a). No
      decoding, no I/O: the most a CPU-bound extractor could reach.
  (b) emofeat end to end: ``emofeat.extract.extract`` with the backbone's DEFAULT layers
      (decoding, by emofeat's default: threads between forward passes on the CPU, or
      ``--workers N`` processes; model; HDF5 store), as a MARGINAL rate: it runs on N_small
      and N_large images, rate = (N_large - N_small) / (t_large - t_small), and
      start-up = t_small - N_small / rate (model creation, worker start, store set-up) is
      reported apart. ``--also-workers N`` measures (b) with N worker processes too, in the
      same repeats.
  (c) plain loop: PIL in the main process, timm's eval transform, the model with hooks on the
      same layers, ``np.savez`` per batch: what a user would write without emofeat.

and the ratios b/a (how close extraction gets to the model alone; issue 11's goals: >= 0.9
for IRv2, >= 0.85 in every repeat for Lite0) and b/c (what it gains over the plain loop; goal
>= 1.3), each as median [min, max] over ``--repeats``. ``--rss`` adds the peak RSS of an
extraction of 200 and of 2000 images, each in a fresh subprocess (its main process: VmHWM;
its DataLoader workers, where there are any: the largest worker's ru_maxrss, which counts
the pages shared with the main process after fork) and their ratio (goal: about 1, memory
does not grow with the data set). Nothing is asserted. Run, from the repository root:

    .venv/bin/python benchmarks/extract_throughput.py --rss --json /tmp/extract-cpu.json
    .venv/bin/python benchmarks/extract_throughput.py --models lite0 --repeats 1  # ~1 min

Defaults: both models (irv2: 48/192 images, lite0: 128/640), emofeat's CPU batch size (16),
fp32, 3 repeats;
about 10 minutes on 2 cores, most of it IRv2 (~26 GFLOPs per image); --also-workers adds
about a third, --rss about a minute (Lite0, 200 and 2000 images).

IRv2 uses random weights (no pretrained weights offline; speed does not depend on them),
Lite0 its bundled ImageNet weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import photos
import timm
import torch
from PIL import Image

from emofeat.backbones import create_backbone, data_config, default_layers
from emofeat.datasets import load_manifest
from emofeat.device import autocast_for, keep_freed_memory, resolve_batch_size
from emofeat.extract import ExtractConfig, extract
from emofeat.loading import decode_workers

log = logging.getLogger("extract_throughput")
CPU = torch.device("cpu")

@dataclasses.dataclass(frozen=True)
class ModelSpec:
    alias: str
    backbone: str
    weights: str
    images: tuple[int, int] = (64, 256)  # default N_small, N_large (about a minute each)
    ceiling_images: int = 128  # default images per memory format for the ceiling
    goal_model: float = 0.85  # issue 11's goal for b/a


#: --models aliases. Any other ``timm_name[:weights]`` also works (random init by default).
MODELS = {m.alias: m for m in (
    ModelSpec("irv2", "inception_resnet_v2", "random", (48, 192), 64, 0.9),  # ~26 GFLOPs
    ModelSpec("lite0", "tf_efficientnet_lite0", "bundled", (128, 640), 256),  # ~0.8 GFLOPs
)}


def model_spec(name: str, args: argparse.Namespace | None = None) -> ModelSpec:
    """An alias or ``timm_name[:weights]``, with --images / --ceiling-images applied."""
    if name in MODELS:
        spec = MODELS[name]
    else:
        backbone, _, weights = name.partition(":")
        spec = ModelSpec(name, backbone, weights or "random")
    if args is not None and args.images:
        spec = dataclasses.replace(spec, images=args.images)
    if args is not None and args.ceiling_images:
        spec = dataclasses.replace(spec, ceiling_images=args.ceiling_images)
    return spec


def extract_config(**kwargs: Any) -> ExtractConfig:
    """ExtractConfig with the keys it has (fields added later are left at their defaults)."""
    known = {f.name for f in dataclasses.fields(ExtractConfig)}
    return ExtractConfig(**{k: v for k, v in kwargs.items() if k in known})


# --------------------------------------------------------------------------- (a) ceiling


@torch.inference_mode()
def model_ceiling(model: torch.nn.Module, input_size: list[int], batch: int, n: int,
                  precision: str) -> dict[str, Any]:
    """timm forward to pooled features on in-memory random tensors, best memory format."""
    amp = autocast_for(precision, CPU)
    iters = max(2, math.ceil(n / batch))
    rates = {}
    for fmt_name, fmt in (("nchw", torch.contiguous_format), ("channels_last",
                                                                torch.channels_last)):
        m = model.to(memory_format=fmt)
        x = torch.randn(batch, *input_size).contiguous(memory_format=fmt)
        with amp():
            m.forward_head(m.forward_features(x), pre_logits=True)  # warm-up
            start = time.perf_counter()
            for _ in range(iters):
                m.forward_head(m.forward_features(x), pre_logits=True)
        rates[fmt_name] = iters * batch / (time.perf_counter() - start)
    model.to(memory_format=torch.contiguous_format)
    best = max(rates, key=rates.__getitem__)
    return {"rate": rates[best], "format": best, "by_format": rates, "images": iters * batch}


# --------------------------------------------------------------------------- (b) emofeat


def e2e_once(root: Path, store: Path, backbone: str, weights: str, batch: int,
             precision: str, workers: int | None) -> dict[str, Any]:
    """One ``extract()`` into a fresh store: wall seconds, first-batch time, steady rate."""
    manifest = load_manifest(root, "folder")
    marks: list[tuple[float, int]] = []

    def progress(done: int, _total: int) -> None:
        marks.append((time.perf_counter(), done))

    shutil.rmtree(store, ignore_errors=True)
    config = extract_config(backbone=backbone, weights=weights, batch_size=batch,
                            workers=workers, device="cpu", precision=precision)
    start = time.perf_counter()
    extract(manifest, store, config, progress=progress)
    seconds = time.perf_counter() - start
    shutil.rmtree(store, ignore_errors=True)
    steady = None
    if len(marks) > 1 and marks[-1][0] > marks[0][0]:
        steady = (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
    return {"n": len(manifest), "seconds": seconds,
            "first_batch_s": (marks[0][0] - start) if marks else None, "steady_rate": steady}


def marginal(small: dict[str, Any], large: dict[str, Any]) -> tuple[float, float]:
    """(images/s beyond start-up, start-up seconds) from two runs of different sizes."""
    dt = large["seconds"] - small["seconds"]
    if dt <= 0:
        return float("nan"), float("nan")
    rate = (large["n"] - small["n"]) / dt
    return rate, small["seconds"] - small["n"] / rate


# --------------------------------------------------------------------------- (c) plain loop


@torch.inference_mode()
def plain_loop(model: torch.nn.Module, cfg: dict, layers: list[str], paths: list[Path],
               batch: int, precision: str, out_dir: Path) -> dict[str, Any]:
    """PIL in this process, timm's eval transform, hooks on ``layers``, np.savez per batch."""
    transform = timm.data.create_transform(  # timm's own, as a user would call it
        **{k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()},
        is_training=False)
    amp = autocast_for(precision, CPU)
    modules = dict(model.named_modules())
    feats: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def fn(_m, _i, out):
            feats[name] = out.float().mean(dim=(2, 3))
        return fn

    handles = [modules[n].register_forward_hook(hook(n)) for n in layers]
    try:
        with amp():  # warm-up, as the ceiling and the marginal rate exclude it too
            model.forward_features(torch.zeros(batch, *cfg["input_size"]))
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        for b, i in enumerate(range(0, len(paths), batch)):
            images = []
            for p in paths[i:i + batch]:
                with Image.open(p) as img:
                    images.append(transform(img.convert("RGB")))
            with amp():
                model.forward_features(torch.stack(images))
            np.savez(out_dir / f"batch{b:05d}.npz", **{n: feats[n].numpy() for n in layers})
        seconds = time.perf_counter() - start
    finally:
        for h in handles:
            h.remove()
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"n": len(paths), "seconds": seconds, "rate": len(paths) / seconds}


# --------------------------------------------------------------------------- peak RSS


def vm_hwm_kib() -> int:
    """This process's own peak RSS. ru_maxrss is not used for it: after fork/vfork + exec it
    also holds the parent's peak (Linux keeps the old mm's high-water mark at exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_child(args: argparse.Namespace) -> None:
    """In a fresh process: one extraction; print this process's and its workers' peak RSS."""
    spec = model_spec(args.rss_model)
    store = Path(args.rss_child_store)
    start = time.perf_counter()
    extract(load_manifest(args.rss_child, "folder"), store, extract_config(
        backbone=spec.backbone, weights=spec.weights, batch_size=args.batch_size,
        workers=args.workers, device="cpu", precision=args.precision))
    seconds = time.perf_counter() - start
    shutil.rmtree(store, ignore_errors=True)
    # With no worker processes RUSAGE_CHILDREN only holds the import-time helpers (ldconfig,
    # uname) forked from this process: not reported.
    workers = decode_workers(args.workers, CPU)
    print("RSS_JSON " + json.dumps({
        "main_kib": vm_hwm_kib(),
        "main_ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "worker_processes": workers,
        "workers_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers else 0,
        "seconds": seconds}), flush=True)


def measure_rss(args: argparse.Namespace, data: Path, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"model": args.rss_model}
    for n in args.rss_images:
        root = photos.subset(data, tmp / f"rss-{n}", n)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child", str(root),
               "--rss-child-store", str(tmp / f"rss-store-{n}"), "--rss-model", args.rss_model,
               "--batch-size", str(args.batch_size), "--precision", args.precision]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RSS_JSON ")]
        if proc.returncode or not lines:
            raise RuntimeError(f"RSS child for {n} images failed ({proc.returncode}): "
                               f"{proc.stderr.strip()[-800:]}")
        out[str(n)] = json.loads(lines[-1][len("RSS_JSON "):])
        log.info("peak RSS at %d images: %s", n, out[str(n)])
    lo, hi = (str(n) for n in (args.rss_images[0], args.rss_images[-1]))
    out["ratio_main"] = out[hi]["main_kib"] / out[lo]["main_kib"]
    if out[lo]["workers_kib"]:
        out["ratio_workers"] = out[hi]["workers_kib"] / out[lo]["workers_kib"]
    return out


# --------------------------------------------------------------------------- driver


def spread(values: list[float]) -> dict[str, float]:
    ok = [v for v in values if v == v]  # drop NaN
    if not ok:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(ok), "min": min(ok), "max": max(ok)}


def bench_model(spec: ModelSpec, args: argparse.Namespace, data: Path, tmp: Path
                ) -> dict[str, Any]:
    alias, backbone, weights = spec.alias, spec.backbone, spec.weights
    n_small, n_large = spec.images
    small_root = photos.subset(data, tmp / f"set-{n_small}", n_small)
    large_root = photos.subset(data, tmp / f"set-{n_large}", n_large)
    model, _ = create_backbone(backbone, weights)
    cfg = data_config(model)
    layers = list(default_layers(backbone, model))
    paths = [large_root / photos.relpath(i) for i in range(n_large)]
    repeats = []
    for r in range(args.repeats):
        log.info("%s: repeat %d/%d", alias, r + 1, args.repeats)
        before = model_ceiling(model, cfg["input_size"], args.batch_size,
                               spec.ceiling_images, args.precision)
        small = e2e_once(small_root, tmp / "store", backbone, weights, args.batch_size,
                         args.precision, args.workers)
        large = e2e_once(large_root, tmp / "store", backbone, weights, args.batch_size,
                         args.precision, args.workers)
        rate, startup = marginal(small, large)
        row: dict[str, Any] = {"e2e_small": small, "e2e_large": large, "e2e_rate": rate,
                               "e2e_startup_s": startup}
        if args.also_workers is not None:  # the same extraction with worker processes
            alt = [e2e_once(root, tmp / "store", backbone, weights, args.batch_size,
                            args.precision, args.also_workers)
                   for root in (small_root, large_root)]
            row["alt_rate"] = marginal(*alt)[0]
        after = model_ceiling(model, cfg["input_size"], args.batch_size,
                              spec.ceiling_images, args.precision)
        a = max(before, after, key=lambda m: m["rate"])  # the faster: a conservative ceiling
        c = plain_loop(model, cfg, layers, paths, args.batch_size, args.precision,
                       tmp / "plain")
        row |= {"model_ceiling": a, "ceiling_runs": [before["rate"], after["rate"]],
                "plain": c, "e2e_over_model": rate / a["rate"],
                "e2e_over_plain": rate / c["rate"]}
        if "alt_rate" in row:
            row["alt_over_model"] = row["alt_rate"] / a["rate"]
        repeats.append(row)
        log.info("%s: ceiling %.1f (%s; runs %.1f, %.1f), e2e %.1f img/s + %.1f s start-up%s, "
                 "plain %.1f", alias, a["rate"], a["format"], before["rate"], after["rate"],
                 rate, startup, (f", e2e with {args.also_workers} worker processes "
                                 f"{row['alt_rate']:.1f}") if "alt_rate" in row else "",
                 c["rate"])
    return {
        "backbone": backbone, "weights": weights, "layers": layers,
        "input_size": cfg["input_size"], "n_small": n_small, "n_large": n_large,
        "ceiling_images": spec.ceiling_images, "goal_model": spec.goal_model,
        "repeats": repeats,
        "summary": {key: spread([r[key] for r in repeats]) for key in
                    ("e2e_over_model", "e2e_over_plain", "e2e_rate", "e2e_startup_s",
                     "alt_rate", "alt_over_model") if all(key in r for r in repeats)}
        | {"model_ceiling": spread([r["model_ceiling"]["rate"] for r in repeats]),
           "plain": spread([r["plain"]["rate"] for r in repeats])},
    }


def fmt_spread(s: dict[str, float], digits: int = 2) -> str:
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def print_table(result: dict[str, Any]) -> None:
    env = result["env"]
    print(f"\nCPU extraction throughput: {env['cpus']} CPUs, torch {env['torch']} "
          f"({env['threads']} threads), timm {env['timm']}, precision {env['precision']}, "
          f"batch {env['batch_size']}, workers {env['workers'] or 'default'}, JPEG ~500x375, "
          f"{env['repeats']} repeat(s); img/s medians, ratios median [min, max]")
    alt = env.get("also_workers")
    alt_head = f"  {f'(b) {alt} worker proc.':>18} {'its b/a':<20}" if alt is not None else ""
    head = (f"{'model':<8} {'images':>9} {'(a) ceiling':>12} {'(b) e2e':>9} {'start-up':>9} "
            f"{'(c) plain':>10}  {'b/a (goal)':<27} {'b/c (>=1.3)':<20}{alt_head}")
    print(head)
    print("-" * len(head))
    for alias, m in result["models"].items():
        s = m["summary"]
        fmt = m["repeats"][0]["model_ceiling"]["format"] if m["repeats"] else "-"
        images = f"{m['n_small']}/{m['n_large']}"
        goal = f"{fmt_spread(s['e2e_over_model'])} >={m['goal_model']}"
        alt_cells = (f"  {s['alt_rate']['median']:>18.1f} {fmt_spread(s['alt_over_model']):<20}"
                     if "alt_rate" in s else "")
        print(f"{alias:<8} {images:>9} {s['model_ceiling']['median']:>7.1f} {fmt[:4]:<4} "
              f"{s['e2e_rate']['median']:>9.1f} {s['e2e_startup_s']['median']:>8.1f}s "
              f"{s['plain']['median']:>10.1f}  {goal:<27} "
              f"{fmt_spread(s['e2e_over_plain']):<20}{alt_cells}")
    rss = result.get("rss")
    if rss:
        lo, hi = (k for k in rss if k.isdigit())
        def workers(n: str) -> str:
            kib = rss[n]["workers_kib"]
            return f", workers {kib / 1024:.0f} MiB" if kib else " (no worker processes)"
        ratio = (f", workers {rss['ratio_workers']:.2f}" if "ratio_workers" in rss else "")
        print(f"\npeak RSS ({rss['model']}): {lo} images main {rss[lo]['main_kib'] / 1024:.0f} "
              f"MiB{workers(lo)}; {hi} images main {rss[hi]['main_kib'] / 1024:.0f} "
              f"MiB{workers(hi)}; ratio {hi}/{lo}: main {rss['ratio_main']:.2f}{ratio}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="irv2,lite0",
                        help="comma list: irv2, lite0, or timm_name[:weights]")
    parser.add_argument("--images", default=None,
                        help="N_small,N_large for the marginal rate, for every model (default "
                             "per model: irv2 48,192, lite0 128,640); the plain loop runs on "
                             "N_large")
    parser.add_argument("--ceiling-images", type=int, default=None,
                        help="images per memory format for the model ceiling (default per "
                             "model: irv2 64, lite0 256)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per batch for a, b and c (default: emofeat's CPU "
                             "default, 16)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader worker processes (default: emofeat's; on the CPU, "
                             "none: batches are decoded by threads between forward passes)")
    parser.add_argument("--also-workers", type=int, default=None,
                        help="also run (b) with this many worker processes in every repeat, "
                             "side by side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss", action="store_true",
                        help="also peak RSS of an extraction at --rss-images")
    parser.add_argument("--rss-images", default="200,2000")
    parser.add_argument("--rss-model", default="lite0", help="model of the --rss runs")
    parser.add_argument("--data", type=Path, default=None,
                        help="keep (and reuse) the generated photos here")
    parser.add_argument("--json", type=Path, default=None, help="write all numbers here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rss-child-store", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.images:
        args.images = tuple(int(x) for x in args.images.split(","))
        if len(args.images) != 2 or not 0 < args.images[0] < args.images[1]:
            parser.error("--images needs N_small,N_large with 0 < N_small < N_large")
    args.batch_size = resolve_batch_size(args.batch_size, CPU)
    args.rss_images = sorted(int(x) for x in args.rss_images.split(","))
    if len(args.rss_images) != 2:
        parser.error("--rss-images needs two sizes")
    return args


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    if args.rss_child:
        rss_child(args)
        return
    # emofeat's CPU forward passes run with glibc keeping freed memory; so do the ceiling and
    # the plain loop here (the faster ceiling, the faster plain loop: conservative ratios)
    keep_freed_memory()
    with tempfile.TemporaryDirectory(prefix="emofeat-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = args.data or tmp / "photos"
        specs = [model_spec(name, args) for name in args.models.split(",")]
        n_photos = max([s.images[1] for s in specs] + (args.rss_images if args.rss else []))
        made = photos.make_photo_set(data, n_photos, seed=args.seed)
        log.info("photos: %s", made)
        result: dict[str, Any] = {
            "env": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "timm": timm.__version__,
                    "python": platform.python_version(), "precision": args.precision,
                    "batch_size": args.batch_size, "workers": args.workers,
                    "also_workers": args.also_workers,
                    "repeats": args.repeats, "photos": made},
            "models": {},
        }
        for spec in specs:
            result["models"][spec.alias] = bench_model(spec, args, data, tmp)
        if args.rss:
            result["rss"] = measure_rss(args, data, tmp)
    print_table(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
