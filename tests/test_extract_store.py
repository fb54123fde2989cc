"""Extraction into the feature store: files, resume, refusals, bad images, precision."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from emofeat.backbones import create_backbone
from emofeat.cli.main import app
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.extract import ExtractConfig, extract
from emofeat.frozen import FeatureModel
from emofeat.hashing import sha256_file
from emofeat.images import load_rgb
from emofeat.splits import make_split, write_split
from emofeat.store import Store, open_for_writing

LITE0 = {"backbone": "tf_efficientnet_lite0", "weights": "random", "workers": 0,
         "batch_size": 8}


def config(**kwargs) -> ExtractConfig:
    return ExtractConfig(**{**LITE0, "shard_size": 24, **kwargs})


@pytest.fixture(scope="module")
def store_once(tiny_demo: Path, tmp_path_factory) -> Path:
    """The tiny demo set (80 images) extracted in one go, in 4 shards of 24 rows."""
    out = tmp_path_factory.mktemp("store") / "once"
    return extract(load_manifest(tiny_demo), out, config())


def test_store_files_and_metadata(store_once: Path, tiny_demo: Path) -> None:
    names = sorted(p.name for p in store_once.iterdir() if not p.name.startswith("."))
    assert names == ["failed.csv", "shard-00000.h5", "shard-00001.h5", "shard-00002.h5",
                     "shard-00003.h5", "splits.csv", "store.json"]
    meta = json.loads((store_once / "store.json").read_text())
    assert meta["status"] == "complete" and meta["n_rows"] == 80 and meta["n_failed"] == 0
    assert meta["backbone"] == "tf_efficientnet_lite0"
    assert meta["weights"] == {"requested": "random", "source": "random", "origin": None,
                               "sha256": None, "seed": 0}
    assert meta["data_config"]["input_size"] == [3, 224, 224]
    assert [(la["name"], la["dim"]) for la in meta["layers"]] == [
        ("blocks.5", 192), ("blocks.6", 320), ("bn2", 1280)]
    assert meta["dataset"]["manifest_sha256"] == load_manifest(tiny_demo).sha256
    assert meta["splits_sha256"] == sha256_file(store_once / "splits.csv")
    assert {"torch", "timm", "emofeat", "h5py"} <= set(meta["versions"])
    assert [s["rows"] for s in meta["shards"]] == [24, 24, 24, 8]
    for shard in meta["shards"]:
        assert sha256_file(store_once / shard["file"]) == shard["sha256"]


def test_plain_h5py_reads_a_shard(store_once: Path) -> None:
    with h5py.File(store_once / "shard-00000.h5", "r") as f:
        ids = [x.decode() for x in f["ids"][...]]
        assert ids[:2] == ["amusement/amusement_0000.jpg", "amusement/amusement_0001.jpg"]
        assert f["labels"][0].decode() == "amusement"
        feats = f["features/bn2"]
        assert feats.shape == (24, 1280) and feats.dtype == np.float32
        assert feats.attrs["channels"] == 1280 and feats.attrs["stride"] == 32


def test_store_reader(store_once: Path, tiny_demo: Path) -> None:
    store = Store.open(store_once)
    manifest = load_manifest(tiny_demo)
    assert store.ids == list(manifest.ids)
    assert store.labels == list(manifest.labels)
    full = store.load("blocks.6")
    assert full.shape == (80, 320) and np.isfinite(full).all()
    picked = store.load("blocks.6", ids=[store.ids[50], store.ids[3]])
    assert np.array_equal(picked, full[[50, 3]])
    assert store.verify() == []
    with pytest.raises(EmofeatError, match=r"its layers: blocks\.5, blocks\.6, bn2"):
        store.load("conv_head")


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_identical_bytes(store_once: Path, tiny_demo: Path,
                                                    tmp_path: Path) -> None:
    manifest = load_manifest(tiny_demo)
    out = tmp_path / "resumed"

    def stop_after_two_shards(done: int, total: int) -> None:
        if done >= 50:
            raise Interrupt

    with pytest.raises(Interrupt):
        extract(manifest, out, config(), progress=stop_after_two_shards)
    meta = json.loads((out / "store.json").read_text())
    assert meta["status"] == "incomplete" and len(meta["shards"]) == 2
    with pytest.raises(EmofeatError, match=r"incomplete.*resume"):
        Store.open(out)
    # damage one finished shard: it must be redone, not trusted
    (out / "shard-00001.h5").write_bytes(b"garbage")
    seen: list[int] = []
    extract(manifest, out, config(), progress=lambda d, t: seen.append(t))
    assert seen[-1] == 80 - 24  # only shards 1..3 were redone
    for name in ("shard-00000.h5", "shard-00001.h5", "shard-00002.h5", "shard-00003.h5",
                 "splits.csv", "failed.csv"):
        assert (out / name).read_bytes() == (store_once / name).read_bytes(), name
    assert Store.open(out).verify() == []


def test_other_configuration_is_refused(store_once: Path, tiny_demo: Path,
                                        tmp_path: Path) -> None:
    manifest = load_manifest(tiny_demo)
    out = tmp_path / "s"
    extract(manifest, out, config(layers=["bn2"]))
    with pytest.raises(EmofeatError, match=r"another configuration \(pooling: store has \"avg\""):
        extract(manifest, out, config(layers=["bn2"], pooling="max"))
    extract(manifest, out, config(layers=["bn2"], pooling="max", overwrite=True))
    assert Store.open(out).meta["pooling"] == "max"


def test_second_writer_is_refused(store_once: Path, tiny_demo: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_demo)
    meta = json.loads((store_once / "store.json").read_text())
    with open_for_writing(tmp_path / "s", {**meta, "shard_size": 10}, len(manifest),
                          make_split(manifest)), \
         pytest.raises(EmofeatError, match="another emofeat process is writing"):
        extract(manifest, tmp_path / "s", config())


def test_given_split_is_copied(tiny_demo: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_demo)
    split = make_split(manifest, seed=9)
    write_split(split, tmp_path / "mine.csv")
    out = extract(manifest, tmp_path / "s", config(layers=["bn2"], shard_size=100), split=split)
    assert (out / "splits.csv").read_bytes() == (tmp_path / "mine.csv").read_bytes()
    assert Store.open(out).splits_sha256 == split.sha256


# ------------------------------------------------------------------ bad and odd images


def make_odd_images(root: Path) -> dict[str, str]:
    """Images in every awkward form; returns id -> what it is."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    d = root / "awe"
    d.mkdir(parents=True)
    Image.fromarray(rgb).save(d / "plain.jpg")
    (d / "zero.jpg").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    (d / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (d / "text.jpg").write_text("this is not an image")
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray((rng.integers(0, 65535, (40, 60))).astype(np.uint16)).save(d / "gray16.png")
    rgba = np.dstack([rgb, np.full((40, 60), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "palette.png")
    Image.fromarray(rgb).convert("L").save(d / "gray.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(rgb).save(d / "rotated.png", exif=exif)
    Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270).save(d / "upright.png")
    return {"awe/zero.jpg": "empty file", "awe/truncated.jpg": "cannot decode",
            "awe/text.jpg": "not a recognised image format"}


def test_odd_images_are_extracted_or_listed(tmp_path: Path) -> None:
    expected_failures = make_odd_images(tmp_path / "data")
    manifest = load_manifest(tmp_path / "data")
    assert load_rgb(tmp_path / "data/awe/rotated.png").size == (40, 60)
    assert load_rgb(tmp_path / "data/awe/gray16.png").mode == "RGB"
    out = extract(manifest, tmp_path / "s", config(layers=["bn2"]))
    store = Store.open(out)
    with open(out / "failed.csv", newline="") as fh:
        failed = {row["id"]: row["reason"] for row in csv.DictReader(fh)}
    assert sorted(failed) == sorted(expected_failures)
    for image_id, reason in expected_failures.items():
        assert failed[image_id].startswith(reason), failed[image_id]
    assert sorted(store.ids) == sorted(set(manifest.ids) - set(failed))
    feats = dict(zip(store.ids, store.load("bn2"), strict=True))
    assert np.allclose(feats["awe/rotated.png"], feats["awe/upright.png"], atol=1e-5)
    assert store.meta["n_failed"] == 3


def test_strict_makes_a_bad_image_fatal(tmp_path: Path) -> None:
    make_odd_images(tmp_path / "data")
    manifest = load_manifest(tmp_path / "data")
    with pytest.raises(EmofeatError, match="--strict"):
        extract(manifest, tmp_path / "s", config(layers=["bn2"], strict=True))
    assert json.loads((tmp_path / "s" / "store.json").read_text())["status"] == "incomplete"


# ------------------------------------------------------------------ engine details


def test_float16_store_and_worker_processes(tiny_demo: Path, tmp_path: Path,
                                            store_once: Path) -> None:
    manifest = load_manifest(tiny_demo)
    out = extract(manifest, tmp_path / "s", config(dtype="float16", workers=2))
    half = Store.open(out).load("bn2")
    assert half.dtype == np.float16
    assert np.allclose(half, Store.open(store_once).load("bn2"), rtol=1e-2, atol=1e-2)


def test_out_of_memory_halves_the_batch() -> None:
    model, _ = create_backbone("tf_efficientnet_lite0", "random")

    class Fussy(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 2:
                raise torch.OutOfMemoryError("pretend the GPU is full")
            return self.inner(x)

    x = torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    plain = FeatureModel(model, ["bn2"], "avg", cpu, "fp32", micro_batch=8)(x)["bn2"]
    fussy = FeatureModel(Fussy(model), ["inner.bn2"], "avg", cpu, "fp32", micro_batch=8)
    backed_off = fussy(x)["inner.bn2"]
    assert fussy.micro_batch == 2
    assert np.allclose(plain, backed_off, atol=1e-5)


def test_bf16_autocast_on_cpu_is_close_to_fp32() -> None:
    model, _ = create_backbone("tf_efficientnet_lite0", "bundled")
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    exact = FeatureModel(model, ["bn2"], "avg", cpu, "fp32", micro_batch=2)(x)["bn2"]
    fast = FeatureModel(model, ["bn2"], "avg", cpu, "bf16", micro_batch=2)(x)["bn2"]
    assert fast.dtype == np.float32
    cos = (exact * fast).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(fast, axis=1)
    assert cos.min() > 0.99


def test_irv2_store_dims(tmp_path: Path) -> None:
    from tests.conftest import write_image

    for i in range(3):
        write_image(tmp_path / "data" / "awe" / f"{i}.jpg", i, size=32)
    out = extract(load_manifest(tmp_path / "data"), tmp_path / "s",
                  ExtractConfig(weights="random", workers=0, batch_size=3))
    store = Store.open(out)
    assert store.meta["backbone"] == "inception_resnet_v2"
    assert [(la.name, la.dim) for la in store.layers] == [
        ("repeat_1", 1088), ("repeat_2", 2080), ("conv2d_7b", 1536)]
    assert store.load("repeat_2").shape == (3, 2080)


# ------------------------------------------------------------------ CLI


runner = CliRunner()


def test_cli_extract_inspect_and_tamper(tiny_demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    result = runner.invoke(app, ["extract", str(tiny_demo), "--out", str(out), "--backbone",
                                 "tf_efficientnet_lite0", "--weights", "random", "--layers",
                                 "blocks.6,bn2", "--pool", "avgmax", "--workers", "0",
                                 "--shard-size", "40"])
    assert result.exit_code == 0, result.output
    assert "80 images" in result.stdout and "bn2 (2560)" in result.stdout
    result = runner.invoke(app, ["inspect", str(out), "--verify"])
    assert result.exit_code == 0 and "all shards OK" in result.stdout
    with h5py.File(out / "shard-00001.h5", "r+") as f:
        f["features/bn2"][0, 0] += 1
    result = runner.invoke(app, ["inspect", str(out), "--verify"])
    assert result.exit_code == 1 and "shard-00001.h5: SHA-256 differs" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--layers", "nope"], "unknown layer(s) nope"),
    (["--pool", "median"], "unknown pooling 'median'"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--dtype", "int8"],
     "no CUDA GPU" if not torch.cuda.is_available() else "unknown dtype"),
    (["--weights", "bundled", "--backbone", "resnet18"], "no bundled weights for resnet18"),
    (["--backbone", "efficientnet_lite9"], "timm has no model 'efficientnet_lite9'"),
])
def test_cli_extract_errors(tiny_demo: Path, tmp_path: Path, args: list[str],
                            message: str) -> None:
    base = ["extract", str(tiny_demo), "--out", str(tmp_path / "s"), "--backbone",
            "tf_efficientnet_lite0", "--weights", "random", "--workers", "0"]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "s" / "store.json").exists()


def test_cli_layers() -> None:
    result = runner.invoke(app, ["layers", "inception_resnet_v2"])
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines()
            if line.count("│") >= 4}
    assert "1536" in rows["conv2d_7b *"] and "2080" in rows["repeat_2 *"]


def test_a_folder_that_is_not_a_store_is_never_overwritten(tiny_demo: Path,
                                                           tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(EmofeatError, match="not empty and holds no feature store"):
        extract(load_manifest(tiny_demo), tmp_path / "mine", config(overwrite=True))
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_store_records_the_tokens_left_out_of_pooling(tiny_demo: Path, tmp_path: Path,
                                                      store_once: Path) -> None:
    """A ViT store says its class token was left out of the pooled tokens (absent for a
    CNN's), and a store written before that was recorded is stale for the same settings."""
    manifest = load_manifest(tiny_demo)
    vit = config(backbone="vit_tiny_patch16_224", layers=("blocks.0",), shard_size=100)
    out = extract(manifest, tmp_path / "vit", vit)
    meta = json.loads((out / "store.json").read_text())
    assert meta["prefix_tokens"] == 1
    assert meta["layers"][0]["dim"] == 192
    assert "prefix_tokens" not in json.loads((store_once / "store.json").read_text())
    # a store that pooled the class token too (written before the key existed) is refused
    del meta["prefix_tokens"]
    (out / "store.json").write_text(json.dumps(meta))
    with pytest.raises(EmofeatError, match="prefix_tokens: store has null, this run asks for 1"):
        extract(manifest, out, vit)
