"""Text side of zero-shot runs: class embeddings from prompts, and cosine logits.

Each template's class embedding is the mean of the L2-normalised text embeddings of the
class's synonyms in it, normalised again; the ensemble of templates is the mean of those,
normalised (CLIP's prompt ensembling). Logits are the cosine similarity of the normalised
image embedding with each class embedding times ``exp(logit_scale)``, the model's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from emofeat.zeroshot.prompts import PromptSet


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(min=1e-12)


@torch.inference_mode()
def class_embeddings(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                     prompts: PromptSet, classes: Sequence[str]) -> np.ndarray:
    """(templates, classes, dim) float32: every template's normalised class embeddings."""
    out = []
    for template in prompts.templates:
        per_class = []
        for cls in classes:
            emb = model.encode_text(tokenizer(prompts.texts(template, cls))).float().numpy()
            per_class.append(normalise(normalise(emb).mean(axis=0)))
        out.append(np.stack(per_class))
    return np.stack(out).astype(np.float32)


def ensemble(per_template: np.ndarray) -> np.ndarray:
    """(classes, dim): the templates' class embeddings averaged and normalised."""
    return normalise(per_template.mean(axis=0)).astype(np.float32)


def logit_scale_of(model: nn.Module) -> float:
    return float(model.logit_scale.detach().float().exp())


def cosine_logits(images: np.ndarray, classes: np.ndarray, scale: float) -> np.ndarray:
    """(N, K): ``scale`` times the cosine similarity of each image with each class."""
    return scale * normalise(images.astype(np.float64)) @ classes.astype(np.float64).T


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
