"""emofeat finetune: a real (tiny) fine-tuning of timm models on images the tests make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import emofeat.loading
from emofeat.backbones import create_backbone
from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.finetune import FinetuneConfig, finetune
from emofeat.predict import predict_images
from emofeat.runs import Run
from emofeat.splits import Split, make_split, write_split
from emofeat.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """Learnable toy problem: bright warm noise (amusement) vs dark cool noise (sadness)."""
    root = tmp_path_factory.mktemp("toy") / "data"
    rng = np.random.default_rng(0)
    for label, base in (("amusement", (200, 120, 60)), ("sadness", (40, 50, 90))):
        (root / label).mkdir(parents=True)
        for i in range(14):
            arr = np.clip(rng.normal(base, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / label / f"{i:02d}.png")
    return root


def small(**kwargs) -> FinetuneConfig:
    base = dict(weights="random", task="valence", epochs=3, batch_size=8, lr=2e-3,
                img_size=32, workers=0, device="cpu", patience=5, warmup_epochs=0.5)
    return FinetuneConfig(**{**base, **kwargs})


def split_of(root: Path) -> tuple:
    manifest = load_manifest(root)
    return manifest, make_split(manifest, (0.6, 0.2, 0.2), seed=0)


@pytest.fixture(scope="module")
def toy_run(toy: Path, tmp_path_factory) -> Path:
    manifest, split = split_of(toy)
    out = tmp_path_factory.mktemp("ft") / "run"
    # partial fine-tuning of pretrained Lite0 learns this in a few steps
    finetune(manifest, split, out, small(epochs=4, weights="bundled", freeze_until="blocks.5",
                                         lr=3e-3, img_size=64))
    return out


def test_loss_falls_and_files_match_the_fit_format(toy_run: Path) -> None:
    run = Run.open(toy_run)
    meta = run.meta
    assert meta["kind"] == "finetune" and meta["model"] == "tf_efficientnet_lite0"
    history = meta["history"]
    assert len(history) == 4
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_balanced_accuracy"] for h in history) >= 0.8
    assert 1 <= meta["best_epoch"] <= 4
    assert meta["weights"]["source"] == "bundled"
    assert meta["layer"] == "from blocks.5"
    assert run.predictions().metrics_by_split(in_sample=("train",)) == run.metrics()
    assert meta["n"] == {"train": 16, "val": 6, "test": 6}
    run.verify_model_files()
    assert not (toy_run / "checkpoint-last.pt").exists()


def test_predict_with_a_finetuned_run(toy_run: Path, toy: Path) -> None:
    run = Run.open(toy_run)
    preds = run.predictions()
    classes, rows = predict_images(toy_run, [toy / i for i in preds.ids], device="cpu")
    scores = np.array([[r.scores[c] for c in classes] for r in rows])
    assert np.allclose(scores, preds.scores, atol=1e-5)


class Stop(Exception):
    pass


def test_resume_equals_uninterrupted(toy: Path, tmp_path: Path) -> None:
    manifest, split = split_of(toy)
    finetune(manifest, split, tmp_path / "whole", small())

    def stop_after_first(record: dict) -> None:
        if record["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        finetune(manifest, split, tmp_path / "resumed", small(), on_epoch=stop_after_first)
    assert (tmp_path / "resumed" / "checkpoint-last.pt").exists()
    assert not (tmp_path / "resumed" / "run.json").exists()
    with pytest.raises(EmofeatError, match="interrupted fine-tuning run; pass --resume"):
        finetune(manifest, split, tmp_path / "resumed", small())
    with pytest.raises(EmofeatError, match=r"different settings \(lr: checkpoint has 0.002"):
        finetune(manifest, split, tmp_path / "resumed", small(lr=1e-3), resume=True)
    finetune(manifest, split, tmp_path / "resumed", small(), resume=True)
    for name in ("predictions.csv", "metrics.json", "model.safetensors"):
        assert (tmp_path / "resumed" / name).read_bytes() == \
               (tmp_path / "whole" / name).read_bytes(), name
    assert len(Run.open(tmp_path / "resumed").meta["history"]) == 3


def test_test_split_is_read_only_at_the_end(toy: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    manifest, split = split_of(toy)
    events: list[str] = []
    real = emofeat.loading.load_rgb

    def recording(path):
        events.append(str(path))
        return real(path)

    monkeypatch.setattr(emofeat.loading, "load_rgb", recording)
    finetune(manifest, split, tmp_path / "r", small(epochs=2),
             on_epoch=lambda r: events.append(f"end of epoch {r['epoch']}"))
    test_paths = {str(manifest.path(i)) for i in split.ids("test")}
    last_epoch = events.index("end of epoch 2")
    assert not test_paths & set(events[:last_epoch])
    assert test_paths <= set(events[last_epoch:])


def test_freeze_until_trains_only_the_top(toy: Path, tmp_path: Path) -> None:
    manifest, split = split_of(toy)
    finetune(manifest, split, tmp_path / "r", small(weights="bundled", freeze_until="blocks.6",
                                                    epochs=1))
    trained = load_file(tmp_path / "r" / "model.safetensors")
    start, _ = create_backbone("tf_efficientnet_lite0", "bundled")
    assert torch.equal(trained["conv_stem.weight"], start.conv_stem.weight)
    assert torch.equal(trained["blocks.5.0.bn1.running_mean"], start.blocks[5][0].bn1.running_mean)
    assert not torch.equal(trained["blocks.6.0.conv_pw.weight"], start.blocks[6][0].conv_pw.weight)


def no_val_split(toy: Path, tmp_path: Path) -> Path:
    _, split = split_of(toy)
    moved = {k: ("train" if v == "val" else v) for k, v in split.assignment.items()}
    write_split(Split(moved), tmp_path / "s.csv")
    return tmp_path / "s.csv"


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "cuda"], "no CUDA GPU" if not torch.cuda.is_available() else None),
    (["--splits", "NOVAL"], "the split has no val images"),
    (["--backbone", "tf_efficientnet_lite9"], "did you mean"),
    (["--freeze-until", "blocks.99"], "--freeze-until: no layer 'blocks.99'; layers: "),
    (["--resume"], "has no checkpoint to resume from"),
    (["--balance", "oversample"], "--balance must be one of loss, sampler, none"),
])
def test_cli_bad_input(toy: Path, tmp_path: Path, args: list[str], message: str | None) -> None:
    if message is None:
        pytest.skip("a GPU is present")
    args = [str(no_val_split(toy, tmp_path)) if a == "NOVAL" else a for a in args]
    result = runner.invoke(app, ["finetune", str(toy), "--out", str(tmp_path / "run"),
                                 "--weights", "random", "--img-size", "32", "--epochs", "1",
                                 "--workers", "0", "--task", "valence", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "run" / "run.json").exists()


def test_cli_finetune_with_store_split(toy: Path, tmp_path: Path) -> None:
    from emofeat.extract import ExtractConfig, extract

    manifest = load_manifest(toy)
    store = extract(manifest, tmp_path / "store", ExtractConfig(
        backbone="tf_efficientnet_lite0", weights="random", layers=["bn2"], workers=0))
    result = runner.invoke(app, ["finetune", str(toy), "--out", str(tmp_path / "run"),
                                 "--splits-from", str(store), "--weights", "random",
                                 "--img-size", "32", "--epochs", "1", "--workers", "0",
                                 "--task", "valence", "--balance", "sampler"])
    assert result.exit_code == 0, result.output
    assert "epoch 1/1: loss" in result.stdout
    run = Run.open(tmp_path / "run")
    assert run.meta["splits_sha256"] == Store.open(store).splits_sha256


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_paths_run_on_cpu(toy: Path, tmp_path: Path, precision: str) -> None:
    """The autocast (and, for fp16, gradient scaling) paths used on CUDA, exercised on CPU."""
    manifest, split = split_of(toy)
    record = finetune(manifest, split, tmp_path / "r", small(epochs=1, precision=precision))
    assert record["hyperparameters"]["precision"] == precision
    assert np.isfinite(record["history"][0]["train_loss"])


def test_the_seed_governs_the_new_head() -> None:
    from emofeat.backbones import create_backbone
    from emofeat.finetune.model import small_head

    def head_after(seed: int) -> torch.Tensor:
        model, _ = create_backbone("tf_efficientnet_lite0", "random", num_classes=3)
        small_head(model, seed)
        return model.get_classifier().weight.detach().clone()

    assert torch.equal(head_after(1), head_after(1))
    assert not torch.equal(head_after(0), head_after(1))
    assert head_after(2).std() < 0.02
