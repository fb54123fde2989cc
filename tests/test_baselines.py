"""Baselines: the majority run and the hand-crafted colour store, on images made here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofeat.baselines import (
    COLOUR_BACKBONE,
    COLOUR_DIM,
    COLOUR_LAYER,
    colour_features,
    extract_colour,
    majority_run,
)
from emofeat.datasets import Manifest, load_manifest
from emofeat.extract import ExtractConfig
from emofeat.images import load_rgb
from emofeat.runs import Run
from emofeat.splits import Split
from emofeat.store import Store
from emofeat.taxonomy import EMOTIONS

HIST = 12 * 3 * 3  # hue x saturation x value bins, then 16 statistics
RED, GREY = (255, 0, 0), (128, 128, 128)


@pytest.fixture(scope="module")
def solid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifest, Split]:
    """Solid-colour PNGs: 7 amusement (red), 3 fear and 2 sadness (grey), with a split in
    which amusement is the most frequent training class."""
    root = tmp_path_factory.mktemp("solid") / "data"
    counts = {"amusement": (7, RED), "fear": (3, GREY), "sadness": (2, GREY)}
    for label, (n, colour) in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (32, 32), colour).save(root / label / f"{i}.png")
    where = {"amusement": ["train"] * 4 + ["val"] + ["test"] * 2,
             "fear": ["train", "train", "val"], "sadness": ["train", "test"]}
    split = Split({f"{label}/{i}.png": s for label, ss in where.items()
                   for i, s in enumerate(ss)})
    return load_manifest(root), split


def test_majority_run_files_and_numbers(solid: tuple[Manifest, Split], tmp_path: Path) -> None:
    manifest, split = solid
    record = majority_run(manifest, split, "emotion8", tmp_path / "run")
    run = Run.open(tmp_path / "run")
    assert record["kind"] == run.meta["kind"] == "baseline"
    assert run.meta["model"] == "majority" and "'amusement'" in run.meta["model_summary"]
    assert run.meta["n"] == {"train": 7, "val": 2, "test": 3}
    assert run.meta["splits_sha256"] == split.sha256
    preds = run.predictions()
    prior = np.zeros(len(EMOTIONS))
    prior[[EMOTIONS.index("amusement"), EMOTIONS.index("fear"),
           EMOTIONS.index("sadness")]] = [4 / 7, 2 / 7, 1 / 7]
    assert np.allclose(preds.scores, prior, atol=1e-6)  # every row: the train priors
    assert set(preds.y_pred) == {EMOTIONS.index("amusement")}
    test = run.metrics()["test"]
    assert test["n"] == 3
    assert test["accuracy"] == pytest.approx(2 / 3, abs=1e-4)  # 2 amusement of 3
    assert test["balanced_accuracy"] == pytest.approx(0.5)  # amusement 1, sadness 0


def test_colour_features_of_a_solid_red_image() -> None:
    f = colour_features(Image.new("RGB", (40, 20), RED))
    assert f.shape == (COLOUR_DIM,) and f.dtype == np.float32
    hist = f[:HIST]
    assert hist[0 * 9 + 2 * 3 + 2] == 1.0 and hist.sum() == pytest.approx(1.0)  # h 0, s 1, v 1
    stats = f[HIST:]
    assert stats[3] == pytest.approx(1.0) and stats[5] == pytest.approx(1.0)  # V, S means
    assert stats[7] == pytest.approx(0.69 + 0.22)  # pleasure
    assert stats[8] == pytest.approx(-0.31 + 0.60)  # arousal
    assert stats[10] == pytest.approx(0.3 * np.hypot(1.0, 0.5), rel=1e-5)  # colourfulness
    assert stats[13] == 0 and stats[15] == 0  # no edges, one grey level


def test_colour_store(solid: tuple[Manifest, Split], tmp_path: Path) -> None:
    manifest, split = solid
    out = extract_colour(manifest, tmp_path / "colour", split,
                         ExtractConfig(workers=0, shard_size=5))
    store = Store.open(out)
    assert store.meta["backbone"] == COLOUR_BACKBONE and store.meta["handcrafted"] is True
    assert [(la.name, la.dim) for la in store.layers] == [(COLOUR_LAYER, COLOUR_DIM)]
    assert store.meta["n_rows"] == 12 and store.meta["n_shards"] == 3
    assert store.splits_sha256 == split.sha256
    X = store.load(COLOUR_LAYER)
    for row, image_id in enumerate(store.ids):
        expected = colour_features(load_rgb(manifest.path(image_id)))
        assert np.array_equal(X[row], expected), image_id
    red = X[store.ids.index("amusement/0.png")]
    grey = X[store.ids.index("fear/0.png")]
    assert red[HIST + 5] == pytest.approx(1.0) and grey[HIST + 5] == pytest.approx(0.0)
