"""One rank of ``extract()`` under torchrun, through the library (the GPU machine may lack the
CLI's packages): the process group (nccl on CUDA, gloo on the CPU), the ranks' shared store,
``--decode``. Rank 0 writes what the store says as JSON.

    torchrun --standalone --nproc-per-node 1 benchmarks/torchrun_extract.py \\
        --data PHOTOS --device cuda --decode gpu --json OUT/torchrun.json
    torchrun --standalone --nproc-per-node 1 benchmarks/torchrun_extract.py \\
        --device cpu --quick --json /tmp/torchrun.json      # makes its own photos
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import photos


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="a folder data set (default: --n-images new photos)")
    parser.add_argument("--n-images", type=int, default=2048)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--decode", default="auto", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--backbone", default="inception_resnet_v2")
    parser.add_argument("--weights", default="random")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="16 photos, Lite0, batch 4 (tests the script on the CPU)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_images, args.backbone, args.batch_size = 16, "tf_efficientnet_lite0", 4
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="torchrun-extract-"))
    data = args.data
    if data is None:  # before the process group and CUDA: the photo pool forks
        photos.make_photo_set(tmp / "photos", args.n_images, processes=1 if args.quick
                              else None)
        data = tmp / "photos"

    import torch.distributed as dist

    from emofeat.datasets import load_manifest
    from emofeat.distributed import process_group
    from emofeat.extract import ExtractConfig, extract

    manifest = load_manifest(data, "folder")
    config = ExtractConfig(backbone=args.backbone, weights=args.weights, device=args.device,
                           decode=args.decode, precision=args.precision,
                           batch_size=args.batch_size)
    store = tmp / "store"
    start = time.perf_counter()
    with process_group(args.device, distributed=True) as ranks:
        backend = dist.get_backend() if dist.is_initialized() else None
        # on the CPU, --decode gpu runs the device path with the decoder on the CPU
        extract(manifest, store, config, ranks=ranks,
                force_device_decode=args.decode == "gpu" and args.device == "cpu")
        is_main, world = ranks.is_main, ranks.world
    seconds = time.perf_counter() - start
    if is_main:
        meta = json.loads((store / "store.json").read_text())
        out = {"world": world, "backend": backend, "local_world_size":
               os.environ.get("LOCAL_WORLD_SIZE"), "n": len(manifest),
               "wall_s": round(seconds, 2), **{k: meta.get(k) for k in (
                   "status", "n_rows", "n_failed", "n_shards", "device", "precision",
                   "decode", "seconds")}}
        print(json.dumps(out))
        if args.json:
            args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
