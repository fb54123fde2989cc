"""Seconds per 1,000 images of ``emofeat data audit``, side by side with decoding the same
images alone (the floor: the audit must decode every image once), and the audit's counts.

Two sets: the synthetic demo set (160x160 PNG-like JPEGs, ``emofeat data make-demo``) and
FI-like photos (~500x375 JPEGs, q90, ``benchmarks/photos.py``). Each set is decoded by a
plain thread pool (``load_rgb`` on one thread per core, as the audit does) and then audited
without a cache, then audited again with the cache (nothing decoded). Run:

    python benchmarks/audit_speed.py                  # 1,000 images of each set
    python benchmarks/audit_speed.py --n 2000 --json /tmp/audit.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from photos import make_photo_set

from emofeat.audit import audit
from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.images import load_rgb


def decode_all(paths: list[Path]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for img in pool.map(load_rgb, paths):
            img.close()
    return time.perf_counter() - start


def measure(name: str, root: Path, work: Path) -> dict:
    manifest = load_manifest(root)
    n = len(manifest)
    decode = decode_all(manifest.paths)
    start = time.perf_counter()
    result = audit(manifest, work / f"{name}-audit")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    audit(manifest, work / f"{name}-audit")
    warm = time.perf_counter() - start
    row = {"set": name, "n": n, "decode_s_per_1000": 1000 * decode / n,
           "audit_s_per_1000": 1000 * cold / n, "audit_over_decode": cold / decode,
           "cached_audit_s_per_1000": 1000 * warm / n, "counts": result.info["counts"]}
    print(f"{name:6s} n={n}: decode {row['decode_s_per_1000']:.2f} s/1000, audit "
          f"{row['audit_s_per_1000']:.2f} s/1000 ({row['audit_over_decode']:.2f}x decode), "
          f"cached {row['cached_audit_s_per_1000']:.2f} s/1000")
    print("        counts: " + ", ".join(
        f"{k} {v.get('groups', v['images'])}" for k, v in result.info["counts"].items()))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images per set")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = make_demo(work / "demo", DemoSpec(per_class=max(1, args.n // 8)))
        make_photo_set(work / "photos", args.n)
        rows = [measure("demo", demo, work), measure("photos", work / "photos", work)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
