"""The --decode gpu path, run with its decoder on the CPU: everything but the device call.

Real photographs (scikit-image's) saved as JPEG, the odd files a release ships (a PNG named
.jpg, CMYK, progressive, EXIF-rotated, grayscale, truncated, text), bundled Lite0 weights.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emofeat.device_decode import (
    CMYK,
    DECODER,
    DECODERS,
    NOT_JPEG,
    PROGRESSIVE,
    ROTATED,
    TRUNCATED,
    DeviceDecodeBatches,
    find_decoder,
    plan_decoding,
    refusal,
)
from emofeat.errors import EmofeatError
from emofeat.transforms import device_transform, timm_eval_transform

skimage_data = pytest.importorskip("skimage.data")

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "immunohistochemistry")
IRV2_CFG = {"input_size": (3, 299, 299), "interpolation": "bicubic", "crop_pct": 0.8975,
            "crop_mode": "center", "mean": (0.5,) * 3, "std": (0.5,) * 3}
LITE0_CFG = {**IRV2_CFG, "input_size": (3, 224, 224), "interpolation": "bilinear",
             "crop_pct": 0.875}


def photo(name: str, scale: float = 1.0) -> Image.Image:
    img = Image.fromarray(getattr(skimage_data, name)()).convert("RGB")
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)))
    return img


def jpeg_bytes(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kwargs)
    return buf.getvalue()


def rotated_jpeg(img: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    return jpeg_bytes(img, exif=exif)


@pytest.mark.parametrize("cfg", [IRV2_CFG, LITE0_CFG], ids=["bicubic", "bilinear"])
def test_device_transform_gives_the_cpu_paths_pixels(cfg: dict) -> None:
    """Decoded by the batched decoder and resized pass by pass on tensors vs Pillow and the
    CPU path's transform: the same geometry and values up to two levels (the CPU path's own
    crop-first resize is timm's up to two), on photos shrunk (landscape and portrait) and a
    synthetic image with sharp edges enlarged, where a one-step 2-D resize is ~17 off."""
    from emofeat.demo import DemoSpec, render

    tensor_tf, pil_tf = device_transform(cfg), timm_eval_transform(cfg, use_prefetcher=True)
    assert tensor_tf is not None
    decode = DECODERS[find_decoder()][1]
    images = [photo(n) for n in PHOTOS[:3]] + [photo("coffee").transpose(Image.Transpose.ROTATE_90),
                                               render("fear", 1, DemoSpec())]
    for img in images:
        data = jpeg_bytes(img)
        ours = tensor_tf(decode([torch.frombuffer(bytearray(data), dtype=torch.uint8)],
                                torch.device("cpu"))[0]).numpy().astype(int)
        theirs = np.asarray(pil_tf(Image.open(io.BytesIO(data)).convert("RGB"))).astype(int)
        assert ours.shape == theirs.shape == (3, *cfg["input_size"][1:])
        diff = np.abs(ours - theirs)
        assert diff.max() <= 2 and diff.mean() < 0.01, (img.size, diff.max(), diff.mean())


def test_refusals_are_read_from_the_header() -> None:
    img = photo("chelsea", 0.3)
    png = io.BytesIO()
    img.save(png, "PNG")
    plain = jpeg_bytes(img)
    assert refusal(plain) is None
    assert refusal(jpeg_bytes(img.convert("L"))) is None
    assert refusal(png.getvalue()) == NOT_JPEG
    assert refusal(jpeg_bytes(img.convert("CMYK"))) == CMYK
    assert refusal(jpeg_bytes(img, progressive=True)) == PROGRESSIVE
    assert refusal(rotated_jpeg(img)) == ROTATED
    assert refusal(plain[: len(plain) // 2]) == TRUNCATED


def test_plan_decoding() -> None:
    cpu = torch.device("cpu")
    assert plan_decoding("cpu", cpu, IRV2_CFG) is None
    assert plan_decoding("auto", cpu, IRV2_CFG) is None
    with pytest.raises(EmofeatError, match="--decode gpu needs a CUDA device"):
        plan_decoding("gpu", cpu, IRV2_CFG)
    plan = plan_decoding("gpu", cpu, IRV2_CFG, force=True)
    assert plan is not None and plan.record(cpu) == f"{find_decoder()}:cpu"
    squash = {**IRV2_CFG, "crop_mode": "border"}  # timm's own border-crop steps: no tensor form
    with pytest.raises(EmofeatError, match="no tensor form"):
        plan_decoding("gpu", cpu, squash, force=True)


def test_a_decoder_error_goes_to_the_cpu_decoder(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A batch the decoder refuses is decoded image by image; the one it refuses alone goes
    to the CPU decoder; rows keep their order."""
    paths = []
    for i, name in enumerate(PHOTOS[:4]):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(jpeg_bytes(photo(name, 0.25)))
    bad = torch.frombuffer(bytearray(paths[2].read_bytes()), dtype=torch.uint8)
    real = DECODERS[find_decoder()][1]

    def picky(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        if any(d.numel() == bad.numel() and torch.equal(d, bad) for d in data):
            raise RuntimeError("nvjpeg says no")
        return real(data, device)

    batches = DeviceDecodeBatches([str(p) for p in paths], [[3, 2], [1, 0]],
                                  torch.device("cpu"), device_transform(LITE0_CFG), 2, picky)
    with caplog.at_level(logging.INFO, "emofeat.device_decode"):
        out = list(batches)
    assert [b["rows"] for b in out] == [[3, 2], [1, 0]]
    assert all(b["images"].shape == (2, 3, 224, 224) and b["images"].dtype == torch.uint8
               for b in out)
    assert batches.counts == {"device": 3, DECODER: 1, "failed": 0}
    assert f"1 by the CPU decoder ({DECODER}: 1)" in caplog.text


def odd_release(root: Path) -> None:
    """Photos in two classes, and every odd file the device path must hand to the CPU."""
    for i, name in enumerate(PHOTOS):
        (root / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        (root / ("a" if i % 2 else "b") / f"{name}.jpg").write_bytes(jpeg_bytes(photo(name, .5)))
    img = photo("coffee", 0.4)
    png = io.BytesIO()
    img.save(png, "PNG")
    odd = {"png_named.jpg": png.getvalue(), "cmyk.jpg": jpeg_bytes(img.convert("CMYK")),
           "progressive.jpg": jpeg_bytes(img, progressive=True),
           "rotated.jpg": rotated_jpeg(photo("astronaut", 0.3)),
           "grey.jpg": jpeg_bytes(img.convert("L")),
           "truncated.jpg": jpeg_bytes(img)[:4000], "text.jpg": b"not an image\n"}
    for name, data in odd.items():
        (root / "a" / name).write_bytes(data)


def read_store(store: Path) -> dict:
    import h5py

    meta = json.loads((store / "store.json").read_text())
    out = {"meta": meta, "ids": [], "labels": [], "features": {}}
    for shard in meta["shards"]:
        with h5py.File(store / shard["file"], "r") as fh:
            out["ids"] += [x.decode() for x in fh["ids"][:]]
            out["labels"] += [x.decode() for x in fh["labels"][:]]
            for name in fh["features"]:
                out["features"].setdefault(name, []).append(fh["features"][name][:])
    out["features"] = {k: np.concatenate(v) for k, v in out["features"].items()}
    with open(store / "failed.csv", newline="") as fh:
        out["failed"] = list(csv.reader(fh))
    return out


def test_device_path_store_matches_the_cpu_path(tmp_path: Path, one_thread: None,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Same rows in the same order, same failed.csv, features within cosine 0.999 at every
    default layer; the decode recorded; odd files counted in the log; thread counts do not
    change the shard bytes; a store is not resumed with the other decoding."""
    from emofeat.datasets import load_manifest
    from emofeat.extract import ExtractConfig, extract

    root = tmp_path / "data"
    odd_release(root)
    manifest = load_manifest(root, "folder")
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="bundled", batch_size=3,
                           shard_size=5, decode="cpu", workers=0)
    cpu = read_store(extract(manifest, tmp_path / "cpu", config))
    with caplog.at_level(logging.INFO, "emofeat.device_decode"):
        dev_store = extract(manifest, tmp_path / "dev", ExtractConfig(
            **{**config.__dict__, "workers": 3}), force_device_decode=True)
    dev = read_store(dev_store)
    assert dev["meta"]["decode"] == f"{find_decoder()}:cpu" and "decode" not in cpu["meta"]
    assert dev["ids"] == cpu["ids"] and dev["labels"] == cpu["labels"]
    assert dev["failed"] == cpu["failed"] and len(cpu["failed"]) == 3  # header + 2
    assert [s["failed"] for s in dev["meta"]["shards"]] == \
        [s["failed"] for s in cpu["meta"]["shards"]]
    assert set(dev["features"]) == {"blocks.5", "blocks.6", "bn2"}  # the default layers
    for name, a in cpu["features"].items():
        b = dev["features"][name]
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cos.min() >= 0.999, (name, cos.min())
    assert (f"decoded 6 images on cpu ({find_decoder()}), 4 by the CPU decoder (CMYK/YCCK: "
            "1, EXIF-rotated: 1, not JPEG: 1, progressive: 1), 2 unreadable") in caplog.text
    again = read_store(extract(manifest, tmp_path / "dev1", ExtractConfig(
        **{**config.__dict__, "workers": 1}), force_device_decode=True))
    assert [s["sha256"] for s in again["meta"]["shards"]] == \
        [s["sha256"] for s in dev["meta"]["shards"]]
    with pytest.raises(EmofeatError, match="decode: store has"):
        extract(manifest, dev_store, config)


@pytest.mark.parametrize("name", list(DECODERS))
def test_each_decoder_on_the_cpu_decodes_as_pillow(name: str) -> None:
    """Both batched decoders (TorchCodec's, torchvision's fallback) run here on the CPU's
    libjpeg-turbo: the same pixels as Pillow, a list in, a list out."""
    if find_decoder(name) is None:
        pytest.skip(f"{name} is not installed here")
    datas = [jpeg_bytes(photo(n, 0.3)) for n in PHOTOS[:2]]
    out = DECODERS[name][1]([torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas],
                            torch.device("cpu"))
    for data, got in zip(datas, out, strict=True):
        want = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).transpose(2, 0, 1)
        assert got.dtype == torch.uint8 and np.array_equal(got.numpy(), want)


def test_cli_decode_gpu_without_cuda_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emofeat.cli.main import app

    root = tmp_path / "data"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        (root / label / "x.jpg").write_bytes(jpeg_bytes(photo("chelsea", 0.1)))
    result = CliRunner().invoke(app, ["extract", str(root), "--out", str(tmp_path / "s"),
                                      "--backbone", "tf_efficientnet_lite0", "--weights",
                                      "random", "--device", "cpu", "--decode", "gpu"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "emofeat: error: --decode gpu needs a CUDA device (extraction runs on cpu); use "
        "--decode cpu or auto")
    assert "Traceback" not in result.output
    assert not (tmp_path / "s" / "store.json").exists()
