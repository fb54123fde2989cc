"""Release files as real copies ship them: every reader on each quirk a format's description
leaves open (line endings, byte-order marks, legacy encodings, stray spaces, names that
differ in case or Unicode form, names that are not UTF-8, a PNG inside a ``.jpg``).

Each case builds a replica (tests/test_releases.py), renames one listed image to a name with
a non-ASCII letter (on disk and in the annotation files alike), then applies the quirk; the
manifest must hold the same images with the same labels as the plain replica.
"""

from __future__ import annotations

import codecs
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofeat.datasets import load_manifest
from emofeat.datasets.names import escape_id
from emofeat.images import load_rgb
from emofeat.splits import make_split, read_split, write_split

from .test_releases import MAKERS


@dataclass(frozen=True)
class Renamed:
    """The image a case renames: the annotation files, its name there and on disk."""

    files: tuple[str, ...]  # the annotation files, relative to the release root
    token: str  # how the annotation files name it
    new_token: str  # (the new name, where the letter X is replaced by the test's letter)
    disk: str  # the image, relative to the root
    new_disk: str


RENAMED: dict[str, Renamed] = {
    "emoset": Renamed(("train.json", "val.json", "test.json"), "amusement_00000.jpg",
                      "amusXment_00000.jpg", "image/amusement/amusement_00000.jpg",
                      "image/amusement/amusXment_00000.jpg"),
    "emotion6": Renamed(("ground_truth.txt",), "joy/1.jpg", "joy/1X.jpg", "images/joy/1.jpg",
                        "images/joy/1X.jpg"),
    "abstract": Renamed(("ABSTRACT_groundTruth.csv",), "'1.jpg'", "'1X.jpg'", "1.jpg",
                        "1X.jpg"),
    "twitter1": Renamed(("ground_truth/twitter_three_agrees.txt",
                         "ground_truth/twitter_four_agrees.txt",
                         "ground_truth/twitter_five_agrees.txt"), "1.jpg ", "1X.jpg ",
                        "images/1.jpg", "images/1X.jpg"),
    "oasis": Renamed(("OASIS.csv",), "Acorns 1,", "AcXrns 1,", "images/Acorns 1.jpg",
                     "images/AcXrns 1.jpg"),
    "artphoto": Renamed((), "", "", "amusement_12.jpg", "amusement_12X.jpg"),
}

#: quirk -> (where it applies: the annotation text or the name on disk, its letter)
TEXT_QUIRKS = ("cr", "crlf", "bom", "utf16", "latin1", "cp1252", "spaces")
DISK_QUIRKS = ("disk-spaces", "disk-case", "disk-nfd", "disk-latin1", "png-inside")
LETTER = {"cp1252": "\u2019"}  # a right quote: in Windows-1252, not in Latin-1


def _encode(text: str, quirk: str) -> bytes:
    if quirk == "cr":
        return text.replace("\n", "\r").encode("utf-8")
    if quirk == "crlf":
        return text.replace("\n", "\r\n").encode("utf-8")
    if quirk == "bom":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    if quirk == "utf16":
        return text.encode("utf-16")  # with its byte-order mark, as Excel saves it
    if quirk == "latin1":
        return text.encode("latin-1")
    if quirk == "cp1252":
        return text.encode("cp1252")
    return text.encode("utf-8")


def _disk_name(rel: str, quirk: str) -> bytes:
    """The new name's bytes on disk under a disk quirk."""
    folder, _, name = rel.rpartition("/")
    stem, _, ending = name.rpartition(".")
    if quirk == "disk-spaces":
        name = f"{stem} .{ending}"
    elif quirk == "disk-case":
        name = f"{stem.upper()}.{ending.upper()}"
    elif quirk == "disk-nfd":
        name = unicodedata.normalize("NFD", name)
    encoded = name.encode("latin-1" if quirk == "disk-latin1" else "utf-8")
    return (folder.encode("utf-8") + b"/" if folder else b"") + encoded


