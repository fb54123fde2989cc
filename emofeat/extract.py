"""``emofeat extract``: a frozen backbone's pooled layers of every image, into a feature store.

This module builds the store's record (store.json) and the backbone; the batch engine that
fills the shards is :mod:`emofeat.fill` (``fill_store`` is re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofeat.backbones import (
    LayerInfo,
    WeightsInfo,
    check_pooling,
    create_backbone,
    data_config,
    default_layers,
    prefix_tokens,
    resolve_layers,
)
from emofeat.datasets import Manifest
from emofeat.device import resolve_batch_size, resolve_device, resolve_precision
from emofeat.device_decode import plan_decoding
from emofeat.distributed import SINGLE, Ranks
from emofeat.distributions import distribution_table, distributions_info
from emofeat.errors import EmofeatError
from emofeat.extract_config import ExtractConfig  # re-exported: emofeat.extract.ExtractConfig
from emofeat.fill import FeatureFn, ShardBatches, fill_store
from emofeat.frozen import FeatureModel
from emofeat.loading import Progress, uint8_transform
from emofeat.provenance import versions
from emofeat.ratings import ratings_info
from emofeat.splits import Split, check_split_matches, make_split

__all__ = ["ExtractConfig", "FeatureFn", "ShardBatches", "build_meta", "dataset_meta",
           "extract", "fill_store"]


def dataset_meta(manifest: Manifest, split: Split, shard_size: int,
                 min_agree: int | None) -> dict[str, Any]:
    """store.json fields every store has, whatever computes its features (``ratings`` only
    where the data set has rating columns, ``distributions`` where it has per-class shares,
    invalid rows counted)."""
    from emofeat.datasets.labels import label_rule_of
    from emofeat.store import FORMAT_VERSION, STORE_FORMAT

    ratings = ratings_info(manifest)
    distributions = distributions_info(distribution_table(manifest), manifest.ids)
    rule = label_rule_of(manifest)
    return {
        "format": STORE_FORMAT,
        "format_version": FORMAT_VERSION,
        "status": "incomplete",
        "shard_size": shard_size,
        "dataset": {"format": manifest.format, "n_images": len(manifest),
                    "manifest_sha256": manifest.sha256, "min_agree": min_agree,
                    **({"label_from": rule} if rule else {})},
        "dataset_root": str(manifest.root.resolve()),
        "splits_sha256": split.sha256,
        **({"ratings": ratings} if ratings else {}),
        **({"distributions": distributions} if distributions else {}),
        "versions": versions(),
    }


def build_meta(
    config: ExtractConfig,
    manifest: Manifest,
    split: Split,
    weights: WeightsInfo,
    cfg: dict[str, Any],
    layers: Sequence[LayerInfo],
    precision: str,
    min_agree: int | None,
    prefix: int = 0,
    decode: str | None = None,
) -> dict[str, Any]:
    """store.json's fields; ``prefix``: the model's class and register tokens, recorded
    when a layer gives tokens (they are left out of its pooling)."""
    tokens = prefix and any(len(i.shape) == 2 for i in layers)
    return {
        **dataset_meta(manifest, split, config.shard_size, min_agree),
        "backbone": config.backbone,
        "weights": weights.to_dict(),
        "data_config": cfg,
        "layers": [{"name": i.name, "dim": i.dim(config.pooling), "channels": i.channels,
                    "stride": i.stride} for i in layers],
        "pooling": config.pooling,
        **({"prefix_tokens": prefix} if tokens else {}),
        "dtype": config.dtype,
        "precision": precision,
        **({"decode": decode} if decode else {}),
    }


def extract(
    manifest: Manifest,
    out: str | Path,
    config: ExtractConfig | None = None,
    split: Split | None = None,
    min_agree: int | None = None,
    progress: Progress | None = None,
    ranks: Ranks = SINGLE,
    *,
    force_device_decode: bool = False,
) -> Path:
    """Extract pooled features of ``manifest`` into the store at ``out``; returns ``out``.

    Re-running with the same configuration resumes; see :mod:`emofeat.store`. In a job of
    several processes (``ranks`` from :func:`emofeat.distributed.process_group`), every rank
    calls this with the same arguments and writes its share of the shards.
    ``force_device_decode`` runs the ``--decode gpu`` path on any device, the CPU included
    (for tests and the fidelity benchmark; :mod:`emofeat.device_decode`).
    """
    config = config or ExtractConfig()
    config.check()
    device = ranks.device(resolve_device(config.device))
    precision = resolve_precision(config.precision, device)
    split = split or make_split(manifest)
    check_split_matches(split, manifest.ids, source="the split")

    model, weights = create_backbone(config.backbone, config.weights, seed=config.seed)
    cfg = data_config(model)
    names = list(config.layers) if config.layers else list(default_layers(config.backbone, model))
    if not names:
        raise EmofeatError(f"no default layers for {config.backbone}; pass --layers")
    layers = resolve_layers(model, names, cfg["input_size"])
    check_pooling(model, layers, config.pooling)
    decoding = plan_decoding(config.decode, device, cfg, force_device_decode)
    meta = build_meta(config, manifest, split, weights, cfg, layers, precision, min_agree,
                      prefix_tokens(model), decoding and decoding.record(device))
    features = FeatureModel(model, names, config.pooling, device, precision,
                            micro_batch=resolve_batch_size(config.batch_size, device),
                            mean=cfg["mean"], std=cfg["std"],
                            memory_format=config.memory_format, compile=config.compile)
    return fill_store(manifest, out, meta, split, features, uint8_transform(cfg), config,
                      device, progress, ranks, decoding)
