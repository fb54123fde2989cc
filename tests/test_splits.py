import shutil
from collections import Counter
from pathlib import Path

import pytest

from emofeat.datasets import Manifest, load_manifest
from emofeat.errors import EmofeatError
from emofeat.splits import make_split, parse_fractions, read_split, write_split
from emofeat.taxonomy import EMOTIONS

from .conftest import write_image


def manifest_of(counts: dict[str, int], reverse: bool = False) -> Manifest:
    rows = [(f"{lab}/{i:03d}.jpg", lab) for lab, n in counts.items() for i in range(n)]
    if reverse:
        rows = rows[::-1]
    return Manifest.from_rows(Path("/data"), "folder", rows)


def test_split_is_stratified() -> None:
    m = manifest_of({"awe": 200, "fear": 40, "sadness": 100})
    split = make_split(m, (0.8, 0.05, 0.15), seed=3)
    per = Counter((lab, split.assignment[i]) for i, lab in zip(m.ids, m.labels, strict=True))
    assert (per["awe", "train"], per["awe", "val"], per["awe", "test"]) == (160, 10, 30)
    assert (per["fear", "train"], per["fear", "val"], per["fear", "test"]) == (32, 2, 6)
    assert (per["sadness", "train"], per["sadness", "val"], per["sadness", "test"]) == (80, 5, 15)


def test_split_is_deterministic_whatever_the_order(tmp_path: Path) -> None:
    a = make_split(manifest_of({"awe": 30, "fear": 30}), seed=7)
    b = make_split(manifest_of({"awe": 30, "fear": 30}, reverse=True), seed=7)
    c = make_split(manifest_of({"awe": 30, "fear": 30}), seed=8)
    assert a.to_csv_bytes() == b.to_csv_bytes()
    assert a.sha256 == b.sha256 != c.sha256
    digest = write_split(a, tmp_path / "splits.csv")
    assert digest == a.sha256
    assert (tmp_path / "splits.csv").read_bytes().startswith(b"id,split\nawe/000.jpg,")


def test_split_from_trees_created_in_different_orders(tmp_path: Path) -> None:
    names = [(e, i) for e in EMOTIONS[:3] for i in range(6)]
    for root, order in ((tmp_path / "a", names), (tmp_path / "b", names[::-1])):
        for label, i in order:
            write_image(root / label / f"{i}.png", i)
    splits = [make_split(load_manifest(tmp_path / r)).to_csv_bytes() for r in ("a", "b")]
    assert splits[0] == splits[1]
    shutil.rmtree(tmp_path / "b")


def test_read_split_checks_ids(tmp_path: Path) -> None:
    m = manifest_of({"awe": 10, "fear": 10})
    path = tmp_path / "splits.csv"
    write_split(make_split(m), path)
    assert read_split(path, m).counts() == make_split(m).counts()
    bigger = manifest_of({"awe": 10, "fear": 10, "sadness": 3})
    with pytest.raises(EmofeatError, match="does not cover 3 images"):
        read_split(path, bigger)
    smaller = manifest_of({"awe": 10})
    with pytest.raises(EmofeatError, match="names 10 ids that are not in the data"):
        read_split(path, smaller)
    (tmp_path / "bad.csv").write_text("id,split\nawe/000.jpg,holdout\n")
    with pytest.raises(EmofeatError, match="expected id,train"):
        read_split(tmp_path / "bad.csv")


@pytest.mark.parametrize("text", ["0.8,0.1,0.2", "0.5,0.5", "a,b,c", "0,0.5,0.5", "1.2,-0.1,-0.1"])
def test_bad_fractions(text: str) -> None:
    with pytest.raises(EmofeatError, match="fractions"):
        parse_fractions(text)
