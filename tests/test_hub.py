"""--weights hub: the local cache first, a quick probe, one line when the hub is out of reach,
and the SHA-256 of what was loaded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from emofeat.backbones import backbone_from_record, create_backbone
from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_file

CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens on the discard port here


def offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TORCH_HOME"))}
    return {**env, "HF_ENDPOINT": CLOSED_PORT, "HF_HOME": str(tmp_path / "hf"),
            "TORCH_HOME": str(tmp_path / "torch")}


def test_unreachable_hub_fails_fast_in_one_line(tiny_demo: Path, tmp_path: Path) -> None:
    code = "from emofeat.cli.main import main; main()"
    args = ["-q", "extract", str(tiny_demo), "--out", str(tmp_path / "store"),
            "--backbone", "resnet18", "--weights", "hub"]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *args],
                            env=offline_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    elapsed = time.perf_counter() - started
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("emofeat: error: could not get hub weights for resnet18")
    assert "127.0.0.1:9" in lines[0] and "bundled" in lines[0] and "--weights FILE" in lines[0]
    assert lines[0].endswith("tf_efficientnet_lite2")  # whole, not cut mid-word
    assert elapsed < 20  # a generous bound: it takes a few seconds; timm's retries took ~50


def fake_hub_cache(cache: Path, model: str, tag: str) -> Path:
    """The layout huggingface_hub writes: refs/main names a snapshot holding the file."""
    repo = cache / f"models--timm--{model}.{tag}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        state = timm.create_model(model, pretrained=False).state_dict()
    path = repo / "snapshots" / "0123abcd" / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    return path


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", CLOSED_PORT)
    return fake_hub_cache(cache, "test_efficientnet", "r160_in1k")


def test_cached_hub_weights_load_offline_with_their_hash(offline_hub: Path) -> None:
    model, info = create_backbone("test_efficientnet", "hub", num_classes=3)
    assert (info.source, info.origin) == ("hub", "timm/test_efficientnet.r160_in1k")
    assert info.sha256 == sha256_file(offline_hub)
    saved = load_file(offline_hub)
    own = model.state_dict()
    body = [k for k in saved if not k.startswith("classifier.")]
    assert body and all(torch.equal(own[k], saved[k]) for k in body)
    assert own["classifier.weight"].shape[0] == 3  # a new head, as timm makes it
    assert "state_dict" not in model.pretrained_cfg
    _, pretrained = create_backbone("test_efficientnet", "pretrained")
    assert (pretrained.requested, pretrained.sha256) == ("pretrained", info.sha256)


def test_changed_hub_weights_are_refused(offline_hub: Path) -> None:
    _, info = create_backbone("test_efficientnet", "hub")
    backbone_from_record("test_efficientnet", info.to_dict())  # the same file: fine
    state = load_file(offline_hub)
    state["conv_stem.weight"] = state["conv_stem.weight"] + 1
    save_file(state, offline_hub)
    with pytest.raises(EmofeatError, match="differ from those recorded"):
        backbone_from_record("test_efficientnet", info.to_dict())
