"""CSV lists and splits: paths outside the data folder, duplicates, and property-based round
trips (what is written is what is read)."""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from emofeat.cli.main import app
from emofeat.datasets import Manifest, load_manifest
from emofeat.errors import EmofeatError
from emofeat.experiment import load_config
from emofeat.splits import SPLIT_NAMES, Split, make_split, read_split, write_split
from emofeat.taxonomy import normalise_label

from .conftest import write_image

runner = CliRunner()
BOUNDED = settings(max_examples=50, deadline=None)


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("path", "label")
              ) -> Path:
    """As spreadsheets write them (csv's default dialect: quoted as needed, CRLF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """data/list.csv naming data/in.jpg and an image beside the data folder."""
    write_image(tmp_path / "data" / "in.jpg")
    (tmp_path / "data" / "sub").mkdir()
    return write_image(tmp_path / "elsewhere" / "out.jpg", seed=1)


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "nested-dotdot"])
def test_csv_paths_outside_the_folder_are_refused(outside: Path, tmp_path: Path,
                                                  kind: str) -> None:
    listed = {"absolute": str(outside), "dotdot": "../elsewhere/out.jpg",
              "nested-dotdot": "sub/../../elsewhere/out.jpg"}[kind]
    csv_path = write_csv(tmp_path / "data" / "list.csv", [["in.jpg", "awe"], [listed, "fear"]])
    with pytest.raises(EmofeatError, match=r"list.csv:3: path .* is outside the CSV's folder"
                                           r".*--allow-outside-root"):
        load_manifest(csv_path)
    manifest = load_manifest(csv_path, allow_outside_root=True)
    assert len(manifest) == 2
    assert manifest.path(manifest.ids[manifest.labels.index("fear")]).resolve() == \
        outside.resolve()
    for command in (["data", "show"], ["data", "split", "--out", str(tmp_path / "s.csv")]):
        refused = runner.invoke(app, [*command, str(csv_path)])
        assert refused.exit_code == 2 and "--allow-outside-root" in refused.stderr
        allowed = runner.invoke(app, [*command, str(csv_path), "--allow-outside-root"])
        assert allowed.exit_code == 0, allowed.output


def test_every_data_command_and_the_config_take_the_option(tmp_path: Path) -> None:
    for command in (["extract"], ["finetune"], ["data", "show"], ["data", "split"]):
        result = runner.invoke(app, [*command, "--help"])
        assert "--allow-outside-root" in result.stdout, command
    config = tmp_path / "exp.toml"
    config.write_text('[data]\npath = "list.csv"\nallow_outside_root = true\n'
                      '[finetune]\nenabled = false\n')
    assert load_config(config).data.allow_outside_root is True


def test_a_path_listed_twice_names_both_lines(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "x.jpg")
    csv_path = write_csv(tmp_path / "list.csv", [["a/x.jpg", "awe"], ["b.jpg", "fear"],
                                                 ["a/./x.jpg", "fear"]])
    with pytest.raises(EmofeatError, match=r"list.csv:4: 'a/x.jpg' is listed twice \(first on "
                                           r"line 2\)"):
        load_manifest(csv_path)


# ------------------------------------------------------------------ properties

# names as file systems and CSV writers allow them: unicode, commas, quotes, inner spaces.
# By design the reader strips surrounding whitespace, reads \ as a separator, skips hidden
# (dot) files and refuses drive letters (C:): such names are left out here
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00")
_WORD = st.text(_CHARS, min_size=1, max_size=16).filter(
    lambda t: t == t.strip() and not t.startswith(".") and not re.match(r"^[A-Za-z]:", t))
_NAME = st.tuples(st.one_of(st.none(), _WORD), _WORD,
                  st.sampled_from([".jpg", ".png", ".JPEG"])).map(
    lambda t: (f"{t[0]}/" if t[0] else "") + t[1] + t[2])
_LABEL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 min_size=1, max_size=16).filter(lambda t: t.strip() != "")


@BOUNDED
@given(st.lists(st.tuples(_NAME, _LABEL, st.integers(0, 5)), min_size=1, max_size=8,
                unique_by=lambda row: row[0]))
def test_csv_reader_reads_what_was_written(rows: list[tuple[str, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, _, _ in rows:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(b"")
        csv_path = write_csv(root / "list.csv", [[n, label, str(a)] for n, label, a in rows],
                             header=("path", "label", "agree"))
        manifest = load_manifest(csv_path, "csv")
    assert dict(zip(manifest.ids, manifest.labels, strict=True)) == {
        n: normalise_label(label) for n, label, _ in rows}
    assert dict(zip(manifest.ids, manifest.extra["agree"], strict=True)) == {
        n: a for n, _, a in rows}
    assert not manifest.dropped


_ID = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
              min_size=1, max_size=24)
_ASSIGNMENT = st.dictionaries(_ID, st.sampled_from(SPLIT_NAMES), min_size=1, max_size=30)


@BOUNDED
@given(_ASSIGNMENT)
def test_a_split_file_round_trips_with_a_stable_hash(assignment: dict[str, str]) -> None:
    split = Split(assignment)
    reordered = Split(dict(reversed(list(assignment.items()))))
    assert reordered.to_csv_bytes() == split.to_csv_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        digest = write_split(split, Path(tmp) / "splits.csv")
        back = read_split(Path(tmp) / "splits.csv")
    assert dict(back.assignment) == assignment
    assert digest == split.sha256 == back.sha256


@BOUNDED
@given(st.dictionaries(_ID, st.sampled_from(["awe", "fear", "joy"]), min_size=1,
                       max_size=40),
       st.sampled_from([(0.8, 0.05, 0.15), (0.5, 0.25, 0.25), (0.7, 0.3, 0.0)]),
       st.integers(0, 2**32 - 1))
def test_make_split_is_a_stratified_partition(labels: dict[str, str],
                                              fractions: tuple[float, float, float],
                                              seed: int) -> None:
    rows = list(labels.items())
    manifest = Manifest.from_rows(Path("."), "csv", rows)
    split = make_split(manifest, fractions, seed)
    assert set(split.assignment) == set(labels)  # every image in exactly one split
    assert set(split.assignment.values()) <= set(SPLIT_NAMES)
    again = make_split(Manifest.from_rows(Path("."), "csv", rows[::-1]), fractions, seed)
    assert again.sha256 == split.sha256  # whatever order the images came in
    for label in set(labels.values()):
        members = [i for i, lab in labels.items() if lab == label]
        n_test = sum(split.assignment[i] == "test" for i in members)
        assert abs(n_test - len(members) * fractions[2]) <= 1
        if len(members) >= 3:
            assert sum(split.assignment[i] == "train" for i in members) >= 1


def test_predictions_of_odd_ids_read_back(tmp_path: Path) -> None:
    import numpy as np

    from emofeat.runs import Predictions, read_predictions, write_predictions

    ids = ["a\rb.jpg", 'q"uote, comma.jpg', "plain.jpg"]
    preds = Predictions(ids, ["test"] * 3, np.array([0, 1, 0]), np.array([0, 1, 1]),
                        np.full((3, 2), 0.5), ("negative", "positive"))
    write_predictions(tmp_path / "p.csv", preds)
    assert read_predictions(tmp_path / "p.csv", preds.classes).ids == ids
