"""What ``--decode gpu`` costs in fidelity: features and classifier accuracy against Pillow.

Extracts the same images twice with the same backbone and layers, once decoded and resized
by Pillow (``--decode cpu``, the CPU path) and once by the device path
(:mod:`emofeat.device_decode`: batched ``decode_jpeg`` and timm's Resize/CenterCrop on
tensors), then reports

1. on FI-like photos (``photos.py``: ~500x375 JPEGs from scikit-image's photographs), per
   default layer, the cosine similarity of each image's two feature vectors: mean, minimum
   and the share at or above 0.999 (the goal: every image);
2. on the SYNTHETIC demo set (512 images, a quarter PNG: those go to the CPU decoder), the
   same cosines, then the same classifier (``--model``, default logreg: val search,
   train+val refit) fitted on both stores for both tasks and every layer: test balanced
   accuracy side by side, and how many test images each run gets right (the goal: within
   one image).

On CUDA the device path runs on the GPU (nvJPEG); on the CPU (``--device cpu``) the same
code runs with the decoder on the CPU (``force_device_decode``), which measures the resize
on tensors and libjpeg-turbo through the batched API, not nvJPEG's IDCT.

    python benchmarks/decode_fidelity.py --device cpu --json /tmp/decode-fidelity.json
    python benchmarks/decode_fidelity.py --device cuda --extra-backbone inception_resnet_v2:random

Nothing is asserted; the figures go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import photos

from emofeat.classical.run import fit_all
from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.extract import ExtractConfig, extract
from emofeat.store import Store

TARGET_COS = 0.999


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(1)
    return num / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def layer_cosines(cpu: Path, dev: Path) -> list[dict[str, Any]]:
    a_store, b_store = Store.open(cpu), Store.open(dev)
    if a_store.ids != b_store.ids:
        raise RuntimeError("the two stores hold other rows")
    rows = []
    for layer in a_store.layer_names:
        a = a_store.load(layer).astype(np.float64)
        b = b_store.load(layer).astype(np.float64)
        cos = cosine_rows(a, b)
        rows.append({"layer": layer, "dim": a.shape[1], "n": len(cos),
                     "cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
                     "share_at_target": float((cos >= TARGET_COS).mean())})
    return rows


def both_stores(data: Path, work: Path, args: argparse.Namespace, backbone: str,
                weights: str) -> tuple[Path, Path, dict[str, Any]]:
    manifest = load_manifest(data)
    base = {"backbone": backbone, "weights": weights, "device": args.device,
            "batch_size": args.batch_size, "precision": "fp32"}
    seconds = {}
    t0 = time.perf_counter()
    cpu = extract(manifest, work / "cpu", ExtractConfig(**base, decode="cpu"))
    seconds["cpu"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    dev = extract(manifest, work / "dev", ExtractConfig(**base, decode="gpu"),
                  force_device_decode=args.device == "cpu")
    seconds["device"] = round(time.perf_counter() - t0, 2)
    meta = json.loads((dev / "store.json").read_text())
    return cpu, dev, {"decode": meta.get("decode"), "seconds": seconds, "n": len(manifest)}


def test_counts(run_dir: Path) -> tuple[int, int, float]:
    """(test images right, test images, test balanced accuracy) of a run."""
    with open(run_dir / "predictions.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    bal = metrics["test"]["balanced_accuracy"]
    return sum(r["y_true"] == r["y_pred"] for r in rows), len(rows), float(bal)


def accuracies(cpu: Path, dev: Path, work: Path, model: str) -> list[dict[str, Any]]:
    layers = Store.open(cpu).layer_names
    runs = {}
    for name, store in (("cpu", cpu), ("device", dev)):
        runs[name] = {p.name: p for p in fit_all(store, [model], ["valence", "emotion8"],
                                                 layers, work / f"runs-{name}", nested=True)}
    out = []
    for run in sorted(runs["cpu"]):
        a, b = test_counts(runs["cpu"][run]), test_counts(runs["device"][run])
        out.append({"run": run, "n_test": a[1], "right_cpu": a[0], "right_device": b[0],
                    "bal_acc_cpu": a[2], "bal_acc_device": b[2],
                    "images_apart": abs(a[0] - b[0])})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--extra-backbone", action="append", default=[], metavar="NAME:WEIGHTS",
                        help="another backbone for the photo cosines only (repeatable)")
    parser.add_argument("--n-photos", type=int, default=96)
    parser.add_argument("--demo-per-class", type=int, default=64)
    parser.add_argument("--model", default="logreg", help="classifier fitted on both stores")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to test the script")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_photos, args.demo_per_class = min(args.n_photos, 8), min(args.demo_per_class, 6)
    for extra in args.extra_backbone:
        if ":" not in extra:
            parser.error(f"--extra-backbone {extra}: give NAME:WEIGHTS")
    return args


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Each part printed and saved (``--json``) as soon as it is done: a run cut short by a
    time limit keeps what it measured."""
    result: dict[str, Any] = {"device": args.device, "backbone": args.backbone,
                              "weights": args.weights, "photos": {}}
    photos.make_photo_set(work / "photos", args.n_photos)  # before CUDA: it forks
    for spec in [f"{args.backbone}:{args.weights}", *args.extra_backbone]:
        name, weights = spec.split(":", 1)
        cpu, dev, info = both_stores(work / "photos", work / f"photos-{name}", args, name,
                                     weights)
        result["photos"][spec] = {**info, "layers": layer_cosines(cpu, dev)}
        print_layers(f"photos {spec}", result["photos"][spec])
        save(args, result)
    demo = make_demo(work / "demo", DemoSpec(per_class=args.demo_per_class))
    cpu, dev, info = both_stores(demo, work / "demo-stores", args, args.backbone, args.weights)
    result["demo"] = {**info, "layers": layer_cosines(cpu, dev)}
    print_layers(f"demo {args.backbone}:{args.weights}", result["demo"])
    save(args, result)
    result["demo"]["accuracy"] = accuracies(cpu, dev, work, args.model)
    cos_min = min(r["cos_min"] for part in [*result["photos"].values(), result["demo"]]
                  for r in part["layers"])
    photo_min = min(r["cos_min"] for part in result["photos"].values() for r in part["layers"])
    apart = max((r["images_apart"] for r in result["demo"]["accuracy"]), default=0)
    result["goals"] = {"cos_min": cos_min, "cos_min_photos": photo_min,
                       "cos_goal_met": cos_min >= TARGET_COS,
                       "cos_goal_met_photos": photo_min >= TARGET_COS,
                       "max_test_images_apart": apart, "accuracy_goal_met": apart <= 1}
    print_accuracy(result)
    save(args, result)
    return result


