"""The store lock: one writing process, never blocked by the dead or their orphaned workers.

The SIGKILL tests run ``emofeat extract`` in a subprocess through a wrapper that kills the
process (SIGKILL, as the OOM killer does) at the Nth call of a library function: fault
injection here only. The same command is then run at once, while the killed run's DataLoader
workers are still alive, and must finish a store equal to an uninterrupted run's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.store import LOCK_FILE, Store
from emofeat.store.lock import exclusive_lock
from tests.conftest import ONE_THREAD, SMALL_ARGS

#: Runs the CLI; EMOFEAT_TEST_KILL=POINT:N sends SIGKILL to this process at the Nth call of
#: POINT's function. Worker pids go to EMOFEAT_TEST_WORKERS. Rows 12 on (shards 2 and 3) take
#: the workers 0.5 s each to read, so that they are in the middle of a batch when their parent
#: dies, as with batches of large photographs: a worker notices that its parent is gone only
#: between batches.
KILLER = textwrap.dedent('''
    import os, signal, sys, time
    from pathlib import Path

    point, nth = os.environ["EMOFEAT_TEST_KILL"].split(":")
    calls = {"n": 0}

    def due():
        calls["n"] += 1
        return calls["n"] == int(nth)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    import h5py
    import emofeat.extract
    import emofeat.frozen
    import emofeat.loading

    def worker_init(i, real=emofeat.loading.worker_init):
        with open(os.environ["EMOFEAT_TEST_WORKERS"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        real(i)

    emofeat.loading.worker_init = worker_init

    def getitem(self, row, real=emofeat.loading.ImageDataset.__getitem__):
        if row >= 12:
            time.sleep(0.5)
        return real(self, row)

    emofeat.loading.ImageDataset.__getitem__ = getitem

    if point == "batch":  # a shard half computed
        real_submit = emofeat.frozen.FeatureModel.submit
        def submit(self, images):
            if due():
                die()
            return real_submit(self, images)
        emofeat.frozen.FeatureModel.submit = submit
    elif point == "dataset":  # a shard's HDF5 file half written, not yet renamed
        real_fsync = os.fsync
        def fsync(fd):
            if ".shard-" in os.readlink(f"/proc/self/fd/{fd}") and due():
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                die()
            return real_fsync(fd)
        os.fsync = fsync
    else:  # "renamed": shard renamed, store.json not yet updated; "store.json": half written
        real_replace = os.replace
        def replace(src, dst):
            name = Path(dst).name
            if point == "renamed" and name.startswith("shard-") and due():
                real_replace(src, dst)
                die()
            if point == "store.json" and name == "store.json" and due():
                data = Path(src).read_bytes()
                Path(src).write_bytes(data[: len(data) // 2])
                die()
            return real_replace(src, dst)
        os.replace = replace

    from emofeat.cli.main import main
    sys.argv = ["emofeat", *sys.argv[1:]]
    main()
''')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").is_file() and \
        Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _same_store(a: Path, b: Path) -> None:
    sa, sb = Store.open(a), Store.open(b)
    assert sa.ids == sb.ids and sa.labels == sb.labels
    assert np.array_equal(sa.load("bn2"), sb.load("bn2"))
    for shard in sb.record.shards:
        assert (a / shard.file).read_bytes() == (b / shard.file).read_bytes(), shard.file
    assert (a / "failed.csv").read_bytes() == (b / "failed.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize(("point", "leftover"), [
    ("batch:5", None),                # mid-shard: its rows half computed
    ("dataset:2", ".shard-"),         # a shard's HDF5 file half written, not yet renamed
    ("renamed:2", None),              # between a shard's rename and the store.json update
    ("store.json:3", ".store.json"),  # during the store.json write
])
def test_sigkill_then_resume_at_once(point: str, leftover: str | None, small_demo: Path,
                                     small_store: Path, tmp_path: Path,
                                     one_thread: None) -> None:
    out, workers = tmp_path / "s", tmp_path / "workers.txt"
    (tmp_path / "kill.py").write_text(KILLER)
    env = {**ONE_THREAD, "EMOFEAT_TEST_KILL": point, "EMOFEAT_TEST_WORKERS": str(workers)}
    with open(tmp_path / "stderr.txt", "w") as err:  # a pipe would wait for the orphans too
        killed = subprocess.run([sys.executable, str(tmp_path / "kill.py"), "-q", "extract",
                                 str(small_demo), "--out", str(out), "--workers", "2",
                                 *SMALL_ARGS], env=env, stdout=err, stderr=err)
    assert killed.returncode == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()
    orphans = [int(p) for p in workers.read_text().split()]
    alive = [pid for pid in orphans if _alive(pid)]
    if leftover:  # the half-written file is there, under a name no reader takes
        assert any(p.name.startswith(leftover) and ".tmp-" in p.name for p in out.iterdir())
    if not point.startswith("batch"):  # the first shard was complete before the kill
        with h5py.File(out / "shard-00000.h5", "r") as f:
            assert f["ids"].shape == (6,)
    # at once: the killed run's workers still live (they notice within ~5 s) and held its
    # lock through the descriptor they inherited, when it was an flock
    result = CliRunner().invoke(app, ["extract", str(small_demo), "--out", str(out),
                                      "--workers", "2", *SMALL_ARGS])
    assert alive, "the killed run's workers were gone before the resume"
    assert result.exit_code == 0, result.output
    _same_store(out, small_store)
    verify = CliRunner().invoke(app, ["inspect", str(out), "--verify"])
    assert verify.exit_code == 0 and "all shards OK" in verify.stdout
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name or p.name.startswith(".rank")]


HOLDER = textwrap.dedent('''
    import os, sys
    from emofeat.store.lock import exclusive_lock
    with exclusive_lock(sys.argv[1]):
        if len(sys.argv) > 2:  # an orphan: a forked child keeps the descriptor, we die
            if os.fork() == 0:
                sys.stdin.read()
                os._exit(0)
            print("held", flush=True)
            os.kill(os.getpid(), 9)
        print("held", flush=True)
        sys.stdin.read()
''')


def _holder(directory: Path, *extra: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), *extra],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_writer_is_refused_by_name_and_released_at_exit(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        with pytest.raises(EmofeatError, match=rf"another emofeat process is writing {tmp_path}"
                           rf" \(pid {proc.pid} on .+\); wait for it to finish"), \
                exclusive_lock(tmp_path):
            pass
    finally:
        proc.communicate("")
    with exclusive_lock(tmp_path):  # its owner is gone: free at once
        pass


def test_an_orphan_holding_the_descriptor_does_not_block(tmp_path: Path) -> None:
    proc = _holder(tmp_path, "fork-and-die")
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    try:
        with exclusive_lock(tmp_path):  # the forked child still has the file open
            pass
    finally:
        assert proc.stdin is not None
        proc.stdin.close()


def test_a_refused_second_writer_in_the_same_process_keeps_the_lock(tmp_path: Path) -> None:
    """A POSIX lock dies with any close of its file in the process: the refusal must come
    before anything is opened."""
    with exclusive_lock(tmp_path):
        with pytest.raises(EmofeatError, match=r"\(a writer in this process\)"), \
                exclusive_lock(tmp_path):
            pass
        probe = subprocess.run([sys.executable, "-c", HOLDER, str(tmp_path)], input="",
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode == 1 and "another emofeat process is writing" in probe.stderr
    assert (tmp_path / LOCK_FILE).is_file()