def apply_quirk(root: Path, fmt: str, quirk: str) -> str:
    """Rename the case's image and apply ``quirk``; returns the id it must get."""
    spec = RENAMED[fmt]
    letter = LETTER.get(quirk, "\u00e9")
    new_token = spec.new_token.replace("X", letter)
    new_disk = spec.new_disk.replace("X", letter)
    texts = {name: (root / name).read_text(encoding="utf-8") for name in spec.files}
    assert not texts or any(spec.token in t for t in texts.values()), fmt
    for name, text in texts.items():
        path = root / name
        listed = new_token
        if quirk == "spaces":  # a space after the name, inside its cell
            listed = new_token.replace(".jpg", ".jpg ").replace("1,", "1 ,")
        path.write_bytes(_encode(text.replace(spec.token, listed), quirk))
    target = os.fsencode(root) + b"/" + _disk_name(new_disk, quirk if quirk in DISK_QUIRKS
                                                   else "")
    os.rename(root / spec.disk, target)
    if quirk == "png-inside":
        Image.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8)).save(target, format="PNG")
    return escape_id(os.fsdecode(target)[len(str(root)) + 1:])


CASES = [(fmt, quirk) for fmt in MAKERS for quirk in (*TEXT_QUIRKS, *DISK_QUIRKS)
         if RENAMED[fmt].files or quirk in DISK_QUIRKS]  # ArtPhoto has no annotation file


@pytest.mark.parametrize(("fmt", "quirk"), CASES)
def test_each_reader_survives_each_quirk(tmp_path: Path, fmt: str, quirk: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    plain = load_manifest(MAKERS[fmt](tmp_path / "plain"), fmt)
    root = MAKERS[fmt](tmp_path / "quirky")
    expected_id = apply_quirk(root, fmt, quirk)
    with caplog.at_level(logging.INFO):
        manifest = load_manifest(root, "auto")
    assert manifest.format == fmt
    old_id = RENAMED[fmt].disk
    assert expected_id in manifest.ids
    assert sorted(manifest.ids) == sorted([*(i for i in plain.ids if i != old_id),
                                           expected_id])
    renamed = dict(zip(manifest.ids, manifest.labels, strict=True))
    assert [renamed[i if i != old_id else expected_id] for i in plain.ids] == list(plain.labels)
    assert manifest.dropped == plain.dropped
    assert manifest.path(expected_id).is_file()
    load_rgb(manifest.path(expected_id))  # decoded by its content, whatever its ending says
    if quirk in ("latin1", "cp1252"):
        assert "is not UTF-8; read as" in caplog.text


def test_oasis_as_distributed_reads(tmp_path: Path) -> None:
    """OASIS.csv as it ships: classic-Mac line endings (a lone CR), Themes ending in a space,
    a PNG inside a .jpg (the report that made this issue)."""
    root = MAKERS["oasis"](tmp_path / "oasis")
    csv = root / "OASIS.csv"
    csv.write_bytes(csv.read_bytes().replace(b"\n", b"\r"))
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(root / "images" / "Wall 1.jpg",
                                                              format="PNG")
    manifest = load_manifest(root)
    assert "images/Baby 2.jpg" in manifest.ids  # its Theme is "Baby 2 " in the CSV
    assert len(manifest) == 4  # Wall 1 sits on the midpoint: kept, for the rating tasks
    assert dict(zip(manifest.ids, manifest.labels, strict=True))["images/Wall 1.jpg"] == \
        "neutral"
    assert load_rgb(manifest.path("images/Wall 1.jpg")).size == (8, 8)  # the PNG inside


def test_csv_list_quirks(tmp_path: Path) -> None:
    """The generic CSV list: CR endings, a BOM before the header, spaced header names,
    Windows-1252 text and a listed name whose file has another case."""
    from .conftest import write_image

    write_image(tmp_path / "imgs" / "Caf\u00e9.JPG", 1, size=8)
    write_image(tmp_path / "imgs" / "b.jpg", 2, size=8)
    text = " Path , Label \r imgs/caf\u00e9.jpg ,sad\rimgs/b.jpg, awe \r"
    (tmp_path / "list.csv").write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    m = load_manifest(tmp_path / "list.csv")
    assert m.ids == ("imgs/Caf\u00e9.JPG", "imgs/b.jpg") and m.labels == ("sadness", "awe")
    (tmp_path / "list.csv").write_bytes(text.encode("cp1252"))
    assert load_manifest(tmp_path / "list.csv").ids == m.ids


def test_split_files_from_spreadsheets_read(tmp_path: Path, tiny_demo: Path) -> None:
    """A splits.csv saved again by a spreadsheet (BOM, CRLF) is the same split."""
    manifest = load_manifest(tiny_demo)
    split = make_split(manifest)
    path = tmp_path / "splits.csv"
    write_split(split, path)
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes().replace(b"\n", b"\r\n"))
    assert read_split(path, manifest).assignment == split.assignment
