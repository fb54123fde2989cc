import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofeat.datasets import load_manifest
from emofeat.demo import DemoSpec, make_demo
from emofeat.errors import EmofeatError


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    spec = DemoSpec(seed=5, per_class=4, size=40)
    a = tree_bytes(make_demo(tmp_path / "a", spec))
    b = tree_bytes(make_demo(tmp_path / "b", spec))
    c = tree_bytes(make_demo(tmp_path / "c", DemoSpec(seed=6, per_class=4, size=40)))
    assert a == b
    assert a.keys() == c.keys() and a != c
    assert len([k for k in a if k.endswith(".png")]) == 8
    assert len([k for k in a if k.endswith(".jpg")]) == 24


def test_demo_is_labelled_synthetic_and_reused(tmp_path: Path) -> None:
    spec = DemoSpec(per_class=2, size=32)
    root = make_demo(tmp_path / "d", spec)
    marker = json.loads((root / "EMOFEAT_SYNTHETIC_DEMO.json").read_text())
    assert marker["synthetic"] is True and "SYNTHETIC" in marker["note"]
    assert "SYNTHETIC" in (root / "README.txt").read_text()
    before = (root / "awe" / "awe_0000.jpg").stat().st_mtime_ns
    make_demo(root, spec)  # same parameters: reused, not rewritten
    assert (root / "awe" / "awe_0000.jpg").stat().st_mtime_ns == before
    with pytest.raises(EmofeatError, match="other parameters"):
        make_demo(root, DemoSpec(per_class=3, size=32))


def test_classes_differ_but_overlap(tiny_demo: Path) -> None:
    m = load_manifest(tiny_demo)
    brightness = {}
    for image_id, label in zip(m.ids, m.labels, strict=True):
        v = np.asarray(Image.open(m.path(image_id)).convert("L"), dtype=float).mean()
        brightness.setdefault(label, []).append(v)
    assert np.mean(brightness["amusement"]) > np.mean(brightness["fear"]) + 40
    # overlap: some fear image is brighter than some amusement image
    assert max(brightness["fear"]) > min(brightness["amusement"])


def test_refuses_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep me")
    with pytest.raises(EmofeatError, match="not an emofeat demo set"):
        make_demo(tmp_path / "x", DemoSpec(per_class=1, size=32))