def save(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def print_layers(title: str, part: dict[str, Any]) -> None:
    print(f"\n{title}: {part['n']} images, device path {part['decode']}, "
          f"seconds {part['seconds']}")
    print(f"{'layer':<14} {'dim':>5} {'cos mean':>10} {'cos min':>10} {'>=0.999':>8}")
    for r in part["layers"]:
        print(f"{r['layer']:<14} {r['dim']:>5} {r['cos_mean']:>10.6f} {r['cos_min']:>10.6f} "
              f"{r['share_at_target']:>8.1%}", flush=True)


def print_accuracy(result: dict[str, Any]) -> None:
    print(f"\n{'run (test)':<30} {'n':>4} {'right cpu':>9} {'right dev':>9} "
          f"{'bal cpu':>8} {'bal dev':>8}")
    for r in result["demo"]["accuracy"]:
        print(f"{r['run']:<30} {r['n_test']:>4} {r['right_cpu']:>9} {r['right_device']:>9} "
              f"{r['bal_acc_cpu']:>8.3f} {r['bal_acc_device']:>8.3f}")
    g = result["goals"]
    print(f"\ncosine min {g['cos_min']:.6f} (goal >= {TARGET_COS}: "
          f"{'met' if g['cos_goal_met'] else 'NOT met'}; photos alone {g['cos_min_photos']:.6f}"
          f"); test images apart at most {g['max_test_images_apart']} (goal <= 1: "
          f"{'met' if g['accuracy_goal_met'] else 'NOT met'})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("emofeat.device_decode").setLevel(logging.INFO)
    logging.getLogger("emofeat.classical").setLevel(logging.ERROR)  # grid-edge warnings
    with tempfile.TemporaryDirectory(prefix="decode-fidelity-") as tmp:
        run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
