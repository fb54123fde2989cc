"""The report's pictures: the gallery of the reference run's most confident right and wrong
test images (thumbnails inline), the 2-D map of the best linear probe's features (PCA
without umap-learn), the by-layer curve with intervals, and a page that reads on a phone."""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from emofeat.report import compare, plots, read_report
from emofeat.report import featuremap as featuremap_module
from emofeat.report.gallery import picks
from emofeat.runs import (
    FeatureRun,
    FeaturesRecord,
    Predictions,
    Run,
    SearchRecord,
    finish_run,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.store.reader import Store
from emofeat.taxonomy import EMOTIONS

TASK = "emotion8"
THUMB = re.compile(r'<img alt="[^"]*" src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)">')


def _predictions(ids: list[str], y_true: np.ndarray, seed: int) -> Predictions:
    """Right on about half of the images, each with its own confidence (seeded)."""
    rng = np.random.default_rng(seed)
    k = len(EMOTIONS)
    y_pred = np.where(rng.random(len(ids)) < 0.5, y_true, (y_true + 1 + rng.integers(0, 6,
                                                                                     len(ids))) % k)
    scores = rng.random((len(ids), k)) * 0.3
    scores[np.arange(len(ids)), y_pred] = 0.4 + 0.6 * rng.random(len(ids))
    scores /= scores.sum(axis=1, keepdims=True)
    return Predictions(list(ids), ["test"] * len(ids), y_true, y_pred, scores, EMOTIONS)


def feature_run(run_dir: Path, store_path: Path, layer: str, val_score: float, seed: int,
                weights: str = "bundled", model: str = "logreg") -> Path:
    """A run of ``model`` on the store's ``layer``, with seeded predictions of its test
    images (labels from the store)."""
    store = Store.open(store_path)
    ids = store.split().ids("test")
    label = dict(zip(store.ids, store.labels, strict=True))
    y_true = np.array([EMOTIONS.index(label[i]) for i in ids])
    prepare_run_dir(run_dir)
    (run_dir / "model.skops").write_bytes(b"stand-in model file")
    rec = store.record
    features = FeaturesRecord(
        store=str(store_path), store_sha256=store.sha256, backbone=rec.backbone,
        weights={"source": weights}, manifest_sha256=rec.dataset.manifest_sha256,
        dataset_format=rec.dataset.format, data_config={},
        layers=tuple(la for la in rec.layers if la.name == layer), layer_order=(layer,),
        store_layers=tuple(rec.layer_names), pooling=rec.pooling, precision=rec.precision,
        dtype=rec.dtype)
    record = FeatureRun(
        kind="classical", model=model, model_summary=model, task=TASK, layer=layer,
        features=features, splits_sha256=rec.splits_sha256, options={}, hyperparameters={},
        search=SearchRecord("balanced_accuracy on val", {},
                            ({"val_balanced_accuracy": val_score},)),
        refit_on=("train", "val"), score_kind="probability", n={"test": len(ids)}, timings={},
        model_files=(model_file_entry(run_dir, "model.skops"),))
    finish_run(run_dir, record, _predictions(ids, y_true, seed))
    return run_dir


def _runs(root: Path, store: Path) -> Path:
    """The probe of bn2 (best on val: the reference), of blocks.6, and an SVM of bn2."""
    feature_run(root / "probe-bn2", store, "bn2", 0.9, seed=1)
    feature_run(root / "probe-b6", store, "blocks.6", 0.6, seed=2)
    feature_run(root / "svm-bn2", store, "bn2", 0.7, seed=3, model="svm")
    return root


@pytest.fixture
def no_umap(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import umap`` fails, whether or not umap-learn is installed."""
    monkeypatch.setitem(sys.modules, "umap", None)


def _expected_picks(run_dir: Path) -> int:
    test = Run.open(run_dir).predictions().select("test")
    n = 0
    for k in range(len(EMOTIONS)):
        right = int(((test.y_true == k) & (test.y_pred == k)).sum())
        wrong = int(((test.y_true == k) & (test.y_pred != k)).sum())
        n += min(right, 2) + min(wrong, 2)
    return n


def test_gallery_map_and_layer_curve(demo_store: Path, tmp_path: Path, no_umap: None) -> None:
    runs = _runs(tmp_path / "runs", demo_store)
    compare([runs], tmp_path / "report", seed=0)
    task = read_report(tmp_path / "report" / "report.json").tasks[TASK]
    assert task.reference == "probe-bn2"
    # the gallery: the reference run's picks, each with its thumbnail inline
    gallery = task.gallery
    assert gallery is not None and gallery.run == "probe-bn2" and gallery.note is None
    n = _expected_picks(runs / "probe-bn2")
    assert len(gallery.images) == n > 4
    page = (tmp_path / "report" / "report.html").read_text()
    thumbs = THUMB.findall(page)
    assert len(thumbs) == n
    assert all(len(t) < 12_000 for t in thumbs)  # small JPEGs
    cards = re.findall(r"<figure class=(right|wrong)[^>]*>.*?</figure>", page, re.S)
    assert len(cards) == n
    wrong = next(i for i in gallery.images if i.kind == "wrong")
    assert wrong.true != wrong.predicted
    assert (f"<b>wrong</b> · {wrong.id}<br>true: {wrong.true}<br>predicted: {wrong.predicted}"
            f"<br>probability {wrong.confidence:.3f}") in page
    # most confident first within a class and kind
    for k in EMOTIONS:
        for kind in ("right", "wrong"):
            conf = [i.confidence for i in gallery.images if i.true == k and i.kind == kind]
            assert conf == sorted(conf, reverse=True)
    # the 2-D map: PCA without umap-learn, the caption says so
    fmap = task.feature_map
    assert fmap is not None and fmap.method == "PCA" and fmap.run == "probe-bn2"
    assert fmap.layer == "bn2" and fmap.n_points == fmap.n_images == task.n_test
    assert "PCA" in fmap.caption and "umap-learn is not installed" in fmap.caption
    assert f"all {task.n_test} test images" in fmap.caption
    assert re.search(r'<img alt="emotion8 2-D feature map" src="data:image/png;base64,', page)
    assert f"<figcaption>{fmap.caption}</figcaption>" in page
    # the layer curve exists and carries the runs table's intervals
    assert '<img alt="by layer" src="data:image/png;base64,' in page
    layers, series = plots.layer_data(task, {s: "pretrained" for s in task.by_layer},
                                      ["blocks.6", "bn2"])
    rows = {r.run: r for r in task.rows}
    probe = next(s for s in series if s.label.startswith("logreg"))
    assert layers == ["blocks.6", "bn2"]
    assert probe.ci == (rows["probe-b6"].metrics["balanced_accuracy"].ci,
                        rows["probe-bn2"].metrics["balanced_accuracy"].ci)
    # report.md names the pictures and points at report.html
    md = (tmp_path / "report" / "report.md").read_text()
    assert "### Gallery" in md and "The thumbnails are in report.html." in md
    assert f"| {wrong.true} | wrong | {wrong.id} | {wrong.predicted} |" in md
    assert "### 2-D map of the features" in md and "The figure is in report.html." in md


def test_page_reads_on_a_phone(demo_store: Path, tmp_path: Path, no_umap: None) -> None:
    compare([_runs(tmp_path / "runs", demo_store)], tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text()
    assert '<meta name=viewport content="width=device-width, initial-scale=1">' in page
    assert "img{max-width:100%;height:auto}" in page
    assert ".gallery{display:flex;flex-wrap:wrap" in page and "@media (max-width:600px)" in page
    # every table scrolls sideways in its own box
    assert page.count("<table>") == page.count("<div class=scroll><table>") > 0
    assert ".scroll{overflow-x:auto}" in page
    # self-contained: no external resources
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "<link" not in page


def test_missing_image_is_one_line_not_a_crash(demo_store: Path, tiny_demo: Path,
                                               tmp_path: Path, no_umap: None,
                                               caplog: pytest.LogCaptureFixture) -> None:
    # a copy of the data and of the store, its store.json pointing at the copy
    data = shutil.copytree(tiny_demo, tmp_path / "data")
    store = shutil.copytree(demo_store, tmp_path / "store")
    meta = json.loads((store / "store.json").read_text())
    meta["dataset_root"] = str(data)
    (store / "store.json").write_text(json.dumps(meta))
    runs = _runs(tmp_path / "runs", store)
    gone = picks(Run.open(runs / "probe-bn2").predictions().select("test"))[0].id
    (data / gone).unlink()
    with caplog.at_level("WARNING"):
        compare([runs], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").tasks[TASK]
    note = task.gallery.note
    assert note is not None and "\n" not in note
    assert note.startswith(f"1 of {len(task.gallery.images)} gallery images could not be read")
    assert gone in note and "gallery" in caplog.text
    page = (tmp_path / "report" / "report.html").read_text()
    assert f"<p class=warn>{note}</p>" in page
    assert len(THUMB.findall(page)) == len(task.gallery.images) - 1
    assert page.count("<div class=noimg>no image</div>") == 1
    assert task.feature_map.method == "PCA"  # the store is fine: the map is drawn


def test_no_store_gives_notes_not_a_crash(demo_store: Path, tmp_path: Path) -> None:
    runs = _runs(tmp_path / "runs", demo_store)
    for run in runs.iterdir():  # the store moved away after the runs were made
        meta = json.loads((run / "run.json").read_text())
        meta["features"]["store"] = str(tmp_path / "gone")
        (run / "run.json").write_text(json.dumps(meta))
    compare([runs], tmp_path / "report")
    task = read_report(tmp_path / "report" / "report.json").tasks[TASK]
    assert task.gallery.note.startswith("Thumbnails left out")
    assert task.feature_map.method is None
    assert task.feature_map.caption.startswith("No 2-D map: the features of probe-bn2")
    page = (tmp_path / "report" / "report.html").read_text()
    assert not THUMB.findall(page) and 'alt="emotion8 2-D feature map"' not in page
    assert "No 2-D map" in (tmp_path / "report" / "report.md").read_text()


def test_map_subsample_is_seeded_and_umap_is_used_when_there(
        demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeUMAP:
        def __init__(self, n_components: int, n_neighbors: int, random_state: int) -> None:
            self.seed = random_state

        def fit_transform(self, x: np.ndarray) -> np.ndarray:
            return np.random.default_rng(self.seed).normal(size=(len(x), 2))

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    monkeypatch.setattr(featuremap_module, "MAX_POINTS", 12)
    monkeypatch.setattr(featuremap_module, "UMAP_NEIGHBOURS", 5)
    runs = _runs(tmp_path / "runs", demo_store)
    one = compare([runs], tmp_path / "r1", seed=3)["tasks"][TASK]["feature_map"]
    two = compare([runs], tmp_path / "r2", seed=3)["tasks"][TASK]["feature_map"]
    assert one == two and one["method"] == "UMAP" and one["n_points"] == 12
    assert one["caption"].startswith("2-D map by UMAP: UMAP (umap-learn")
    assert f"12 of its {one['n_images']} test images (a random subsample, seed 3)" in \
        one["caption"]
