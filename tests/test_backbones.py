"""Backbones: weights resolution, preprocessing, layer taps, pooling parity with timm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from emofeat.backbones import (
    BUNDLED,
    create_backbone,
    data_config,
    eval_transform,
    lukemelas_to_timm,
    probe_layers,
    resolve_layers,
    tap,
)
from emofeat.errors import EmofeatError
from emofeat.frozen import FeatureModel
from emofeat.pooling import pool


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    model, info = create_backbone("tf_efficientnet_lite0", "bundled")
    assert info.source == "bundled" and info.sha256 and "efficientnet-lite0" in info.origin
    return model


@pytest.mark.parametrize(("model_fixture", "layer"), [("irv2", "conv2d_7b"), ("lite0", "bn2")])
def test_last_layer_pooled_equals_timm_pre_logits(model_fixture: str, layer: str,
                                                  request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(model_fixture)
    size = data_config(model)["input_size"]
    x = torch.randn(2, *size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
    ours = FeatureModel(model, [layer], "avg", torch.device("cpu"), "fp32", micro_batch=2)(x)
    assert np.abs(ours[layer] - expected.numpy()).max() <= 1e-4


def test_bundled_lite0_recognises_real_photos(lite0: torch.nn.Module) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    transform = eval_transform(data_config(lite0))
    info = timm.data.ImageNetInfo()

    def top5(image: np.ndarray) -> list[str]:
        x = transform(Image.fromarray(image).convert("RGB")).unsqueeze(0)
        with torch.inference_mode():
            idx = lite0(x).topk(5).indices[0].tolist()
        return [info.index_to_description(i) for i in idx]

    cat = top5(skimage_data.chelsea())
    assert "cat" in cat[0], cat
    assert sum("cat" in c for c in cat) >= 3, cat
    coffee = top5(skimage_data.coffee())
    assert coffee[0] == "espresso" and any("cup" in c for c in coffee), coffee


def test_data_config_comes_from_the_model(lite0: torch.nn.Module,
                                          irv2: torch.nn.Module) -> None:
    cfg = data_config(lite0)
    assert cfg["input_size"] == [3, 224, 224] and cfg["crop_pct"] == 0.875
    assert cfg["interpolation"] == "bicubic" and cfg["mean"] == [0.5, 0.5, 0.5]
    cfg = data_config(irv2)
    assert cfg["input_size"] == [3, 299, 299] and cfg["crop_pct"] == 0.8975


def test_irv2_default_layer_dims(irv2: torch.nn.Module) -> None:
    layers = resolve_layers(irv2, ["repeat_1", "repeat_2", "conv2d_7b"], (3, 299, 299))
    assert [(la.channels, la.stride) for la in layers] == [(1088, 16), (2080, 32), (1536, 32)]


def test_unknown_layer_lists_valid_ones() -> None:
    model, _ = create_backbone("tf_efficientnet_lite0", "random")
    with pytest.raises(EmofeatError, match=r"unknown layer\(s\) nope.*valid layers: .*blocks\.5"):
        resolve_layers(model, ["bn2", "nope"], (3, 224, 224))


def test_random_weights_are_seeded() -> None:
    a, info = create_backbone("tf_efficientnet_lite0", "random", seed=3)
    b, _ = create_backbone("tf_efficientnet_lite0", "random", seed=3)
    c, _ = create_backbone("tf_efficientnet_lite0", "random", seed=4)
    assert info.source == "random" and info.seed == 3
    assert torch.equal(a.conv_stem.weight, b.conv_stem.weight)
    assert not torch.equal(a.conv_stem.weight, c.conv_stem.weight)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_file(tmp_path: Path, suffix: str) -> None:
    source, _ = create_backbone("tf_efficientnet_lite0", "random", seed=11)
    path = tmp_path / f"w{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    model, info = create_backbone("tf_efficientnet_lite0", str(path))
    assert info.source == "file" and len(info.sha256) == 64
    for (k, v), w in zip(model.state_dict().items(), state.values(), strict=True):
        assert torch.equal(v, w), k


def test_weights_file_in_lukemelas_naming_is_converted(tmp_path: Path, lite0) -> None:
    raw = torch.load(BUNDLED["tf_efficientnet_lite0"].file(), weights_only=True)
    renamed = lukemelas_to_timm(raw, lite0)
    assert len(renamed) == len(raw) == len(lite0.state_dict())
    path = tmp_path / "lukemelas.pth"
    torch.save(raw, path)
    model, _ = create_backbone("tf_efficientnet_lite0", str(path))
    assert torch.equal(model.bn2.weight, lite0.bn2.weight)


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    other, _ = create_backbone("resnet18", "random")
    path = tmp_path / "resnet.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(EmofeatError, match="does not fit"):
        create_backbone("tf_efficientnet_lite0", str(path))
    with pytest.raises(EmofeatError, match="does not exist"):
        create_backbone("tf_efficientnet_lite0", str(tmp_path / "missing.pth"))


def test_bad_names_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built before the arguments were checked")

    monkeypatch.setattr(timm, "create_model", no_build)
    with pytest.raises(EmofeatError, match=r"did you mean.*inception_resnet_v2"):
        create_backbone("inception_resnet_v3", "random")
    with pytest.raises(EmofeatError, match="bundled weights exist for: tf_efficientnet_lite0"):
        create_backbone("inception_resnet_v2", "bundled")
    with pytest.raises(EmofeatError, match="--weights must be one of"):
        create_backbone("tf_efficientnet_lite0", "imagenet")
    with pytest.raises(EmofeatError, match="does not exist"):
        create_backbone("inception_resnet_v2", str(tmp_path / "missing.pth"))


def test_hub_offline_names_the_alternatives(tmp_path: Path) -> None:
    code = ("from emofeat.backbones import create_backbone\n"
            "create_backbone('resnet18', 'hub')\n")
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "TORCH_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "could not get hub weights for resnet18" in result.stderr
    assert "--weights FILE" in result.stderr and "tf_efficientnet_lite0" in result.stderr


def test_tap_removes_its_hooks(lite0: torch.nn.Module) -> None:
    x = torch.zeros(1, 3, 64, 64)
    with pytest.raises(RuntimeError, match="boom"), tap(lite0, ["blocks.6", "bn2"]) as out:
        lite0(x)
        assert set(out) == {"blocks.6", "bn2"}
        raise RuntimeError("boom")
    assert not any(m._forward_hooks for m in lite0.modules())


def test_pooling_variants() -> None:
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    assert torch.equal(pool(x, "avg"), x.mean(dim=(2, 3)))
    assert torch.equal(pool(x, "max"), x.amax(dim=(2, 3)))
    assert pool(x, "avgmax").shape == (2, 6)
    tokens = torch.randn(2, 5, 4)
    assert torch.allclose(pool(tokens, "avg"), tokens.mean(dim=1))


def test_probe_reports_strides(lite0: torch.nn.Module) -> None:
    infos = {i.name: i for i in probe_layers(lite0, (3, 224, 224))}
    assert (infos["blocks.3"].channels, infos["blocks.3"].stride) == (80, 16)
    assert (infos["bn2"].channels, infos["bn2"].stride) == (1280, 32)
    assert "classifier" not in infos


def test_token_outputs_pool_the_patch_tokens_only() -> None:
    """A ViT's class and register tokens are not averaged into its layer features."""
    import timm

    from emofeat.backbones import tap
    from emofeat.backbones.layers import prefix_tokens

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32,
                              reg_tokens=2, no_embed_class=True).eval()
    assert prefix_tokens(model) == 3
    seen: dict[str, torch.Tensor] = {}
    handle = model.blocks[0].register_forward_hook(lambda m, i, o: seen.update(out=o))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), tap(model, ["blocks.0"], "avg") as pooled:
        model(x)
    handle.remove()
    tokens = seen["out"]
    assert tokens.shape == (2, 3 + 4, 192)
    assert torch.allclose(pooled["blocks.0"], tokens[:, 3:].mean(1), atol=1e-6)
    assert not torch.allclose(pooled["blocks.0"], tokens.mean(1), atol=1e-4)
