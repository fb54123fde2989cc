"""Hostile and odd inputs: every readable file is extracted, every other one is listed with
its reason (in failed.csv, or in the manifest's dropped counts when it is not a file at all),
and the run completes. The files are made here."""

from __future__ import annotations

import csv
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emofeat.datasets import load_manifest
from emofeat.extract import ExtractConfig, extract
from emofeat.images import ImageReadError, load_rgb
from emofeat.store import Store
from tests.test_extract_store import make_odd_images


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def make_hostile_images(root: Path) -> tuple[dict[str, str], set[str]]:
    """Adds to make_odd_images; returns (id -> expected failure reason, ids that must load)."""
    failures = make_odd_images(root)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    d = root / "fear"
    d.mkdir(parents=True)
    Image.fromarray(rgb).save(d / "plain.jpg")
    (d / "bomb.png").write_bytes(png_claiming(30_000, 30_000))
    (d / "page.png").write_text("<!doctype html><html><body>404 Not Found</body></html>")
    (d / "random.jpg").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(d / "palette-transparent.png", transparency=0)
    frames = [Image.fromarray(np.roll(rgb, k, axis=1)) for k in range(3)]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    Image.fromarray(rgb[:1, :1]).save(d / "one-pixel.png")
    Image.fromarray(rgb).save(d / "émotion à l'œil.jpg")
    Image.fromarray(rgb).save(d / "with space.jpg")
    failures.update({"fear/bomb.png": "too many pixels",
                     "fear/page.png": "not a recognised image format",
                     "fear/random.jpg": "not a recognised image format"})
    must_load = {"fear/plain.jpg", "fear/palette-transparent.png", "fear/animated.gif",
                 "fear/one-pixel.png", "fear/émotion à l'œil.jpg", "fear/with space.jpg"}
    return failures, must_load


def test_every_hostile_file_is_extracted_or_listed(tmp_path: Path) -> None:
    failures, must_load = make_hostile_images(tmp_path / "data")
    loop = tmp_path / "data" / "fear" / "loop.jpg"
    os.symlink(loop, loop)  # a link to itself: stat() fails with ELOOP
    os.mkfifo(tmp_path / "data" / "fear" / "pipe.jpg")  # opening it would block forever
    manifest = load_manifest(tmp_path / "data")
    assert "fear/loop.jpg" not in manifest.ids and "fear/pipe.jpg" not in manifest.ids
    assert manifest.dropped["broken or looping link"] == 1
    assert manifest.dropped["not a regular file (device, pipe or socket)"] == 1
    config = ExtractConfig(backbone="tf_efficientnet_lite0", weights="random", workers=0,
                           batch_size=4, layers=["bn2"], shard_size=8)
    store = Store.open(extract(manifest, tmp_path / "s", config))
    with open(tmp_path / "s" / "failed.csv", newline="") as fh:
        failed = {row["id"]: row["reason"] for row in csv.DictReader(fh)}
    assert sorted(failed) == sorted(failures)
    for image_id, reason in failures.items():
        assert failed[image_id].startswith(reason), (image_id, failed[image_id])
    assert must_load <= set(store.ids)
    assert sorted(store.ids) == sorted(set(manifest.ids) - set(failed))
    assert np.isfinite(store.load("bn2")).all()


def test_a_bomb_fails_at_the_header_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(30_000, 30_000))  # 900 megapixels, 2.7 GB decoded
    with pytest.raises(ImageReadError, match="too many pixels"):
        load_rgb(path)


def test_palette_transparency_and_animation_decode_to_rgb(tmp_path: Path) -> None:
    make_hostile_images(tmp_path)
    pal = load_rgb(tmp_path / "fear" / "palette-transparent.png")
    gif = load_rgb(tmp_path / "fear" / "animated.gif")
    assert pal.mode == gif.mode == "RGB" and gif.size == (50, 30)
    assert load_rgb(tmp_path / "fear" / "one-pixel.png").size == (1, 1)


def test_an_unreadable_file_is_listed(tmp_path: Path) -> None:
    d = tmp_path / "data" / "awe"
    d.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "fine.jpg")
    locked = d / "locked.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(locked)
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("running as root: permissions do not stop reads here")
    with pytest.raises(ImageReadError, match=r"cannot decode|permission"):
        load_rgb(locked)
