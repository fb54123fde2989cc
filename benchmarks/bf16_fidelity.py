"""What ``--precision bf16`` costs in fidelity on the CPU: features and classifier accuracy.

Extracts the same images twice with the same backbone and layers, in fp32 and in bf16
(autocast), then reports per layer the cosine similarity between the two feature vectors of
each image (mean and minimum) and the relative L2 difference, and fits the same classifier
(logistic regression, the default grid, val search + train+val refit) on both stores for
both tasks, printing test balanced accuracy side by side. Speed is not measured here (see
``extract_throughput.py --precision bf16``).

    python benchmarks/bf16_fidelity.py                      # demo set, bundled Lite0
    python benchmarks/bf16_fidelity.py --data ./FI --backbone inception_resnet_v2 \\
        --weights ./irv2.safetensors

Default data: the SYNTHETIC demo set (512 images), made in a temporary folder. Nothing is
asserted; the figures go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from emofeat.classical.run import fit_all
from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.extract import ExtractConfig, extract
from emofeat.runs import Run
from emofeat.store import Store


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def fidelity(fp32: Store, bf16: Store) -> list[dict]:
    assert fp32.ids == bf16.ids
    rows = []
    for layer in fp32.layer_names:
        a, b = fp32.load(layer).astype(np.float64), bf16.load(layer).astype(np.float64)
        cos = cosine_rows(a, b)
        rel = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)
        rows.append({"layer": layer, "dim": a.shape[1], "cos_mean": float(cos.mean()),
                     "cos_min": float(cos.min()), "rel_l2_mean": float(rel.mean())})
    return rows


def accuracy(store: Path, out: Path, model: str) -> dict[str, float]:
    layers = Store.open(store).layer_names
    runs = fit_all(store, [model], ["valence", "emotion8"], layers, out, nested=True)
    scores = {}
    for run_dir in runs:
        run = Run.open(run_dir)
        scores[run_dir.name] = float(run.metrics()["test"]["balanced_accuracy"])
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="default: the demo set")
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--model", default="logreg", help="classifier fitted on both stores")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = args.data or make_demo(work / "demo", DemoSpec())
        manifest = load_manifest(data)
        stores, scores = {}, {}
        for precision in ("fp32", "bf16"):
            config = ExtractConfig(backbone=args.backbone, weights=args.weights,
                                   precision=precision, device="cpu",
                                   batch_size=args.batch_size)
            stores[precision] = extract(manifest, work / precision, config)
            scores[precision] = accuracy(stores[precision], work / f"runs-{precision}",
                                         args.model)
        layers = fidelity(Store.open(stores["fp32"]), Store.open(stores["bf16"]))

    print(f"{args.backbone} ({args.weights}), {len(manifest)} images "
          f"({'demo, SYNTHETIC' if args.data is None else args.data})")
    print(f"{'layer':<14} {'dim':>5} {'cos mean':>9} {'cos min':>9} {'rel L2':>8}")
    for r in layers:
        print(f"{r['layer']:<14} {r['dim']:>5} {r['cos_mean']:>9.5f} {r['cos_min']:>9.5f} "
              f"{r['rel_l2_mean']:>8.4f}")
    print(f"\n{'run (test balanced accuracy)':<34} {'fp32':>6} {'bf16':>6} {'diff':>7}")
    for name in sorted(scores["fp32"]):
        a, b = scores["fp32"][name], scores["bf16"].get(name, float("nan"))
        print(f"{name:<34} {a:>6.3f} {b:>6.3f} {b - a:>+7.3f}")
    if args.json:
        args.json.write_text(json.dumps({"layers": layers, "scores": scores}, indent=2))


if __name__ == "__main__":
    main()
