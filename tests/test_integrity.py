"""Every file a result depends on is hashed, and a changed one is refused before it is used:
store shards, a run's model files, and the backbone weights predict re-creates. Files are
read without unpickling anything but tensors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from emofeat.backbones import create_backbone
from emofeat.classical import FitOptions
from emofeat.classical.run import fit_all
from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, extract
from emofeat.report import compare
from emofeat.runs import Run
from emofeat.store import Store

from .conftest import write_image

runner = CliRunner()
FAST = FitOptions(jobs=1)


def flip_byte(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_shard_is_refused(demo_store: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(demo_store, tmp_path / "store"))
    flip_byte(copy / "shard-00001.h5", at=0.9)  # in the feature data: h5py reads it happily
    with pytest.raises(EmofeatError, match=r"shard-00001\.h5 does not match its SHA-256"):
        Store.open(copy).load("bn2")
    with pytest.raises(EmofeatError, match=r"shard-00001\.h5 does not match its SHA-256"):
        _ = Store.open(copy).labels
    fit = runner.invoke(app, ["fit", str(copy), "--out", str(tmp_path / "run"), "--layer",
                              "bn2", "--jobs", "1"])
    assert fit.exit_code == 2 and "does not match its SHA-256" in fit.stderr
    assert not (tmp_path / "run" / "run.json").exists()
    inspect = runner.invoke(app, ["inspect", str(copy), "--verify"])
    assert inspect.exit_code == 1 and "shard-00001.h5: SHA-256 differs" in inspect.stdout


@pytest.mark.parametrize(("model", "file"), [("logreg", "model.skops"),
                                             ("lightgbm", "model.lgb.txt")])
def test_a_flipped_byte_in_a_model_file_is_refused(demo_store: Path, tiny_demo: Path,
                                                   tmp_path: Path, model: str,
                                                   file: str) -> None:
    run_dir = tmp_path / "runs" / "run"
    fit_all(demo_store, [model], ["valence"], ["bn2"], run_dir, options=FAST,
            grid=["C=0.01"] if model == "logreg" else ["num_leaves=4"])
    flip_byte(run_dir / file)
    with pytest.raises(EmofeatError, match=r"does not match the SHA-256 in run\.json"):
        Run.open(run_dir).model_path(file)
    result = runner.invoke(app, ["predict", str(run_dir), str(tiny_demo / "awe")])
    assert result.exit_code == 2 and "does not match the SHA-256 in run.json" in result.stderr
    with pytest.raises(EmofeatError, match=r"does not match the SHA-256 in run\.json"):
        compare([tmp_path / "runs"], tmp_path / "report")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small") / "data"
    for k, label in enumerate(("amusement", "sadness")):
        for i in range(4):
            write_image(root / label / f"{i}.png", seed=10 * k + i, size=32)
    return root


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save(state, path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_predict_refuses_weights_that_changed_since_the_run(small_data: Path, tmp_path: Path,
                                                            suffix: str) -> None:
    model, _ = create_backbone("tf_efficientnet_lite0", "random", seed=3)
    weights = tmp_path / f"lite0{suffix}"
    state = model.state_dict()
    save_weights(weights, state)
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights=str(weights),
                           layers=["bn2"], workers=0)
    store = extract(load_manifest(small_data), tmp_path / "store", config)
    assert Store.open(store).record.weights["source"] == "file"
    fit_all(store, ["logreg"], ["valence"], ["bn2"], tmp_path / "run", options=FAST,
            grid=["C=0.01"])
    image = str(small_data / "sadness" / "0.png")
    assert runner.invoke(app, ["predict", str(tmp_path / "run"), image]).exit_code == 0
    state["conv_stem.weight"] = state["conv_stem.weight"] * 1.01
    save_weights(weights, state)
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), image])
    assert result.exit_code == 2
    assert "differ from those recorded" in result.stderr and str(weights) in result.stderr


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_a_weights_file_that_unpickles_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"conv_stem.weight": torch.zeros(1), "x": _Payload(marker)}, evil)
    with pytest.raises(EmofeatError, match="cannot read weights from"):
        create_backbone("tf_efficientnet_lite0", str(evil))
    assert not marker.exists()
