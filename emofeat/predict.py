"""Apply a fitted or fine-tuned run to new images: same backbone, layers and preprocessing.
A run of a rating task predicts a rating per image (its classes are empty); a run of the
distribution task a share per class (its scores) and the dominant emotion (its label)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emofeat.backbones import backbone_from_record
from emofeat.device import resolve_batch_size, resolve_device, resolve_precision
from emofeat.errors import EmofeatError
from emofeat.frozen import FeatureModel
from emofeat.images import is_image_name
from emofeat.loading import ImageDataset, batch_loader, uint8_transform
from emofeat.paths import gather
from emofeat.runs import FeatureRun, FinetuneRun, Run, ZeroshotRun

# images -> (y_pred, scores); a rating task: (ratings, no scores)
Scorer = Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Predictor:
    classes: tuple[str, ...]
    data_config: dict[str, Any]
    score: Scorer


def _classical(run: Run, device: torch.device) -> Predictor:
    from emofeat.classical import load_model, scores_of

    assert isinstance(run.record, FeatureRun)  # kind "classical"
    feats, regression = run.record.features, run.record.is_regression
    distribution = run.record.is_distribution
    model = load_model({e.file: run.model_path(e.file) for e in run.record.model_files},
                       regression=regression, distribution=distribution)
    backbone = backbone_from_record(feats.backbone, feats.weights)
    order = list(feats.layer_order)
    cfg = feats.data_config
    extractor = FeatureModel(backbone, order, feats.pooling, device, feats.precision,
                             micro_batch=resolve_batch_size(None, device), mean=cfg["mean"],
                             std=cfg["std"])
    dtype = np.dtype(feats.dtype)  # features round-trip through the store's dtype

    def score(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        pooled = extractor(images)
        X = np.concatenate([pooled[n].astype(dtype).astype(np.float32) for n in order], axis=1)
        if regression:
            return np.asarray(model.predict(X), dtype=np.float64), np.zeros((len(X), 0))
        if distribution:  # the predicted shares; the label: the dominant emotion
            shares = np.asarray(model.predict(X), dtype=np.float64)
            return shares.argmax(axis=1), shares
        return np.asarray(model.predict(X)), scores_of(model, X)

    return Predictor(run.classes, feats.data_config, score)


def _finetuned(run: Run, device: torch.device) -> Predictor:
    from emofeat.device import autocast_for
    from emofeat.finetune import WEIGHTS, load_finetuned

    record = run.record
    assert isinstance(record, FinetuneRun)
    model = load_finetuned(run.meta, run.model_path(WEIGHTS)).to(device)
    amp = autocast_for(record.hyperparameters["precision"], device)
    mean, std = (torch.tensor(record.data_config[k], device=device).view(1, -1, 1, 1)
                 for k in ("mean", "std"))

    @torch.inference_mode()
    def score(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        # timm's ToTensor + Normalize, op for op, on the uint8 batch
        x = images.to(device).float().div_(255).sub_(mean).div_(std)
        with amp():
            probs = model(x).float().softmax(dim=1).cpu().numpy()
        return probs.argmax(axis=1), probs

    return Predictor(run.classes, record.data_config, score)


def _zeroshot(run: Run, device: torch.device) -> Predictor:
    """The run's image tower and its class embeddings (model-classes.npy, hash checked)."""
    from emofeat.zeroshot.run import CLASSES_FILE, EMBEDDING_LAYER
    from emofeat.zeroshot.text import cosine_logits, softmax

    record = run.record
    assert isinstance(record, ZeroshotRun)
    classes = np.load(run.model_path(CLASSES_FILE), allow_pickle=False)
    tower = backbone_from_record(record.model, record.weights)
    cfg = record.data_config
    precision = resolve_precision(str(record.request.get("precision", "auto")), device)
    extractor = FeatureModel(tower, [EMBEDDING_LAYER], "avg", device, precision,
                             micro_batch=resolve_batch_size(None, device), mean=cfg["mean"],
                             std=cfg["std"])

    def score(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        probs = softmax(cosine_logits(extractor(images)[EMBEDDING_LAYER], classes,
                                      record.logit_scale))
        return probs.argmax(axis=1), probs

    return Predictor(run.classes, cfg, score)


#: How each kind of run turns images into predictions.
PREDICTORS: dict[str, Callable[[Run, torch.device], Predictor]] = {
    "classical": _classical, "finetune": _finetuned, "zeroshot": _zeroshot}


def load_predictor(run_dir: str | Path, device: str = "auto") -> Predictor:
    run = Run.open(run_dir)
    kind = run.record.kind
    if kind not in PREDICTORS:
        raise EmofeatError(f"runs of kind '{kind}' cannot predict images; "
                           f"kinds that can: {', '.join(PREDICTORS)}")
    return PREDICTORS[kind](run, resolve_device(device))


#: What a run's class scores are, by its ``score_kind``, as columns of predict's output name
#: them: probabilities (logreg, LightGBM, fine-tuned), SVM decision margins (unbounded), or
#: a distribution run's predicted shares.
SCORE_NAMES = {"probability": "probability", "decision": "margin", "distribution": "share"}


def score_name(run_dir: str | Path) -> str:
    """What the class scores of a run's predictions hold: ``probability`` or ``margin``."""
    kind = Run.open(run_dir).record.score_kind
    return SCORE_NAMES.get(kind, kind)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, and image files below folders (sorted); a missing path is an error."""
    return gather(inputs, Path.is_file, lambda p: p.is_file() and is_image_name(p), "images")


@dataclass(frozen=True)
class PredictedImage:
    path: Path
    label: str | None  # None when the image could not be read, or for a rating task
    scores: dict[str, float]
    error: str = ""
    rating: float | None = None  # a rating task's prediction


def predict_images(
    run_dir: str | Path,
    inputs: Sequence[str | Path],
    batch_size: int = 32,
    device: str = "auto",
    workers: int = 0,
) -> tuple[tuple[str, ...], Iterator[PredictedImage]]:
    """The run's classes, and a prediction per image, batch by batch (memory stays flat).
    A run of a rating task has no classes and predicts ``rating``.

    Unreadable images come back with ``label=None`` and the reason. Bad arguments (a missing
    path, a run that cannot predict) raise before anything is computed.
    """
    if batch_size < 1:
        raise EmofeatError(f"--batch-size must be at least 1; got {batch_size}")
    predictor = load_predictor(run_dir, device)
    paths = collect_images(inputs)
    batches = [list(range(i, min(i + batch_size, len(paths))))
               for i in range(0, len(paths), batch_size)]
    # uint8 batches (no torch work in the decoding threads), normalised by the predictor
    loader = batch_loader(ImageDataset(paths, uint8_transform(predictor.data_config)), batches,
                          workers)
    return predictor.classes, _stream(loader, paths, predictor)


def _stream(loader: Iterable[dict[str, Any]], paths: Sequence[Path], predictor: Predictor
            ) -> Iterator[PredictedImage]:
    for batch in loader:
        results: dict[int, PredictedImage] = {
            row: PredictedImage(paths[row], None, {}, why) for row, why in batch["failed"]}
        if batch["images"] is not None:
            y_pred, scores = predictor.score(batch["images"])
            for k, row in enumerate(batch["rows"]):
                if not predictor.classes:
                    results[row] = PredictedImage(paths[row], None, {}, rating=float(y_pred[k]))
                    continue
                results[row] = PredictedImage(
                    paths[row], predictor.classes[int(y_pred[k])],
                    {c: float(scores[k, j]) for j, c in enumerate(predictor.classes)})
        yield from (results[r] for r in sorted(results))
