"""Ranks sharing one store: the environment, the protocol (ranks as threads, collectives
through a barrier), and torchrun itself (gloo on the CPU, in subprocesses)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from emofeat.datasets import load_manifest
from emofeat.distributed import SINGLE, Ranks, ranks_from_env
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, dataset_meta, extract, fill_store
from emofeat.images import load_rgb
from emofeat.splits import make_split
from emofeat.store import Store, StoreWriter, join_for_writing, open_for_writing
from emofeat.store.journal import read_journals
from emofeat.store.lock import exclusive_lock
from tests.conftest import ONE_THREAD, SMALL_ARGS

# ------------------------------------------------------------------ ranks from the environment


def test_ranks_from_torchrun_and_slurm() -> None:
    assert ranks_from_env({}) is SINGLE
    assert ranks_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(1, 4, 1)
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"}
    assert ranks_from_env(slurm) is SINGLE  # an sbatch script sees these too: opt in
    assert ranks_from_env(slurm, distributed=True) == Ranks(5, 8, 1)
    with pytest.raises(EmofeatError, match="launch with torchrun"):
        ranks_from_env({}, distributed=True)
    with pytest.raises(EmofeatError, match="RANK is not set"):
        ranks_from_env({"WORLD_SIZE": "2"})
    with pytest.raises(EmofeatError, match="RANK=2, WORLD_SIZE=2, LOCAL_RANK=0 is no rank"):
        ranks_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(EmofeatError, match="WORLD_SIZE='two' is not a whole number"):
        ranks_from_env({"RANK": "0", "WORLD_SIZE": "two"})
    assert Ranks(1, 3).share(list(range(8))) == [1, 4, 7]


# ------------------------------------------------------------------ the protocol, in threads


class _Board:
    """Collectives between threads."""

    def __init__(self, world: int) -> None:
        self.barrier = threading.Barrier(world, timeout=60)
        self.slots: list[Any] = [None] * world

    def exchange(self, rank: int, obj: Any) -> list[Any]:
        self.barrier.wait()
        self.slots[rank] = obj
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out


@dataclass(frozen=True)
class ThreadRanks(Ranks):
    board: Any = None

    def broadcast(self, obj: Any) -> Any:
        return self.board.exchange(self.rank, obj)[0]

    def all_gather(self, obj: Any) -> list[Any]:
        return self.board.exchange(self.rank, obj)


def _mean_colour(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float32).mean(axis=(0, 1)))


def _meta(manifest: Any, split: Any, pooling: str = "none") -> dict[str, Any]:
    return {**dataset_meta(manifest, split, 6, None), "backbone": "mean-colour",
            "handcrafted": True, "weights": {}, "data_config": {}, "pooling": pooling,
            "dtype": "float32", "precision": "fp32",
            "layers": [{"name": "rgb", "dim": 3, "channels": 3, "stride": 0}]}


def _fill(small_demo: Path, out: Path, ranks: Ranks = SINGLE,
          fn: Callable[[torch.Tensor], dict[str, np.ndarray]] | None = None,
          pooling: str = "none", progress: Any = None) -> Path:
    manifest = load_manifest(small_demo)
    split = make_split(manifest)
    return fill_store(manifest, out, _meta(manifest, split, pooling), split,
                      fn or (lambda batch: {"rgb": batch.numpy()}), _mean_colour,
                      ExtractConfig(workers=0, batch_size=3, shard_size=6),
                      torch.device("cpu"), progress, ranks)


def _in_threads(world: int, job: Callable[[Ranks], Any]) -> list[Any]:
    """Run ``job(ranks)`` for every rank in its own thread; returns values or exceptions."""
    board, results = _Board(world), [None] * world

    def run(rank: int) -> None:
        try:
            results[rank] = job(ThreadRanks(rank, world, grouped=True, board=board))
        except Exception as exc:
            results[rank] = exc

    threads = [threading.Thread(target=run, args=(r,), name=f"rank{r}") for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _shard_bytes(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(store.glob("shard-*.h5"))}


def test_ranks_fill_one_store_equal_to_one_process(small_demo: Path, tmp_path: Path) -> None:
    single = _fill(small_demo, tmp_path / "single")
    results = _in_threads(3, lambda ranks: _fill(small_demo, tmp_path / "ranks", ranks))
    assert results == [tmp_path / "ranks"] * 3
    store = Store.open(tmp_path / "ranks")
    assert store.verify() == [] and store.ids == Store.open(single).ids
    assert _shard_bytes(tmp_path / "ranks") == _shard_bytes(single)
    for name in ("store.json", "failed.csv", "splits.csv"):
        a, b = (single / name).read_text(), (tmp_path / "ranks" / name).read_text()
        assert a.split('"seconds"')[0] == b.split('"seconds"')[0], name
    assert not list((tmp_path / "ranks").glob(".rank-*"))


def test_a_failing_rank_fails_every_rank_and_its_shards_are_kept(small_demo: Path,
                                                                  tmp_path: Path) -> None:
    calls = {"n": 0}

    def fn(batch: torch.Tensor) -> dict[str, np.ndarray]:
        if threading.current_thread().name == "rank1":
            calls["n"] += 1
            if calls["n"] == 4:  # rank 1's second shard (shard 3), its second batch
                raise RuntimeError("GPU fell off the bus")
        return {"rgb": batch.numpy()}

    out = tmp_path / "s"
    rank0, rank1 = _in_threads(2, lambda ranks: _fill(small_demo, out, ranks, fn))
    assert isinstance(rank1, RuntimeError)
    assert isinstance(rank0, EmofeatError)
    assert str(rank0) == "rank 1 failed: RuntimeError: GPU fell off the bus"
    record = Store.open(out, allow_incomplete=True).record
    assert record.status == "incomplete"
    assert [s.index for s in record.shards] == [0, 1, 2]  # rank 1's first shard recorded
    seen: list[int] = []
    _fill(small_demo, out, progress=lambda done, total: seen.append(total))
    assert seen[-1] == 6  # only shard 3 was redone
    assert _shard_bytes(out) == _shard_bytes(_fill(small_demo, tmp_path / "single"))


def test_rank_0_refused_or_ranks_disagreeing_stop_every_rank(small_demo: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "s"
    out.mkdir()
    with exclusive_lock(out):
        results = _in_threads(2, lambda ranks: _fill(small_demo, out, ranks))
    assert all(isinstance(r, EmofeatError) for r in results)
    assert str(results[1]).startswith("rank 0: another emofeat process is writing")
    assert not list(out.glob("shard-*"))

    results = _in_threads(2, lambda ranks: _fill(small_demo, out, ranks,
                                                 pooling="max" if ranks.rank else "none"))
    assert all(isinstance(r, EmofeatError) for r in results)
    assert all("rank 1 was given another configuration than rank 0 (pooling" in str(r)
               for r in results)


def test_a_dead_ranks_journal_is_kept_on_resume(small_demo: Path, tmp_path: Path) -> None:
    manifest = load_manifest(small_demo)
    split = make_split(manifest)
    meta, out = _meta(manifest, split), tmp_path / "s"
    with open_for_writing(out, meta, len(manifest), split):  # rank 0 opens the store ...
        rank1: StoreWriter = join_for_writing(out, meta, len(manifest), rank=1)
        rows = rank1.ranges[1]  # ... rank 1 writes shard 1, then the job dies
        rank1.write_shard(1, [manifest.ids[r] for r in rows], [manifest.labels[r] for r in rows],
                          {"rgb": np.stack([_mean_colour(load_rgb(manifest.paths[r])).numpy()
                                            for r in rows])})
    assert [p.name for p in out.glob(".rank-*")] == [".rank-00001.shards.json"]
    seen: list[int] = []
    _fill(small_demo, out, progress=lambda done, total: seen.append(total))
    assert seen[-1] == 24 - 6
    assert _shard_bytes(out) == _shard_bytes(_fill(small_demo, tmp_path / "single"))
    assert not list(out.glob(".rank-*"))


# ------------------------------------------------------------------ torchrun


def _torchrun(*args: str, env: dict[str, str] | None = None,
              timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", *args], env=env or ONE_THREAD,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(small_demo: Path, small_store: Path,
                                              tmp_path: Path) -> None:
    out = tmp_path / "s"
    result = _torchrun("-m", "emofeat", "-q", "extract", str(small_demo), "--out", str(out),
                       "--workers", "1", *SMALL_ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("24 images") == 1  # rank 0 reports, rank 1 does not
    a, b = Store.open(out), Store.open(small_store)
    assert a.verify() == [] and a.ids == b.ids and a.labels == b.labels
    assert np.array_equal(a.load("bn2"), b.load("bn2"))
    assert _shard_bytes(out) == _shard_bytes(small_store)


KILL_RANK_1 = textwrap.dedent('''
    import os, signal, sys
    import h5py
    if os.environ["RANK"] == "1":
        real, calls = h5py.Group.create_dataset, []
        def create_dataset(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 4:  # its second shard (shard 3), after shard 1 is journaled
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *args, **kwargs)
        h5py.Group.create_dataset = create_dataset
    from emofeat.cli.main import main
    sys.argv = ["emofeat", *sys.argv[1:]]
    main()
''')


@pytest.mark.slow
def test_torchrun_rank_killed_then_resumed(small_demo: Path, small_store: Path,
                                           tmp_path: Path, one_thread: None) -> None:
    out, script = tmp_path / "s", tmp_path / "kill_rank_1.py"
    script.write_text(KILL_RANK_1)
    result = _torchrun(str(script), "-q", "extract", str(small_demo), "--out", str(out),
                       "--workers", "1", *SMALL_ARGS)
    assert result.returncode != 0, result.stderr[-3000:]
    record = Store.open(out, allow_incomplete=True).record
    assert record.status == "incomplete"
    journaled = {e.index for e in read_journals(out)}
    assert journaled == {1}  # rank 1's first shard; rank 0 may or may not have finished
    kept = journaled | {s.index for s in record.shards}
    seen: list[int] = []
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="random", layers=["bn2"],
                           shard_size=6, batch_size=3, workers=0)
    extract(load_manifest(small_demo), out, config, progress=lambda d, t: seen.append(t))
    assert seen[-1] == 24 - 6 * len(kept)  # only what no rank had finished was redone
    assert _shard_bytes(out) == _shard_bytes(small_store)
    assert Store.open(out).verify() == []


def test_process_group_of_one_needs_no_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    from emofeat.distributed import process_group

    for name in ("WORLD_SIZE", "RANK", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    with process_group("cpu") as ranks:
        assert ranks is SINGLE
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(EmofeatError, match="MASTER_ADDR and MASTER_PORT not set"), \
            process_group("cpu", distributed=True):
        pass
