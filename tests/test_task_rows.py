"""Rows serve the tasks they can: OASIS images rated exactly on the midpoint have no binary
valence but keep their ratings, so the rating tasks use every rated image and the valence
and label tasks leave the midpoint ones out, counted."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from emofeat.datasets import describe, load_manifest
from emofeat.datasets.tasks import default_tasks, manifest_task_labels, served_tasks

from .test_group_splits import make_oasis

runner = CliRunner()
MIDPOINT = "neutral rating (exactly the midpoint 4), no binary valence"


def make_oasis_with_midpoints(root: Path) -> Path:
    """48 OASIS images; the first photo of each of the first three families on 4.0."""
    make_oasis(root)
    text = (root / "OASIS.csv").read_bytes().decode("utf-8").split("\r")
    for k in (1, 5, 9):
        cells = text[k].split(",")
        cells[4] = "4.0"
        text[k] = ",".join(cells)
    (root / "OASIS.csv").write_bytes("\r".join(text).encode("utf-8"))
    return root


def test_midpoint_images_serve_the_rating_tasks_only(tmp_path: Path) -> None:
    m = load_manifest(make_oasis_with_midpoints(tmp_path / "OASIS"))
    assert len(m) == 48 and m.counts()["neutral"] == 3 and not m.dropped
    assert served_tasks(m) == ["valence", "label", "valence_score", "arousal_score"]
    assert default_tasks(m) == ["valence"]  # label is the same two classes
    valence = manifest_task_labels(m, "valence")
    assert valence.n == 45 and valence.left_out == {MIDPOINT: 3}
    uses = describe(m)["task_images"]
    assert uses["valence_score"]["n_images"] == 48 and uses["label"]["n_images"] == 45


def test_fit_keeps_midpoint_images_for_ratings(tmp_path: Path) -> None:
    root = make_oasis_with_midpoints(tmp_path / "OASIS")
    store = tmp_path / "store"
    result = runner.invoke(app, ["-q", "extract", str(root), "--out", str(store), "--backbone",
                                 "tf_efficientnet_lite0", "--weights", "random", "--layers",
                                 "bn2", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    n = {}
    for model, task in (("ridge", "valence_score"), ("logreg", "valence")):
        out = tmp_path / f"{model}-{task}"
        result = runner.invoke(app, ["-q", "fit", str(store), "--model", model, "--task", task,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        n[task] = sum(json.loads((out / "run.json").read_text())["n"].values())
    assert n == {"valence_score": 48, "valence": 45}
