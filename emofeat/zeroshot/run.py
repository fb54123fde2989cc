"""``emofeat zeroshot``: an open_clip model's image embeddings against class prompts, written
as an ordinary run directory (kind ``zeroshot``) that predict, evaluate and compare read.

The image embeddings come from a feature store made with the same model (its layer
``embedding``) or are computed from the data set's images batch by batch (only the logits
are kept). Every template is scored on val and test (the prompt-sensitivity table); the
prompts used are the ensemble of all templates, fixed in advance, or with ``best-on-val``
the one template best on val, recorded as chosen on val. Nothing is chosen on test.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emofeat.errors import EmofeatError
from emofeat.loading import Progress
from emofeat.runs import (
    Predictions,
    Run,
    ZeroshotRun,
    finish_run,
    is_complete,
    model_file_entry,
    prepare_run_dir,
)
from emofeat.runs.settings import refuse_changed, run_changes
from emofeat.splits import SPLIT_NAMES
from emofeat.taxonomy import Task
from emofeat.zeroshot.config import CLASSES_FILE, EMBEDDING_LAYER, ImageSet, ZeroshotConfig
from emofeat.zeroshot.prompts import ENSEMBLE, PromptSet, load_prompts
from emofeat.zeroshot.text import class_embeddings, ensemble, softmax

__all__ = ["CLASSES_FILE", "EMBEDDING_LAYER", "ImageSet", "ZeroshotConfig", "zeroshot"]

log = logging.getLogger(__name__)

def _balanced(y: np.ndarray, pred: np.ndarray) -> float | None:
    if not len(y):
        return None
    from sklearn.metrics import balanced_accuracy_score

    return round(float(balanced_accuracy_score(y, pred)), 6)


def _table(templates: tuple[str, ...], scores: np.ndarray, y: np.ndarray,
           where: np.ndarray) -> list[dict[str, Any]]:
    """Each template's (and the ensemble's) val and test balanced accuracy."""
    rows = []
    for j, name in enumerate([*templates, ENSEMBLE]):
        pred = scores[:, j].argmax(axis=1)
        rows.append({"template": name,
                     **{f"{s}_balanced_accuracy": _balanced(y[where == s], pred[where == s])
                        for s in ("val", "test")}})
    return rows


def zeroshot(source: str | Path, out: str | Path, config: ZeroshotConfig,
             splits_file: str | Path | None = None, fmt: str = "auto",
             min_agree: int | None = None, allow_outside_root: bool = False,
             label_from: str | None = None, progress: Progress | None = None
             ) -> dict[str, Any]:
    """Write the zero-shot run of ``config`` on ``source`` (a feature store or a data set)
    into ``out``; returns run.json as a dict."""
    from emofeat.backbones.openclip import check_open_clip_name, create_open_clip, tokenizer_of
    from emofeat.zeroshot.images import from_images, from_store, is_store
    from emofeat.zeroshot.text import logit_scale_of

    config.check()
    check_open_clip_name(config.model)
    prompts = load_prompts(config.prompts)
    if is_store(source):
        images, task = from_store(Path(source), config, splits_file)
        recorded = images.weights
        clip, info = create_open_clip(config.model, _weights_spec(recorded),
                                      int(recorded.get("seed") or 0))
        if recorded.get("sha256") and info.sha256 != recorded["sha256"]:
            raise EmofeatError(f"the weights of {config.model} ({info.origin}) differ from "
                               f"those of the store {source}")
    else:
        clip, weights = create_open_clip(config.model, config.weights, config.seed)
        images, task = from_images(Path(source), config, clip, weights, splits_file, fmt,
                                   min_agree, allow_outside_root, label_from, progress)
    prompts = prompts.for_classes(task.classes)
    request = {"model": config.model, "weights": images.weights.get("sha256")
               or f"{images.weights['source']} (seed {images.weights.get('seed')})",
               "task": task.name, "features": images.features.get("store_sha256", "images"),
               "manifest_sha256": images.manifest_sha256,
               "splits_sha256": images.split.sha256, "prompt_sha256": prompts.sha256,
               "prompt_choice": config.prompt_choice, "precision": config.precision}
    out = Path(out)
    overwrite = config.overwrite
    if is_complete(out) and not overwrite:
        if not config.reuse:
            refuse_changed(out, request)
        elif diff := run_changes(out, request):
            log.warning("%s was made with other settings (%s); doing it again", out, diff)
            overwrite = True
        else:
            return Run.open(out).meta
    run_dir = prepare_run_dir(out, overwrite)
    per_template = class_embeddings(clip, tokenizer_of(config.model), prompts, task.classes)
    sets = [*per_template, ensemble(per_template)]
    scale = logit_scale_of(clip)
    scores = images.logits(sets, scale)  # (N, templates + 1, K)
    return _write(run_dir, config, task, prompts, images, sets, scores, scale, request)


def _weights_spec(weights: dict[str, Any]) -> str:
    """The --weights that gives a store's recorded weights again."""
    source = weights["source"]
    return {"random": "random", "hub": "hub"}.get(source, weights.get("origin") or "")


def _write(run_dir: Path, config: ZeroshotConfig, task: Task, prompts: PromptSet,
           images: ImageSet, sets: list[np.ndarray], scores: np.ndarray, scale: float,
           request: dict[str, Any]) -> dict[str, Any]:
    where = np.array([images.split.assignment.get(i, "-") if images.y[k] >= 0 else "-"
                      for k, i in enumerate(images.ids)])
    missing = [s for s in ("val", "test") if not np.any(where == s)]
    if missing:
        raise EmofeatError(f"the split has no {' or '.join(missing)} images of task "
                           f"{task.name}: zero-shot runs are scored on val and test")
    table = _table(prompts.templates, scores, images.y, where)
    if config.prompt_choice == ENSEMBLE:
        chosen, chosen_on = len(sets) - 1, None
    else:
        val = [r["val_balanced_accuracy"] for r in table[:-1]]
        if val[0] is None:
            raise EmofeatError("the split has no val images to choose a template on")
        chosen, chosen_on = int(np.argmax(val)), "val"
    np.save(run_dir / CLASSES_FILE, sets[chosen], allow_pickle=False)
    order = [i for s in SPLIT_NAMES for i in np.flatnonzero(where == s)]
    logits = scores[order, chosen]
    preds = Predictions(ids=[images.ids[i] for i in order], splits=[str(where[i]) for i in order],
                        y_true=images.y[order], y_pred=logits.argmax(axis=1),
                        scores=softmax(logits), classes=task.classes)
    name = table[chosen]["template"]
    record = ZeroshotRun(
        model=config.model,
        model_summary=(f"zero-shot, {len(prompts.templates)} templates "
                       + ("ensembled" if chosen_on is None else f"-> {name!r} (best on val)")),
        task=task.name, weights=images.weights, data_config=images.data_config,
        features=images.features, splits_sha256=images.split.sha256,
        split_groups=images.split.group_info, manifest_sha256=images.manifest_sha256,
        dataset_format=images.fmt, label_from=images.label_from, request=request,
        prompts=prompts.to_dict(), prompt_sha256=prompts.sha256,
        prompt_choice=config.prompt_choice, chosen=name, chosen_on=chosen_on,
        logit_scale=scale, prompt_table=tuple(table),
        failed=images.failed, n={s: int(np.sum(where == s)) for s in SPLIT_NAMES},
        model_files=(model_file_entry(run_dir, CLASSES_FILE),))
    return finish_run(run_dir, record, preds)
