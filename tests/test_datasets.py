from pathlib import Path

import pytest

from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError

from .conftest import write_image


def make_tree(root: Path) -> Path:
    write_image(root / "sad" / "a.jpg", 1)
    write_image(root / "sad" / "nested" / "b.png", 2)
    write_image(root / "awe" / "c.JPG", 3, fmt="JPEG")
    write_image(root / "awe" / ".hidden.jpg", 4)
    write_image(root / ".trash" / "d.jpg", 5)
    (root / "awe" / "notes.txt").write_text("not an image")
    return root


def test_folder_reader(tmp_path: Path) -> None:
    m = load_manifest(make_tree(tmp_path / "fi"))
    assert m.format == "folder"
    assert m.ids == ("awe/c.JPG", "sad/a.jpg", "sad/nested/b.png")
    assert m.labels == ("awe", "sadness", "sadness")
    assert m.counts() == {"awe": 1, "sadness": 2}
    assert m.dropped == {"not an image file": 1}
    assert m.path("sad/a.jpg") == tmp_path / "fi" / "sad" / "a.jpg"


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_csv_reader_and_agreement_filter(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "fi")
    csv = write_csv(root / "list.csv", (
        "path,label,agree\n"
        "sad/a.jpg,sadness,5\n"
        "sad/nested/b.png,sad,3\n"
        "awe/c.JPG,awe,4\n"
        "awe/missing.jpg,awe,5\n"
    ))
    m = load_manifest(csv)
    assert m.format == "csv"
    assert m.ids == ("awe/c.JPG", "sad/a.jpg", "sad/nested/b.png")
    assert m.extra["agree"] == (4, 5, 3)
    assert m.dropped == {"file not found": 1}
    kept = load_manifest(csv, min_agree=4)
    assert kept.ids == ("awe/c.JPG", "sad/a.jpg")
    assert kept.dropped == {"agree < 4": 1, "file not found": 1}


def test_demo_reader(tiny_demo: Path) -> None:
    m = load_manifest(tiny_demo)
    assert m.format == "demo"
    assert len(m) == 80
    assert set(m.counts().values()) == {10}
    with pytest.raises(EmofeatError, match="not an emofeat demo set"):
        load_manifest(tiny_demo / "awe", fmt="demo")


@pytest.mark.parametrize(("setup", "kwargs", "message"), [
    ("missing", {}, "does not exist"),
    ("empty", {}, "cannot tell the format"),
    ("empty", {"fmt": "folder"}, "no images found"),
    ("tree", {"fmt": "bogus"},
     "unknown format 'bogus'; valid formats: auto, demo, emoset, .*, artphoto, csv, folder"),
    ("tree", {"min_agree": 6}, "between 0 and 5"),
    ("tree", {"min_agree": -1}, "between 0 and 5"),
    ("tree", {"min_agree": 4}, "needs agreement counts"),
    ("badcsv", {}, "lacks column"),
    ("noagree", {"min_agree": 3}, "needs an 'agree' column"),
])
def test_bad_input(tmp_path: Path, setup: str, kwargs: dict, message: str) -> None:
    target = tmp_path / "data"
    if setup == "empty":
        target.mkdir()
    elif setup == "tree":
        make_tree(target)
    elif setup == "badcsv":
        target = write_csv(tmp_path / "list.csv", "file,emotion\na.jpg,awe\n")
    elif setup == "noagree":
        make_tree(tmp_path)
        target = write_csv(tmp_path / "list.csv", "path,label\nsad/a.jpg,sad\n")
    with pytest.raises(EmofeatError, match=message):
        load_manifest(target, **kwargs)
