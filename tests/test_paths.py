"""Collecting images (predict) and runs (compare) from files or folders, hidden ones skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from emofeat.errors import EmofeatError
from emofeat.predict import collect_images
from emofeat.report.collect import find_runs

from .conftest import write_image


def test_collect_images(tmp_path: Path) -> None:
    for rel in ("a/2.jpg", "a/1.png", "a/sub/3.JPG", "a/.hidden/4.jpg", "a/.5.jpg", "b/x.jpg"):
        write_image(tmp_path / rel, fmt="PNG")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "given.heic").write_bytes(b"")
    found = collect_images([tmp_path / "given.heic", tmp_path / "a"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "given.heic", "a/1.png", "a/2.jpg", "a/sub/3.JPG"]  # a file given is taken as it is
    with pytest.raises(EmofeatError, match="does not exist"):
        collect_images([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmofeatError, match="no images found in"):
        collect_images([tmp_path / "empty"])


def test_find_runs(tmp_path: Path) -> None:
    for rel in ("runs/x", "runs/y/z", "runs/.old/w", "other"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "run.json").write_text("{}")
    found = find_runs([tmp_path / "runs", tmp_path / "other", tmp_path / "runs" / "x"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "other", "runs/x", "runs/y/z"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmofeatError, match="no runs found in"):
        find_runs([tmp_path / "empty"])
