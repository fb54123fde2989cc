"""emofeat predict with images that cannot be read: predictions for the rest, the reason in
an error column, exit code 1 and one line on stderr."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofeat.classical import FitOptions
from emofeat.classical.run import fit_all
from emofeat.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict") / "run"
    fit_all(demo_store, ["logreg"], ["valence"], ["bn2"], out, grid=["C=0.01"],
            options=FitOptions(jobs=1))
    return out


@pytest.fixture
def photos(tiny_demo: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("awe/awe_0000.jpg", "fear/fear_0001.jpg"):
        shutil.copy(tiny_demo / name, folder / Path(name).name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    return folder


def test_failed_images_are_listed_and_the_exit_code_says_so(run_dir: Path, photos: Path,
                                                            tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", str(run_dir), str(photos), "--out",
                                 str(tmp_path / "p.csv"), "--device", "cpu"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emofeat: 1 of 3 images could not be read")
    assert "broken.jpg" in lines[0]
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert set(rows) == {"awe_0000.jpg", "fear_0001.jpg", "broken.jpg"}
    broken = rows["broken.jpg"]
    assert broken["label"] == "" and broken["probability_positive"] == "" and broken["error"]
    for name in ("awe_0000.jpg", "fear_0001.jpg"):
        assert rows[name]["label"] in ("negative", "positive") and rows[name]["error"] == ""
        assert 0.0 <= float(rows[name]["probability_positive"]) <= 1.0


def test_the_table_keeps_scores_and_errors_apart(run_dir: Path, photos: Path) -> None:
    result = runner.invoke(app, ["predict", str(run_dir), str(photos), "--device", "cpu"])
    assert result.exit_code == 1
    assert "error" in result.stdout and "could not be read" in result.stderr
    good = runner.invoke(app, ["predict", str(run_dir), str(photos / "awe_0000.jpg"),
                               "--device", "cpu"])
    assert good.exit_code == 0 and good.stderr == ""
    # logreg's class scores are probabilities, and the column says so
    header = good.stdout.splitlines()[1]
    assert "probability" in header and "score" not in header


def test_a_batch_size_below_one_is_refused(run_dir: Path, photos: Path) -> None:
    from emofeat.errors import EmofeatError
    from emofeat.predict import predict_images

    for size in (0, -1):
        with pytest.raises(EmofeatError, match="--batch-size must be at least 1"):
            predict_images(run_dir, [photos], batch_size=size)
    result = runner.invoke(app, ["predict", str(run_dir), str(photos), "--batch-size", "0"])
    assert result.exit_code == 2
