"""Emotion6's two labels: the keyword folder (default) and the emotion rated most probable
(``--label-from ratings``, ties dropped and counted), recorded in the manifest hash,
store.json and run.json, and shown by ``data show`` with how often they agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from emofeat.datasets import describe, load_manifest
from emofeat.datasets.labels import TIED
from emofeat.errors import EmofeatError

from .conftest import write_image
from .test_releases import EMOTION6_HEADER
from .test_run_tasks import make_twitter

runner = CliRunner()

#: (file, the seven probabilities: anger, disgust, fear, joy, sadness, surprise, neutral)
ROWS = [
    ("anger/0.jpg", [0.6, 0.1, 0.1, 0.0, 0.1, 0.0, 0.1]),  # agrees
    ("anger/1.jpg", [0.2, 0.5, 0.1, 0.0, 0.1, 0.0, 0.1]),  # rated disgust
    ("fear/0.jpg", [0.0, 0.0, 0.7, 0.0, 0.1, 0.1, 0.1]),  # agrees
    ("fear/1.jpg", [0.0, 0.0, 0.3, 0.0, 0.0, 0.3, 0.4]),  # rated neutral
    ("joy/0.jpg", [0.0, 0.0, 0.0, 0.8, 0.0, 0.1, 0.1]),  # agrees
    ("joy/1.jpg", [0.0, 0.0, 0.0, 0.4, 0.0, 0.4, 0.2]),  # tied: joy and surprise
    ("sadness/0.jpg", [0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.1]),  # agrees
    ("sadness/1.jpg", [0.0, 0.0, 0.1, 0.0, 0.8, 0.0, 0.1]),  # agrees
]


def make_disagreeing(root: Path, copies: int = 1) -> Path:
    """ROWS (``copies`` > 1: again as <n+2>.jpg, ...), written with CRLF line ends."""
    lines = [EMOTION6_HEADER]
    for c in range(copies):
        for k, (name, probs) in enumerate(ROWS):
            folder, number = name.split("/")
            name = f"{folder}/{int(number[0]) + 2 * c}.jpg"
            write_image(root / "images" / name, k + 10 * c, size=32)
            lines.append("\t".join([name, "5.5", "4", *map(str, probs)]) + "\r\n")
    (root / "ground_truth.txt").write_bytes("".join(lines).encode("utf-8"))
    return root


@pytest.fixture
def e6(tmp_path: Path) -> Path:
    return make_disagreeing(tmp_path / "Emotion6")


def test_the_folder_keyword_is_the_default(e6: Path) -> None:
    default = load_manifest(e6)
    explicit = load_manifest(e6, label_from="folder")
    assert default.labels == tuple(n.split("/")[0] for n, _ in ROWS)
    assert explicit == default and explicit.sha256 == default.sha256
    assert default.label_rule is None


def test_ratings_take_the_most_probable_emotion_and_drop_ties(e6: Path) -> None:
    m = load_manifest(e6, label_from="ratings")
    assert dict(zip(m.ids, m.labels, strict=True)) == {
        "images/anger/0.jpg": "anger", "images/anger/1.jpg": "disgust",
        "images/fear/0.jpg": "fear", "images/fear/1.jpg": "neutral",
        "images/joy/0.jpg": "joy", "images/sadness/0.jpg": "sadness",
        "images/sadness/1.jpg": "sadness"}
    assert m.dropped == {TIED: 1}
    assert m.label_rule == "ratings"
    assert len(m.extra["valence_score"]) == len(m)  # columns follow the rows kept
    assert m.sha256 != load_manifest(e6).sha256


def test_describe_gives_the_agreement_of_the_rules(e6: Path) -> None:
    rules = describe(load_manifest(e6))["label_rules"]
    assert rules == {"used": "folder", "rules": ["folder", "ratings"], "n_labelled": 7,
                     "n_agree": 5, "agreement": 5 / 7, "n_unlabelled": 1}
    assert describe(load_manifest(e6, label_from="ratings"))["label_rules"]["used"] == "ratings"


def test_a_rule_is_refused_where_it_does_not_exist(e6: Path, tmp_path: Path) -> None:
    with pytest.raises(EmofeatError, match="no label rule 'votes'; valid rules: folder, ratings"):
        load_manifest(e6, label_from="votes")
    twitter = make_twitter(tmp_path / "twitter", n=4)
    with pytest.raises(EmofeatError, match="twitter1 data set has one label per image"):
        load_manifest(twitter, label_from="ratings")


def test_data_show_and_bad_input_on_the_cli(e6: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "show", str(e6), "--label-from", "ratings"])
    assert result.exit_code == 0, result.output
    assert "labels: from ratings (rules: folder, ratings); the rules agree on 5 of 7" \
        in result.output
    assert "neutral" in result.output and f"left out: 1 ({TIED})" in result.output
    twitter = make_twitter(tmp_path / "twitter", n=4)
    bad = runner.invoke(app, ["data", "show", str(twitter), "--label-from", "ratings"])
    assert bad.exit_code == 2
    assert "one label per image" in bad.output and "Traceback" not in bad.output


def test_the_rule_is_recorded_in_store_and_run(tmp_path: Path) -> None:
    e6 = make_disagreeing(tmp_path / "Emotion6", copies=2)
    store = tmp_path / "store"
    result = runner.invoke(app, ["-q", "extract", str(e6), "--out", str(store),
                                 "--label-from", "ratings", "--backbone",
                                 "tf_efficientnet_lite0", "--weights", "random", "--layers",
                                 "bn2", "--batch-size", "4", "--splits", str(_split(e6, tmp_path))])
    assert result.exit_code == 0, result.output
    meta = json.loads((store / "store.json").read_text())
    assert meta["dataset"]["label_from"] == "ratings"
    assert meta["dataset"]["manifest_sha256"] == load_manifest(e6, label_from="ratings").sha256
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["-q", "fit", str(store), "--model", "logreg", "--task",
                                 "label", "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    record = json.loads(next(run_dir.rglob("run.json")).read_text())
    assert record["features"]["label_from"] == "ratings"
    assert "neutral" in record["classes"]


def _split(e6: Path, tmp_path: Path) -> Path:
    """Each class of the ratings rule in train and val, the rest in test (too few images
    for the stratified split)."""
    m = load_manifest(e6, label_from="ratings")
    seen: dict[str, int] = {}
    rows = []
    for image_id, label in zip(m.ids, m.labels, strict=True):
        seen[label] = seen.get(label, 0) + 1
        part = ("train", "val", "test")[min(seen[label], 3) - 1]
        rows.append(f"{image_id},{part}\n")
    path = tmp_path / "splits.csv"
    path.write_text("id,split\n" + "".join(rows))
    return path
