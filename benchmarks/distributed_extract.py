"""CPU: `emofeat extract` in one process vs torchrun ranks (gloo), on the same photos.

Three configurations, each a fresh command (so start-up is paid alike), the same images,
backbone, batch size and DataLoader workers per process:

  (a) 1 process,  1 torch thread              OMP_NUM_THREADS=1
  (b) 1 process,  all cores as torch threads  OMP_NUM_THREADS=<cores>
  (c) N ranks,    1 torch thread each         torchrun --standalone --nproc-per-node N

Reported per configuration: wall seconds of the whole command (start-up, model building,
rendezvous included), the store's own ``seconds`` (rank 0 from its first batch to the store
being complete: the work, waiting for the slowest rank included), images/s from the latter,
and the speed-up of (c) over (a) and over (b). (c)'s shards are checked to be byte-identical
to (a)'s (one thread per process on both sides; (b)'s differ in the last bits, as more
threads sum in another order).

On a 2-core machine expect little: the ranks' DataLoader workers decode JPEGs on the same
two cores the models run on, and (b) already uses both cores for the model. What the rank
split buys is GPUs: on N GPUs run, with a data set big enough for minutes per rank
(e.g. 50k FI-like photos; see gpu_extract.py for the per-GPU rate),

    torchrun --standalone --nproc-per-node N -m emofeat extract PHOTOS --out STORE \\
        --device cuda --batch-size 256 --workers W

for N = 1 and N = 8 (W DataLoader workers per rank, W x N <= the CPU cores: on GPUs the
decoding is the limit), and compare the stores' ``seconds``; the shards of the two stores
should be identical when the GPUs are of one kind and the precision is fp32 (bf16 kernels
may differ between runs of another configuration).

    .venv/bin/python benchmarks/distributed_extract.py --images 512 --json /tmp/dist.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import make_photo_set


def run(name: str, command: list[str], threads: int, store: Path, n: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    meta = json.loads((store / "store.json").read_text())
    return {"config": name, "wall_s": round(wall, 2), "work_s": meta["seconds"],
            "img_per_s": round(n / meta["seconds"], 2), "rows": meta["n_rows"]}


def shards(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.glob("shard-*.h5"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers per process")
    parser.add_argument("--nproc", type=int, default=2, help="ranks of (c)")
    parser.add_argument("--shard-size", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="emofeat-dist-") as tmp:
        data = Path(tmp) / "photos"
        make_photo_set(data, args.images)
        common = ["extract", str(data), "--backbone", args.backbone, "--weights", "random",
                  "--batch-size", str(args.batch_size), "--workers", str(args.workers),
                  "--shard-size", str(args.shard_size), "--device", "cpu"]
        one = [sys.executable, "-m", "emofeat", "-q"]
        ranks = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc-per-node", str(args.nproc), "-m", "emofeat", "-q"]
        stores = {k: Path(tmp) / k for k in ("a", "b", "c")}
        rows = [run("(a) 1 process x 1 thread", [*one, *common, "--out", str(stores["a"])], 1,
                    stores["a"], args.images),
                run(f"(b) 1 process x {cores} threads",
                    [*one, *common, "--out", str(stores["b"])], cores, stores["b"], args.images),
                run(f"(c) {args.nproc} ranks x 1 thread",
                    [*ranks, *common, "--out", str(stores["c"])], 1, stores["c"], args.images)]
        same = shards(stores["a"]) == shards(stores["c"])
    a, b, c = (r["work_s"] for r in rows)
    result = {"images": args.images, "backbone": args.backbone, "cores": cores,
              "batch_size": args.batch_size, "workers_per_process": args.workers,
              "rows": rows, "speedup_c_over_a": round(a / c, 2),
              "speedup_c_over_b": round(b / c, 2), "c_shards_identical_to_a": same}
    print(f"{args.images} images, {args.backbone} (random weights), batch {args.batch_size}, "
          f"{args.workers} DataLoader worker(s) per process, {cores} cores")
    for r in rows:
        print(f"  {r['config']:<28} wall {r['wall_s']:7.1f} s   work {r['work_s']:7.1f} s   "
              f"{r['img_per_s']:7.1f} img/s")
    print(f"  speed-up of (c): {result['speedup_c_over_a']}x over (a), "
          f"{result['speedup_c_over_b']}x over (b); (c) shards identical to (a): {same}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
