"""Pooling a layer's output to one vector per image.

``avg``, ``max`` and ``avgmax`` pool feature maps or the patch tokens of a token model;
``cls`` takes a token model's class token and ``cls+avg`` joins it with the mean of the patch
tokens (:data:`TOKEN_POOLINGS`: token layers only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

TOKEN_POOLINGS: tuple[str, ...] = ("cls", "cls+avg")
POOLINGS: tuple[str, ...] = ("avg", "max", "avgmax", *TOKEN_POOLINGS)


def pooled_dim(channels: int, pooling: str) -> int:
    """The length of a pooled vector of a layer with ``channels``."""
    return channels * (2 if pooling in ("avgmax", "cls+avg") else 1)


def pool(output: torch.Tensor, method: str = "avg", nhwc: bool = False,
         prefix: int = 0) -> torch.Tensor:
    """(N, C, H, W) maps or (N, L, C) tokens -> (N, C), or (N, 2C) for ``avgmax`` and
    ``cls+avg``; an (N, C) output is already one vector per image.

    ``prefix``: the class and register tokens ahead of the patch tokens of an (N, L, C)
    output; ``avg``/``max`` pool the patch tokens alone, ``cls`` is token 0. Pooling is
    computed in float32 whatever the autocast dtype, so ``avg`` of the last feature map
    equals timm's own global average pool.
    """
    import torch

    x = output.float()
    if x.ndim == 2:
        return x
    if method in TOKEN_POOLINGS and (x.ndim != 3 or prefix < 1):
        raise ValueError(f"pooling '{method}' needs a class token (a token model's blocks)")
    cls = x[:, 0] if method in TOKEN_POOLINGS else None
    if x.ndim == 4:
        dims: tuple[int, ...] = (1, 2) if nhwc else (2, 3)
    elif x.ndim == 3:
        x, dims = x[:, prefix:], (1,)
    else:
        raise ValueError(f"cannot pool a tensor of shape {tuple(output.shape)}")
    if method == "avg":
        return x.mean(dim=dims)
    if method == "max":
        return x.amax(dim=dims)
    if method == "avgmax":
        return torch.cat([x.mean(dim=dims), x.amax(dim=dims)], dim=1)
    if method == "cls":
        assert cls is not None
        return cls
    if method == "cls+avg":
        assert cls is not None
        return torch.cat([cls, x.mean(dim=dims)], dim=1)
    raise ValueError(f"unknown pooling '{method}'; valid: {', '.join(POOLINGS)}")
