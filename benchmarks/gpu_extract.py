"""Feature extraction on a GPU: the model alone, emofeat end to end, and the arithmetic ceiling.

Prepared to run ONCE on a rented GPU machine (NVIDIA H200, 16 CPU cores, no network) under a
hard time budget, so every configuration is tried on its own: an exception is recorded and
the next one runs; results are written to ``--out`` (JSON) after every configuration; once
``--budget-s`` is spent the remaining configurations are marked ``skipped`` (a running one
is interrupted by an alarm). A table is printed at the end.

Sections, in the order they run (most wanted first):

  data     ~500x375 JPEG photographs made from scikit-image's photos (photos.py), written by
           a process pool before CUDA is touched.
  flops    FLOPs per image of the backbone at its input size (FlopCounterMode, batch 1); with
           ``--peak-tflops`` (790: a bf16 8192^3 matmul on an H200) every rate is also shown
           as achieved TFLOP/s and % of that peak: the arithmetic ceiling.
  model    the model alone on random tensors already on the device, forward to the pooled
           DEFAULT taps (the same hooks as extraction; outputs stay on the device): fp32,
           bf16, bf16+channels_last at each ``--batch-sizes``; CUDA-event timing after
           warm-up.
  e2e      ``emofeat.extract.extract`` from the JPEG files with ``--workers`` DataLoader
           workers: first bf16 (channels_last) at 256 with each of ``--decodes`` (``cpu``:
           Pillow in the workers; ``gpu``: nvJPEG on the device, emofeat.device_decode; on
           the CPU, ``gpu`` runs the same path with the decoder on the CPU), side by side;
           then, unless ``--e2e-set decode``, bf16 at 128, fp32 at 128 and bf16 contiguous
           at 256 (CPU decoding). Marginal rate over two sizes
           (N_small, N_large): rate = dN/dt, start-up = t_small - N_small/rate; also the
           steady rate from the first batch to the end of the large run, and GPU
           utilisation/memory sampled by ``nvidia-smi -lms 200`` during the large run.
  compile  bf16+channels_last+torch.compile of the model alone at ``--compile-batch``
           (compile seconds recorded), then [when ExtractConfig has ``compile``] the e2e
           bf16 run at 256 with compile=True and the last of ``--decodes``.
  ratios   e2e rates against each other and against the model alone, printed last.

Run on the GPU machine (see gpu_run.sh), or here on the CPU to test the script:

    python benchmarks/gpu_extract.py --out /tmp/gpu-extract.json
    python benchmarks/gpu_extract.py --device cpu --quick --out /tmp/gpu-extract-cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import photos
import torch
from budget import Results
from torch import nn

log = logging.getLogger("gpu_extract")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def extract_config_fields() -> set[str]:
    from emofeat.extract import ExtractConfig

    return {f.name for f in dataclasses.fields(ExtractConfig)}


# --------------------------------------------------------------------------- model alone


class Tapped(nn.Module):
    """The backbone with persistent pooled hooks on ``layers``; forward returns the pooled
    features (what extraction keeps), so torch.compile sees one module."""

    def __init__(self, model: nn.Module, layers: Sequence[str], pooling: str = "avg") -> None:
        super().__init__()
        from emofeat.pooling import pool

        self.model = model
        self.layers = list(layers)
        self._out: dict[str, torch.Tensor] = {}
        nhwc = str(getattr(model, "output_fmt", "NCHW")) == "NHWC"
        modules = dict(model.named_modules())

        def hook(name: str) -> Callable:
            def fn(_m: nn.Module, _i: Any, output: torch.Tensor) -> None:
                self._out[name] = pool(output, pooling, nhwc=nhwc)
            return fn

        self._handles = [modules[n].register_forward_hook(hook(n)) for n in self.layers]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.model(x)
        return [self._out[n] for n in self.layers]

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def time_model(model: nn.Module, layers: Sequence[str], input_size: Sequence[int],
               device: torch.device, precision: str, channels_last: bool, batch: int,
               compile_backend: str | None, seconds: float, warmup: int, min_iters: int,
               flops: float | None, peak_tflops: float) -> dict[str, Any]:
    from emofeat.device import autocast_for

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt).eval()
    net = Tapped(model, layers)
    try:
        fn: Callable = net
        if compile_backend:
            torch.compiler.reset()
            fn = torch.compile(net, backend=compile_backend)
        x = torch.randn(batch, *input_size, device=device).contiguous(memory_format=fmt)
        amp = autocast_for(precision, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode(), amp():
            t0 = time.perf_counter()
            fn(x)  # first call: compiles, when compiling
            sync(device)
            first_s = time.perf_counter() - t0
            for _ in range(warmup):
                fn(x)
            sync(device)
            t0 = time.perf_counter()
            fn(x)
            sync(device)
            one = max(time.perf_counter() - t0, 1e-4)
            iters = int(min(500, max(min_iters, math.ceil(seconds / one))))
            if device.type == "cuda":
                begin, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
                begin.record()
                for _ in range(iters):
                    fn(x)
                end.record()
                end.synchronize()
                elapsed = begin.elapsed_time(end) / 1000.0
            else:
                t0 = time.perf_counter()
                for _ in range(iters):
                    fn(x)
                elapsed = time.perf_counter() - t0
    finally:
        net.remove()
        model.to(memory_format=torch.contiguous_format)
    rate = iters * batch / elapsed
    row = {"precision": precision, "memory_format": "channels_last" if channels_last else
           "contiguous", "compile": compile_backend or False, "batch": batch, "iters": iters,
           "images_per_s": round(rate, 2), "ms_per_batch": round(1000 * elapsed / iters, 3),
           "first_call_s": round(first_s, 3)}
    if compile_backend:
        row["compile_s"] = round(first_s - elapsed / iters, 3)
    if device.type == "cuda":
        row["max_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    if flops:
        row["tflops"] = round(rate * flops / 1e12, 2)
        row["pct_of_peak"] = round(100 * rate * flops / (peak_tflops * 1e12), 2)
    return row


def count_flops(model: nn.Module, input_size: Sequence[int]) -> dict[str, Any]:
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_size))
    flops = counter.get_total_flops()
    # FlopCounterMode counts 2 FLOPs per multiply-add (timm's tables list GMACs: IRv2 13.2)
    return {"flops_per_image": flops, "gflops_per_image": round(flops / 1e9, 3),
            "gmacs_per_image": round(flops / 2e9, 3), "input_size": list(input_size)}


# --------------------------------------------------------------------------- end to end


class GpuSampler:
    """``nvidia-smi --query-gpu=utilization.gpu,memory.used -lms 200`` in the background."""

    def __init__(self, path: Path, period_ms: int = 200) -> None:
        self.path = path
        self.period_ms = period_ms
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> GpuSampler:
        exe = shutil.which("nvidia-smi")
        if exe:
            with open(self.path, "w") as out:
                self.proc = subprocess.Popen(
                    [exe, "--query-gpu=utilization.gpu,memory.used",
                     "--format=csv,noheader,nounits", "-lms", str(self.period_ms)],
                    stdout=out, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def summary(self) -> dict[str, Any]:
        if self.proc is None:
            return {"gpu_samples": 0, "note": "nvidia-smi not found"}
        util, mem = [], []
        for line in self.path.read_text().splitlines():
            parts = [p.strip() for p in line.split(",")]
            try:
                util.append(float(parts[0]))
                mem.append(float(parts[1]))
            except (ValueError, IndexError):
                continue
        if not util:
            return {"gpu_samples": 0}
        return {"gpu_samples": len(util), "gpu_util_mean": round(sum(util) / len(util), 1),
                "gpu_util_max": max(util), "gpu_mem_max_mib": max(mem)}


def extract_run(root: Path, store: Path, settings: dict[str, Any],
                sampler_path: Path | None = None) -> dict[str, Any]:
    from emofeat.datasets import load_manifest
    from emofeat.extract import ExtractConfig, extract

    manifest = load_manifest(root, "folder")
    known = extract_config_fields()
    config = ExtractConfig(**{k: v for k, v in settings.items() if k in known})
    # on the CPU, --decode gpu runs the device path with the decoder on the CPU
    force = {"force_device_decode": True} if (config.decode == "gpu"
                                              and config.device == "cpu") else {}
    marks: list[tuple[float, int]] = []

    def progress(done: int, _total: int) -> None:
        marks.append((time.perf_counter(), done))

    shutil.rmtree(store, ignore_errors=True)
    sampler = GpuSampler(sampler_path) if sampler_path is not None else None
    start = time.perf_counter()
    if sampler is not None:
        with sampler:
            extract(manifest, store, config, progress=progress, **force)
    else:
        extract(manifest, store, config, progress=progress, **force)
    decode = json.loads((store / "store.json").read_text()).get("decode", "pil")
    seconds = time.perf_counter() - start
    shutil.rmtree(store, ignore_errors=True)
    out: dict[str, Any] = {"n": len(manifest), "seconds": round(seconds, 3), "decode": decode,
                           "first_batch_s": round(marks[0][0] - start, 3) if marks else None}
    if len(marks) > 1 and marks[-1][0] > marks[0][0]:
        out["steady_rate"] = round((marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0]),
                                   2)
    if sampler is not None:
        out.update(sampler.summary())
    return out


def e2e(small_root: Path, large_root: Path, tmp: Path, settings: dict[str, Any],
        flops: float | None, peak_tflops: float) -> dict[str, Any]:
    small = extract_run(small_root, tmp / "store", settings)
    large = extract_run(large_root, tmp / "store", settings, tmp / "nvidia-smi.csv")
    dt = large["seconds"] - small["seconds"]
    rate = (large["n"] - small["n"]) / dt if dt > 0 else None  # None: too noisy to tell
    known = extract_config_fields()
    row: dict[str, Any] = {
        "settings": {k: v for k, v in settings.items() if k in known},
        "ignored_settings": sorted(k for k in settings if k not in known),
        "small": small, "large": large, "marginal_rate": rate and round(rate, 2),
        "startup_s": round(small["seconds"] - small["n"] / rate, 3) if rate else None,
        "steady_rate": large.get("steady_rate"), "decode": large.get("decode"),
    }
    for key in ("gpu_util_mean", "gpu_util_max", "gpu_mem_max_mib"):
        if key in large:
            row[key] = large[key]
    if flops and rate:
        row["tflops"] = round(rate * flops / 1e12, 2)
        row["pct_of_peak"] = round(100 * rate * flops / (peak_tflops * 1e12), 2)
    return row


# --------------------------------------------------------------------------- driver


def environment(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    import timm

    env: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__,
        "timm": timm.__version__, "cpus": os.cpu_count(), "device": device.type,
        "backbone": args.backbone, "weights": args.weights, "quick": args.quick,
        "budget_s": args.budget_s, "workers": args.workers,
        "extract_config_fields": sorted(extract_config_fields()),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "peak_tflops": args.peak_tflops,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_mem_gib=round(props.total_memory / 2**30, 1),
                   sms=props.multi_processor_count, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, to test the script (e.g. on the CPU)")
    parser.add_argument("--out", type=Path, default=None, help="JSON results, rewritten often")
    parser.add_argument("--budget-s", type=float, default=300.0)
    parser.add_argument("--backbone", default=None,
                        help="timm name (default inception_resnet_v2; tf_efficientnet_lite0 "
                             "with --quick)")
    parser.add_argument("--weights", default="random",
                        help="emofeat weights spec (speed does not depend on the weights)")
    parser.add_argument("--n-images", type=int, default=8192, help="JPEGs for e2e (N_large)")
    parser.add_argument("--n-small", type=int, default=2048, help="N_small of the marginal rate")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-sizes", default="64,128,256")
    parser.add_argument("--compile-batch", type=int, default=128)
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend (default inductor; eager with --quick on "
                             "the CPU)")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--seconds", type=float, default=1.5, help="timed seconds per model row")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--min-iters", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=790.0,
                        help="bf16 peak used for %% of peak (790: measured H200 matmul)")
    parser.add_argument("--data", type=Path, default=None, help="keep/reuse the JPEGs here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decodes", default="cpu,gpu",
                        help="--decode values of the first e2e rows, side by side")
    parser.add_argument("--e2e-set", default="all", choices=("all", "decode"),
                        help="decode: only the --decodes rows (and compile)")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.decodes = [d.strip() for d in args.decodes.split(",") if d.strip()]
    if not args.decodes or any(d not in ("cpu", "gpu", "auto") for d in args.decodes):
        parser.error("--decodes: a comma-separated list of cpu, gpu, auto")
    if args.quick:
        args.n_images, args.n_small = min(args.n_images, 24), min(args.n_small, 8)
        args.batch_sizes = [4]
        args.compile_batch = 4
        args.seconds, args.warmup, args.min_iters = 0.2, 0, 2
        args.workers = min(args.workers, 2)
    if args.backbone is None:
        args.backbone = "tf_efficientnet_lite0" if args.quick else "inception_resnet_v2"
    if args.compile_backend is None:
        args.compile_backend = "eager" if (args.quick and args.device == "cpu") else "inductor"
    if not 0 < args.n_small < args.n_images:
        parser.error("need 0 < --n-small < --n-images")
    return args


def main() -> int:
    args = parse_args(sys.argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        stream=sys.stdout)
    logging.getLogger("emofeat").setLevel(logging.WARNING)
    logging.getLogger("timm").setLevel(logging.WARNING)
    results = Results(args.out, args.budget_s)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-extract-"))
    data = args.data or tmp / "photos"
    try:
        if args.device == "cuda" and not torch.cuda.is_available():  # no CUDA context yet
            results.data["env"] = {"error": "CUDA is not available"}
            log.error("CUDA is not available; use --device cpu")
            return 2
        # data first: the pool forks, and no CUDA context may exist before a fork
        made = results.run("data", f"{args.n_images} photos", lambda: photos.make_photo_set(
            data, args.n_images, seed=args.seed), min_s=1)
        small_root = photos.subset(data, tmp / "small", args.n_small)
        large_root = photos.subset(data, tmp / "large", args.n_images)
        device = torch.device(args.device)
        results.data["env"] = environment(device, args)
        results.save()
        run_sections(args, results, device, made, small_root, large_root, tmp)
    finally:
        ratio_lines(results.data)
        results.finish()
        shutil.rmtree(tmp, ignore_errors=True)
        print_table(results.data)
    return 0


def run_sections(args: argparse.Namespace, results: Results, device: torch.device,
                 made: dict, small_root: Path, large_root: Path, tmp: Path) -> None:
    from emofeat.backbones import create_backbone, data_config, default_layers

    model, _ = create_backbone(args.backbone, args.weights)
    cfg = data_config(model)
    input_size = cfg["input_size"]
    layers = list(default_layers(args.backbone, model))
    results.data["env"].update(layers=layers, input_size=input_size)
    frow = results.run("flops", f"{args.backbone} {input_size[-1]}px",
                       lambda: count_flops(model, input_size), min_s=1)
    flops = frow.get("flops_per_image")

    def model_row(precision: str, cl: bool, batch: int, backend: str | None = None
                  ) -> Callable[[], dict[str, Any]]:
        return lambda: time_model(model, layers, input_size, device, precision, cl, batch,
                                  backend, args.seconds, args.warmup, args.min_iters, flops,
                                  args.peak_tflops)

    for batch in args.batch_sizes:
        for precision, cl in (("fp32", False), ("bf16", False), ("bf16", True)):
            name = f"{precision}{'+cl' if cl else ''} b{batch}"
            results.run("model", name, model_row(precision, cl, batch), min_s=3)

    known = extract_config_fields()
    base = {"backbone": args.backbone, "weights": args.weights, "workers": args.workers,
            "device": args.device, "shard_size": 1024}
    big, mid = max(args.batch_sizes), sorted(args.batch_sizes)[len(args.batch_sizes) // 2]
    decodes = args.decodes if "decode" in known else ["cpu"]
    e2e_rows = [(f"bf16+cl b{big} decode={d}", {"precision": "bf16", "batch_size": big,
                                                "memory_format": "channels_last",
                                                "decode": d}) for d in decodes]
    if args.e2e_set == "all":
        e2e_rows += [(f"bf16+cl b{mid}", {"precision": "bf16", "batch_size": mid,
                                          "memory_format": "channels_last", "decode": "cpu"}),
                     (f"fp32 b{mid}", {"precision": "fp32", "batch_size": mid,
                                       "decode": "cpu"})]
    if "memory_format" in known and args.e2e_set == "all":
        e2e_rows.append((f"bf16 contiguous b{big}", {"precision": "bf16", "batch_size": big,
                                                     "memory_format": "contiguous",
                                                     "decode": "cpu"}))
    if "memory_format" not in known:  # the engine decides; say so in the name
        e2e_rows = [(n.replace("+cl", ""), s) for n, s in e2e_rows]
    for name, settings in e2e_rows:
        results.run("e2e", name, lambda s=settings: e2e(small_root, large_root, tmp,
                                                        {**base, **s}, flops,
                                                        args.peak_tflops), min_s=15)
    if not args.no_compile:
        crow = results.run("compile", f"bf16+cl+compile b{args.compile_batch}",
                           model_row("bf16", True, args.compile_batch, args.compile_backend),
                           min_s=45)
        if "compile" in known and crow.get("status") == "ok":
            settings = {"precision": "bf16", "batch_size": big, "compile": True,
                        "decode": decodes[-1]}
            if "memory_format" in known:
                settings["memory_format"] = "channels_last"
            need = 30 + 2 * float(crow.get("compile_s", 30))
            results.run("compile", f"e2e bf16+cl+compile b{big} decode={decodes[-1]}",
                        lambda: e2e(small_root, large_root, tmp, {**base, **settings}, flops,
                                    args.peak_tflops), min_s=need)
    results.data["photos"] = made


def print_table(data: dict[str, Any]) -> None:
    env = data.get("env", {})
    print("\n=== gpu_extract:", ", ".join(f"{k}={env[k]}" for k in (
        "gpu", "torch", "timm", "cuda", "cpus", "backbone", "input_size", "workers",
        "cudnn_allow_tf32") if k in env))
    flops = next((r for r in data["rows"] if r["section"] == "flops" and r["status"] == "ok"),
                 None)
    if flops:
        print(f"FLOPs/image: {flops['gflops_per_image']:.2f} G (= {flops['gmacs_per_image']:.2f} "
              f"GMACs) at {flops['input_size']}; "
              f"% of peak = images/s x FLOPs / {env.get('peak_tflops', 790):.0f} TFLOP/s")
    head = (f"{'section':<8} {'config':<26} {'status':<8} {'img/s':>9} {'TFLOP/s':>8} "
            f"{'%peak':>6}  notes")
    print(head)
    print("-" * (len(head) + 30))
    for r in data["rows"]:
        if r["section"] in ("data", "flops"):
            note = (f"{r.get('n', '')} files in {r.get('seconds', '')} s"
                    if r["section"] == "data" else "")
            print(f"{r['section']:<8} {r['name']:<26} {r['status']:<8} {'':>9} {'':>8} "
                  f"{'':>6}  {note or r.get('error', '')}"[:160])
            continue
        rate = r.get("images_per_s", r.get("marginal_rate"))
        notes = []
        if r["section"] == "model" or "compile_s" in r:
            notes.append(f"{r.get('ms_per_batch', '')} ms/batch")
            if "compile_s" in r:
                notes.append(f"compile {r['compile_s']:.1f} s")
            if "max_mem_gib" in r:
                notes.append(f"{r['max_mem_gib']} GiB")
        if "marginal_rate" in r:
            notes.append(f"start-up {r.get('startup_s')} s, steady {r.get('steady_rate')}/s")
            if "gpu_util_mean" in r:
                notes.append(f"GPU util mean {r['gpu_util_mean']}% max {r['gpu_util_max']}%, "
                             f"mem {r['gpu_mem_max_mib']:.0f} MiB")
        if r["status"] != "ok":
            notes = [r.get("reason") or r.get("error", "")]
        rate_s = f"{rate:9.1f}" if isinstance(rate, (int, float)) else f"{'-':>9}"
        tf = r.get("tflops")
        pk = r.get("pct_of_peak")
        print(f"{r['section']:<8} {r['name']:<26} {r['status']:<8} {rate_s} "
              f"{tf if tf is not None else '-':>8} {pk if pk is not None else '-':>6}  "
              f"{'; '.join(str(n) for n in notes)}"[:220])
    for line in ratio_lines(data):
        print(line)
    print(f"elapsed {data.get('elapsed_s')} s")


def ratio_lines(data: dict[str, Any]) -> list[str]:
    """The issue's goals from the rows of one run: GPU decoding vs CPU decoding end to end,
    vs the model alone, GPU utilisation; compiled e2e vs the compiled model alone."""
    ok = {r["name"]: r for r in data["rows"] if r.get("status") == "ok"}

    def rate(name: str) -> float | None:
        r = ok.get(name, {})
        return r.get("images_per_s", r.get("marginal_rate"))

    lines = []
    cpu = next((n for n in ok if n.startswith("bf16+cl b") and n.endswith("decode=cpu")), None)
    gpu = next((n for n in ok if n.startswith("bf16+cl b") and n.endswith("decode=gpu")), None)
    batch = (cpu or gpu or "").split(" ")[1] if (cpu or gpu) else None
    alone = rate(f"bf16+cl {batch}") if batch else None
    if gpu and rate(gpu):
        line = f"e2e GPU decoding {rate(gpu):.0f} img/s (goal >= 6000)"
        if cpu and rate(cpu):
            line += f", {rate(gpu) / rate(cpu):.2f}x CPU decoding's {rate(cpu):.0f} (goal 2.5x)"
        if alone:
            line += f", {rate(gpu) / alone:.2f} of the model alone ({alone:.0f})"
        util = ok[gpu].get("gpu_util_mean")
        lines.append(line + (f", GPU {util}% busy (goal 85%)" if util is not None else ""))
    comp = next((n for n in ok if n.startswith("e2e bf16+cl+compile")), None)
    comp_alone = next((n for n in ok if n.startswith("bf16+cl+compile")), None)
    if comp and comp_alone and rate(comp) and rate(comp_alone):
        lines.append(f"e2e compiled {rate(comp):.0f} img/s = {rate(comp) / rate(comp_alone):.2f}"
                     f" of the compiled model alone ({rate(comp_alone):.0f}; goal >= 0.85)")
    data["ratios"] = lines
    return lines


if __name__ == "__main__":
    sys.exit(main())
