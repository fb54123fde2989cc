"""A store written to a disk that fills up: one clear line (exit 2), nothing that looks
complete, and once space is freed the same command resumes to the same bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.store import Store

pytestmark = pytest.mark.slow
runner = CliRunner()
DISK = 2 * 2**20  # tmpfs size
ROOM = 400 * 2**10  # left free by the filler: one shard of the demo store fits, two do not


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards; skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {exc}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True,
                       timeout=30)


def extract_args(data: Path, out: Path) -> list[str]:
    """The configuration of the demo_store fixture, so the results can be compared."""
    return ["-q", "extract", str(data), "--out", str(out), "--backbone",
            "tf_efficientnet_lite0", "--weights", "bundled", "--layers", "blocks.6,bn2",
            "--workers", "0", "--batch-size", "16", "--shard-size", "40"]


def test_a_full_disk_stops_cleanly_and_resumes(small_disk: Path, tiny_demo: Path,
                                               demo_store: Path) -> None:
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:
        fh.truncate(0)
        fh.write(b"\0" * (shutil.disk_usage(small_disk).free - ROOM))
    store = small_disk / "store"
    full = runner.invoke(app, extract_args(tiny_demo, store))
    assert full.exit_code == 2, full.output
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emofeat: error: no space left on the disk "
                                                   f"mounted at {small_disk}")
    assert "re-run the same command" in lines[0] and "Traceback" not in full.output
    # nothing looks complete, and no temporary file is left behind
    assert json.loads((store / "store.json").read_text())["status"] == "incomplete"
    with pytest.raises(EmofeatError, match="incomplete"):
        Store.open(store)
    assert not list(store.glob(".*.tmp-*"))

    filler.unlink()
    resumed = runner.invoke(app, extract_args(tiny_demo, store))
    assert resumed.exit_code == 0, resumed.output
    done, reference = Store.open(store).record, Store.open(demo_store).record
    assert done.status == "complete"
    assert [s.sha256 for s in done.shards] == [s.sha256 for s in reference.shards]
    for shard in reference.shards:
        assert (store / shard.file).read_bytes() == (demo_store / shard.file).read_bytes()
