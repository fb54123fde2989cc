"""File names from other systems, end to end: names that are not valid UTF-8, hold a
newline or a carriage return, or begin with a dash are extracted (or, unreadable, listed in
failed.csv) and their ids read back the same from every CSV and HDF5 file."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.splits import read_split
from emofeat.store import Store

from .conftest import write_image

runner = CliRunner()

#: Raw names (bytes) in each class folder; the last of awe is not an image inside.
NAMES: dict[str, list[bytes]] = {
    "awe": [b"caf\xe9.jpg", b"-n 1.jpg", b"two\nlines.jpg", b"cr\rname.jpg", b"plain.jpg",
            b"broken \xff.jpg"],
    "fear": [b"\xc3\xa9t\xc3\xa9.jpg", b"--help.jpg", b"na\xefve.jpg", b"f4.jpg", b"f5.jpg"],
}


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    for label, names in NAMES.items():
        folder = os.fsencode(root / label)
        os.makedirs(folder, exist_ok=True)
        for k, name in enumerate(names):
            path = folder + b"/" + name
            if name.startswith(b"broken"):
                with open(path, "wb") as fh:
                    fh.write(b"\xff\xd8\xff not really a JPEG")
            else:
                write_image(Path(os.fsdecode(path)), seed=k + 10 * len(label), size=16)
    return root


def _read_ids(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [row[0] for row in list(csv.reader(fh))[1:]]


def test_odd_names_extract_and_round_trip(odd_tree: Path, tmp_path: Path) -> None:
    manifest = load_manifest(odd_tree)
    assert len(manifest) == sum(len(v) for v in NAMES.values())
    assert "awe/caf\\xe9.jpg" in manifest.ids  # the Latin-1 byte, escaped
    assert "fear/\u00e9t\u00e9.jpg" in manifest.ids  # valid UTF-8 stays as it is
    assert all(manifest.path(i).is_file() for i in manifest.ids)
    for image_id in manifest.ids:
        image_id.encode("utf-8")  # every id is plain Unicode

    store_dir = tmp_path / "store"
    result = runner.invoke(app, ["-q", "extract", str(odd_tree), "--out", str(store_dir),
                                 "--backbone", "tf_efficientnet_lite0", "--weights", "random",
                                 "--layers", "bn2", "--batch-size", "4", "--shard-size", "4"])
    assert result.exit_code == 0, result.output
    store = Store.open(store_dir)
    failed = _read_ids(store_dir / "failed.csv")
    assert failed == ["awe/broken \\xff.jpg"]
    assert sorted([*store.ids, *failed]) == sorted(manifest.ids)  # every image, somewhere
    in_shards = []
    for shard in sorted(store_dir.glob("shard-*.h5")):
        with h5py.File(shard) as f:  # plain h5py, no emofeat
            in_shards += [i.decode("utf-8") for i in f["ids"][:]]
    assert in_shards == list(store.ids)
    split = read_split(store_dir / "splits.csv", manifest)
    assert set(split.assignment) == set(manifest.ids)

    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["-q", "fit", str(store_dir), "--model", "logreg", "--task",
                                 "label", "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    predicted = next(run_dir.rglob("predictions.csv"))
    assert sorted(_read_ids(predicted)) == sorted(store.ids)
