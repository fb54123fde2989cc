"""FI-like JPEG photographs for the benchmarks, made from the real photographs that
scikit-image ships (``skimage.data``: astronaut, chelsea, coffee, rocket, ...).

Each file is a random crop of one of those photos, resized to about 500 x 375 (FI's typical
size; a quarter are portrait, sizes vary by some tens of pixels), with a small colour shift
and mild Gaussian noise so that no two files decode alike, saved as JPEG quality 90 into a
folder data set ``root/<label>/<label>_<index>.jpg`` whose labels cycle over Mikels'
eight emotions. The same (seed, index) always gives the same file.

Used by ``extract_throughput.py`` and ``gpu_extract.py``; nothing here imports emofeat.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

EMOTIONS = ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear",
            "sadness")
#: Colour photographs bundled in scikit-image's wheel (no download); grey ones are skipped.
PHOTO_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
               "hubble_deep_field.jpg", "motorcycle_left.png", "retina.jpg", "ihc.png")
MARKER = "BENCH_PHOTOS.json"
GENERATOR_VERSION = 1

_SOURCES: list[np.ndarray] = []


def _synthetic_source(seed: int) -> np.ndarray:
    """A smooth colour image, used only if scikit-image's photos are not there."""
    rng = np.random.default_rng(seed)
    grid = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((640, 480), Image.Resampling.BICUBIC))


def load_sources() -> list[np.ndarray]:
    """The colour photos as uint8 HxWx3 arrays (loaded once per process)."""
    if _SOURCES:
        return _SOURCES
    try:
        import skimage.data

        data_dir = Path(skimage.data.__file__).parent
    except ImportError:
        data_dir = None
    for name in PHOTO_FILES if data_dir is not None else ():
        try:
            with Image.open(data_dir / name) as img:
                if img.mode not in ("RGB", "RGBA", "P"):
                    continue
                arr = np.asarray(img.convert("RGB"))
        except OSError:
            continue
        if min(arr.shape[:2]) >= 256:
            _SOURCES.append(arr)
    if not _SOURCES:  # still photo-sized JPEGs, if less photo-like
        _SOURCES.extend(_synthetic_source(s) for s in range(4))
    return _SOURCES


def label_of(index: int) -> str:
    return EMOTIONS[index % len(EMOTIONS)]


def relpath(index: int) -> str:
    label = label_of(index)
    return f"{label}/{label}_{index:06d}.jpg"


def make_photo(index: int, seed: int = 0) -> Image.Image:
    """One FI-like photo: crop, resize to ~500x375 (or portrait), colour shift, noise, flip."""
    sources = load_sources()
    rng = np.random.default_rng([seed, index])
    src = sources[int(rng.integers(len(sources)))]
    w = int(rng.integers(460, 541))
    h = round(w * 0.75) + int(rng.integers(-20, 21))
    if rng.random() < 0.25:
        w, h = h, w
    sh, sw = src.shape[:2]
    aspect = w / h
    cw, ch = (sw, sw / aspect) if sw / sh <= aspect else (sh * aspect, sh)
    scale = rng.uniform(0.55, 1.0)
    cw, ch = max(32, int(cw * scale)), max(32, int(ch * scale))
    x0 = int(rng.integers(0, sw - cw + 1))
    y0 = int(rng.integers(0, sh - ch + 1))
    crop = Image.fromarray(src[y0:y0 + ch, x0:x0 + cw]).resize(
        (w, h), Image.Resampling.BILINEAR)
    arr = np.asarray(crop, dtype=np.float32).copy()
    arr *= rng.uniform(0.85, 1.15)
    arr += rng.normal(0, 8, 3).astype(np.float32)
    arr += 3 * rng.standard_normal(arr.shape, dtype=np.float32)
    if rng.random() < 0.5:
        arr = arr[:, ::-1]
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def _write_one(job: tuple[str, int, int]) -> int:
    root, index, seed = job
    path = Path(root) / relpath(index)
    make_photo(index, seed).save(path, format="JPEG", quality=90)
    return path.stat().st_size


def _marker(n: int, seed: int) -> dict:
    return {"n": n, "seed": seed, "generator_version": GENERATOR_VERSION}


def make_photo_set(root: str | Path, n: int, seed: int = 0,
                   processes: int | None = None) -> dict:
    """Write ``n`` photos into ``root`` (reused if a complete set with the same parameters is
    there); returns {"n", "seconds", "mean_bytes", "sources"}.

    Generation runs in a fork Pool: call it before CUDA is initialised in this process.
    """
    root = Path(root)
    marker = root / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == _marker(n, seed):
        sizes = [(root / relpath(i)).stat().st_size for i in range(min(n, 256))]
        return {"n": n, "seconds": 0.0, "mean_bytes": float(np.mean(sizes)), "reused": True,
                "sources": len(load_sources())}
    marker.unlink(missing_ok=True)
    for label in EMOTIONS:
        (root / label).mkdir(parents=True, exist_ok=True)
    load_sources()  # loaded before the fork, shared by the workers
    processes = processes or os.cpu_count() or 1
    jobs = [(str(root), i, seed) for i in range(n)]
    start = time.perf_counter()
    if processes > 1 and n > 64:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            sizes = pool.map(_write_one, jobs, chunksize=max(1, n // (processes * 8)))
    else:
        sizes = [_write_one(j) for j in jobs]
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps(_marker(n, seed)) + "\n")
    return {"n": n, "seconds": round(seconds, 3), "mean_bytes": float(np.mean(sizes)),
            "reused": False, "sources": len(load_sources())}


def subset(root: str | Path, dest: str | Path, n: int) -> Path:
    """The first ``n`` photos of ``root`` as a folder data set of its own (hard links, or
    copies where links are not possible); labels stay balanced."""
    root, dest = Path(root), Path(dest)
    for label in EMOTIONS:
        (dest / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src, dst = root / relpath(i), dest / relpath(i)
        if dst.exists():
            continue
        try:
            os.link(src, dst)
        except OSError:
            dst.write_bytes(src.read_bytes())
    return dest
