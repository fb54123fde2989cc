"""``emofeat data audit``: what in a data set would inflate or blur its numbers.

- exact duplicates: the same decoded pixels (:func:`~emofeat.audit.hashes.pixel_sha256`),
  whatever file holds them;
- near duplicates: 64-bit perceptual hashes a few bits apart (resized, recompressed copies)
  and, given a feature store, features of cosine similarity above a threshold;
- placeholders: groups of many copies of one picture (a photo host's "no longer available"
  image stands in for every deleted photo);
- unreadable and tiny images; class conflicts: one picture under two labels;
- for a split: the groups it puts on both sides of train/test.

Modules: ``hashes`` (decoding, hashing, the cache), ``groups`` (linking images into
groups), ``findings`` (the reasons, ``--drop``), ``report`` (the files written).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emofeat.audit.findings import DROP_REASONS, AuditOptions, Findings, check_drop
from emofeat.audit.groups import find_groups
from emofeat.audit.hashes import hash_images
from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError

log = logging.getLogger(__name__)

__all__ = ["DROP_REASONS", "AuditOptions", "AuditResult", "Findings", "audit",
           "duplicate_groups", "find_findings"]


def _store_features(manifest: Manifest, store: Path, layer: str | None
                    ) -> tuple[Any, list[int]]:
    from emofeat.store.reader import Store

    s = Store.open(store)
    name = layer or s.layer_names[-1]
    s.check_layer(name)
    row = {k: i for i, k in enumerate(manifest.ids)}
    ids = [k for k in s.ids if k in row]
    if not ids:
        raise EmofeatError(f"--store {store} holds none of the data set's images")
    log.info("audit: cosine of %s features of %d images (%s)", name, len(ids), store)
    return s.load(name, ids), [row[k] for k in ids]


def find_findings(manifest: Manifest, options: AuditOptions | None = None,
                  cache_dir: Path | None = None, store: Path | None = None,
                  layer: str | None = None, split: dict[str, str] | None = None,
                  split_source: str = "", workers: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Findings:
    """Hash every image (reusing ``cache_dir``'s cache) and group them."""
    options = options or AuditOptions()
    options.check()
    if options.min_similarity is not None and store is None:
        raise EmofeatError("--cosine needs --store (a feature store of the data set)")
    features, rows = _store_features(manifest, store, layer) if store is not None \
        and options.min_similarity is not None else (None, [])
    hashes = hash_images(manifest, cache_dir, workers, progress)
    groups = find_groups(hashes, options.max_distance, features, rows, options.min_similarity)
    return Findings(manifest, hashes, groups, options, split, split_source)


@dataclass(frozen=True)
class AuditResult:
    findings: Findings
    info: dict[str, Any]
    clean: Path | None = None
    dropped: dict[str, int] | None = None


def audit(manifest: Manifest, out: Path, options: AuditOptions | None = None,
          split: dict[str, str] | None = None, split_source: str = "",
          store: Path | None = None, layer: str | None = None,
          drop: Collection[str] = (), clean: Path | None = None, workers: int | None = None,
          progress: Callable[[int, int], None] | None = None) -> AuditResult:
    """Audit ``manifest`` into the folder ``out`` (audit.json last, so a folder without it
    is an audit that did not finish); with ``drop``, also write the cleaned CSV list."""
    from emofeat.audit.report import clean_path_in, summary, write_audit, write_clean

    check_drop(drop)
    target = clean_path_in(manifest.root, clean) if drop else None  # refused before decoding
    started = time.perf_counter()
    findings = find_findings(manifest, options, out, store, layer, split, split_source,
                             workers, progress)
    seconds = time.perf_counter() - started
    dropped = findings.dropped(drop) if drop else None
    info = summary(findings, seconds, dropped)
    if target is not None and dropped is not None:
        info["clean"] = {"path": str(target), "rows": write_clean(findings, dropped, target)}
    write_audit(findings, out, info)
    return AuditResult(findings, info, target,
                       None if dropped is None else {r: len(v) for r, v in dropped.items()})


def duplicate_groups(manifest: Manifest, cache_dir: Path | None = None,
                     options: AuditOptions | None = None,
                     progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Every image's duplicate group, for grouped splits: ``dup-<n>`` for members of a
    group (exact or near copies, placeholders included), the image's own id otherwise."""
    findings = find_findings(manifest, options, cache_dir, progress=progress)
    name = list(manifest.ids)
    for n, g in enumerate(findings.groups, start=1):
        for k in g.members:
            name[k] = f"dup-{n}"
    return name

