"""Groups of images that are one picture: the same decoded pixels (exact), perceptual hashes
within a Hamming distance (near; low-contrast images, whose hash is noise, by their
thumbnail and mean colour instead), or, from a feature store, features within a cosine
similarity. A group is a connected component of those links, so a chain of near copies is
one group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from emofeat.audit.hashes import ImageHash

#: Comparisons held at once (a block of rows times n), about 128 MiB of uint64.
_CELLS = 1 << 24


def _block(n: int) -> int:
    return max(16, min(4096, _CELLS // max(n, 1)))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def near_pairs(phashes: Sequence[int], max_distance: int) -> Iterator[tuple[int, int, int]]:
    """(i, j, distance) with i < j for every pair of 64-bit hashes at most ``max_distance``
    bits apart; compared in blocks, so memory stays at a block of rows times n."""
    codes = np.asarray([h & 0xFFFF_FFFF_FFFF_FFFF for h in phashes], dtype=np.uint64)
    step = _block(len(codes))
    for start in range(0, len(codes), step):
        block = codes[start:start + step]
        distance = np.bitwise_count(block[:, None] ^ codes[None, :])
        rows, cols = np.nonzero(distance <= max_distance)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                yield i, c, int(distance[r, c])


def cosine_pairs(features: np.ndarray, min_similarity: float) -> Iterator[tuple[int, int, float]]:
    """(i, j, similarity) with i < j for every pair of rows whose cosine similarity is at
    least ``min_similarity``."""
    x = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1)
    step = _block(len(x))
    for start in range(0, len(x), step):
        sim = x[start:start + step] @ x.T
        rows, cols = np.nonzero(sim >= min_similarity)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                yield i, c, float(sim[r, c])


#: Two low-contrast images are one picture when their 8x8 grey thumbnails differ by at most
#: THUMB_DIFF grey levels on average and no channel of their mean colours by more than
#: COLOUR_DIFF.
THUMB_DIFF, COLOUR_DIFF = 2.0, 6


def thumbnail_pairs(thumbs: Sequence[bytes], colours: Sequence[tuple[int, int, int]],
                    max_diff: float = THUMB_DIFF, max_colour: int = COLOUR_DIFF
                    ) -> Iterator[tuple[int, int]]:
    """(i, j) with i < j for every pair of thumbnails (and mean colours) that close."""
    t = np.frombuffer(b"".join(thumbs), dtype=np.uint8).reshape(-1, 64).astype(np.int16)
    c = np.asarray(colours, dtype=np.int16).reshape(-1, 3)
    step = max(1, _block(len(t)) // 64)
    for start in range(0, len(t), step):
        diff = np.abs(t[start:start + step, None, :] - t[None, :, :]).mean(axis=2)
        far = np.abs(c[start:start + step, None, :] - c[None, :, :]).max(axis=2)
        rows, cols = np.nonzero((diff <= max_diff) & (far <= max_colour))
        for r, col in zip(rows.tolist(), cols.tolist(), strict=True):
            if start + r < col:
                yield start + r, col


@dataclass(frozen=True)
class Group:
    """Images (manifest row indices, sorted) found to be one picture; ``exact``: all have
    the same decoded pixels; ``links``: how they were found (exact, phash, features)."""

    members: tuple[int, ...]
    exact: bool
    links: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.members)


def find_groups(hashes: Sequence[ImageHash], max_distance: int | None = 6,
                features: np.ndarray | None = None, feature_rows: Sequence[int] = (),
                min_similarity: float | None = None) -> list[Group]:
    """The groups of two or more images among readable ``hashes``: exact pixel matches,
    perceptual hashes within ``max_distance`` bits (None: no near duplicates) and, given
    ``features`` (rows for the manifest rows ``feature_rows``), cosine similarity of at
    least ``min_similarity``. Sorted by size, largest first, then by first member."""
    uf = _UnionFind(len(hashes))
    how: dict[int, set[str]] = defaultdict(set)  # links found, by the row that joined them
    readable = [k for k, h in enumerate(hashes) if h.readable]
    by_sha: dict[str, int] = {}
    for k in readable:
        first = by_sha.setdefault(hashes[k].sha256, k)
        if first != k:
            uf.union(first, k)
            how[k].add("exact")
    if max_distance is not None:
        textured = [k for k in readable if not hashes[k].low_contrast]
        for i, j, _ in near_pairs([hashes[k].phash for k in textured], max_distance):
            a, b = textured[i], textured[j]
            if hashes[a].sha256 != hashes[b].sha256:
                uf.union(a, b)
                how[b].add("phash")
        dim = [k for k in readable if hashes[k].low_contrast]
        for i, j in thumbnail_pairs([hashes[k].thumb for k in dim],
                                    [hashes[k].mean_rgb for k in dim]):
            a, b = dim[i], dim[j]
            if hashes[a].sha256 != hashes[b].sha256:
                uf.union(a, b)
                how[b].add("thumbnail")
    if features is not None and min_similarity is not None:
        for i, j, _ in cosine_pairs(features, min_similarity):
            a, b = feature_rows[i], feature_rows[j]
            if hashes[a].sha256 != hashes[b].sha256:
                uf.union(a, b)
                how[b].add("features")
    members: dict[int, list[int]] = defaultdict(list)
    for k in readable:
        members[uf.find(k)].append(k)
    groups = []
    for rows in members.values():
        if len(rows) < 2:
            continue
        links = sorted(set().union(*(how[k] for k in rows)))
        groups.append(Group(tuple(sorted(rows)), len({hashes[k].sha256 for k in rows}) == 1,
                            tuple(links)))
    return sorted(groups, key=lambda g: (-len(g), g.members[0]))
