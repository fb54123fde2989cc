"""Several processes, one feature store: ranks from torchrun or SLURM, and how they share it.

Ranks come from torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (a job of several when
``WORLD_SIZE`` > 1), or, with ``--distributed``, from srun's ``SLURM_PROCID``,
``SLURM_NTASKS`` and ``SLURM_LOCALID`` (only then: an sbatch script sees ``SLURM_NTASKS`` too,
and must not wait for ranks that never start). ``MASTER_ADDR`` and ``MASTER_PORT`` say where
rank 0 listens (torchrun sets them; under srun they are exported by the job script). The
process group is gloo on the CPU and nccl on CUDA, where rank r uses GPU ``LOCAL_RANK``.

How the ranks fill one store (:func:`shared_store`, :func:`finish_shared`); a single process
runs the same steps as a job of one:

1. rank 0 opens the store (:func:`~emofeat.store.open_for_writing`: it takes the lock and holds
   it to the end, keeps the verified shards of earlier runs and journals, removes leftovers)
   and broadcasts the shards still to do, or its error;
2. the other ranks join (:func:`~emofeat.store.join_for_writing`: no lock, a configuration
   other than rank 0's is refused); a problem on any rank is every rank's error;
3. rank r takes the shards to do at positions r, r + world, ...: disjoint and deterministic,
   and a resume spreads what is left over all ranks. It writes them, and after each one its
   journal, never store.json;
4. every rank reports its new shard entries and whether it succeeded (``all_gather_object``);
   rank 0 records the entries and, when every rank succeeded, marks the store complete; then
   it broadcasts its own outcome, so all ranks return, or fail, together.

A rank killed outright leaves its journal; the next run (any number of ranks) keeps those
of its shards that verify. Feature bytes do not depend on the rank that computed them, only
on the torch threads per process (torchrun sets ``OMP_NUM_THREADS=1`` per rank).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from emofeat.errors import EmofeatError
from emofeat.splits import Split
from emofeat.store import StoreRecord, StoreWriter, join_for_writing, open_for_writing

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a rank waits for the others at a collective (rank 0 verifying a large store's
#: shards before the work; the slowest rank's last shard after it).
TIMEOUT = timedelta(hours=2)
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
SLURM_VARS = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job; collectives go through the process group if any."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    grouped: bool = False  # a torch.distributed process group is up

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """This rank's items: positions rank, rank + world, ..."""
        return list(items[self.rank::self.world])

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj``, on every rank."""
        if not self.grouped:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.grouped:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def device(self, device: torch.device) -> torch.device:
        """CUDA means GPU ``LOCAL_RANK`` in a job of several ranks."""
        import torch

        return torch.device("cuda", self.local_rank) if (
            self.grouped and device.type == "cuda") else device


SINGLE = Ranks()


def _whole(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    text = env.get(name, default)
    if text is None:
        raise EmofeatError(f"{name} is not set")
    try:
        return int(text)
    except ValueError:
        raise EmofeatError(f"{name}={text!r} is not a whole number") from None


def ranks_from_env(env: Mapping[str, str], distributed: bool = False) -> Ranks:
    """The ranks torchrun (or, with ``distributed``, srun) describes; :data:`SINGLE` if
    none."""
    if "WORLD_SIZE" in env:
        names = TORCHRUN_VARS
    elif distributed and "SLURM_NTASKS" in env:
        names = SLURM_VARS
    elif distributed:
        raise EmofeatError("--distributed: no ranks in the environment; launch with torchrun "
                           "(RANK, WORLD_SIZE) or srun (SLURM_PROCID, SLURM_NTASKS)")
    else:
        return SINGLE
    rank, world, local = (_whole(env, names[0]), _whole(env, names[1]),
                          _whole(env, names[2], "0"))
    if not 0 <= rank < world or local < 0:
        raise EmofeatError(f"{names[0]}={rank}, {names[1]}={world}, {names[2]}={local} is no "
                           "rank of a job")
    return Ranks(rank, world, local)


@contextmanager
def process_group(device: str = "auto", distributed: bool = False) -> Iterator[Ranks]:
    """This process's ranks, with a process group while the block runs when the job has
    several ranks (or ``distributed``); a group set up by the caller is used and kept."""
    ranks = ranks_from_env(os.environ, distributed)
    if ranks.world == 1 and not distributed:
        yield SINGLE
        return
    import torch
    import torch.distributed as dist

    from emofeat.device import resolve_device

    cuda = resolve_device(device).type == "cuda"
    if cuda:
        if ranks.local_rank >= torch.cuda.device_count():
            raise EmofeatError(f"local rank {ranks.local_rank} has no GPU "
                               f"({torch.cuda.device_count()} visible)")
        torch.cuda.set_device(ranks.local_rank)
    owned = not dist.is_initialized()
    if owned:
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise EmofeatError(f"{' and '.join(missing)} not set: torchrun sets them; under "
                               "srun, export them (see docs/scaling-out.md)")
        dist.init_process_group("nccl" if cuda else "gloo", rank=ranks.rank,
                                world_size=ranks.world, timeout=TIMEOUT)
    log.info("rank %d of %d (local rank %d)", ranks.rank, ranks.world, ranks.local_rank)
    try:
        yield replace(ranks, grouped=True)
    finally:
        if owned:
            dist.destroy_process_group()


# --------------------------------------------------------------------------- one store


def _say(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, EmofeatError) else f"{type(exc).__name__}: {exc}"


@contextmanager
def shared_store(out: str | Path, meta: StoreRecord | Mapping[str, Any], n_rows: int,
                 split: Split, overwrite: bool, ranks: Ranks
                 ) -> Iterator[tuple[StoreWriter, list[int], bool]]:
    """Steps 1-3: (this rank's writer, its shards to write, whether any rank has work)."""
    with ExitStack() as stack:
        writer: StoreWriter | None = None
        error: Exception | None = None
        if ranks.is_main:
            try:
                writer = stack.enter_context(open_for_writing(out, meta, n_rows, split,
                                                              overwrite))
            except Exception as exc:
                error = exc
        said = ranks.broadcast(None if not ranks.is_main else (
            ("error", _say(error)) if error else ("ok", writer.pending())))
        if error:
            raise error
        if said[0] == "error":
            raise EmofeatError(f"rank 0: {said[1]}")
        if not ranks.is_main:
            try:
                writer = join_for_writing(out, meta, n_rows, ranks.rank)
            except Exception as exc:
                error = exc
        problems = [p for p in ranks.all_gather(_say(error) if error else None) if p]
        if error:
            raise error
        if problems:
            raise EmofeatError(problems[0])
        assert writer is not None
        yield writer, ranks.share(said[1]), bool(said[1])


def finish_shared(writer: StoreWriter, ranks: Ranks, error: Exception | None,
                  **notes: Any) -> None:
    """Step 4: rank 0 records every rank's shards and completes the store if all succeeded;
    raises on every rank if any failed (the rank's own exception where it failed)."""
    mine = [] if ranks.is_main else list(writer.done.values())
    reports = ranks.all_gather((mine, _say(error) if error else None))
    failed = [f"rank {r} failed: {msg}" if ranks.world > 1 else msg
              for r, (_, msg) in enumerate(reports) if msg]
    own: Exception | None = None
    if ranks.is_main:
        try:
            if ranks.world > 1:
                writer.record_shards(e for entries, _ in reports[1:] for e in entries)
            if not failed:
                writer.finish(**notes)
        except Exception as exc:
            own = exc
    outcome = ranks.broadcast(_say(own) if own else None)
    if error:
        raise error
    if failed:
        raise EmofeatError(failed[0])
    if own:
        raise own
    if outcome:
        raise EmofeatError(f"rank 0 could not complete the store: {outcome}")
