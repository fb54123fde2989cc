"""Pooling a layer's output to one vector per image: ``avg``, ``max`` or ``avgmax``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

POOLINGS: tuple[str, ...] = ("avg", "max", "avgmax")


def pool(output: torch.Tensor, method: str = "avg", nhwc: bool = False) -> torch.Tensor:
    """(N, C, H, W) maps or (N, L, C) tokens -> (N, C), or (N, 2C) for ``avgmax``.

    Pooling is computed in float32 whatever the autocast dtype, so ``avg`` of the last
    feature map equals timm's own global average pool.
    """
    import torch

    x = output.float()
    if x.ndim == 4:
        dims = (1, 2) if nhwc else (2, 3)
    elif x.ndim == 3:
        dims = (1,)
    elif x.ndim == 2:
        return x
    else:
        raise ValueError(f"cannot pool a tensor of shape {tuple(output.shape)}")
    if method == "avg":
        return x.mean(dim=dims)
    if method == "max":
        return x.amax(dim=dims)
    if method == "avgmax":
        return torch.cat([x.mean(dim=dims), x.amax(dim=dims)], dim=1)
    raise ValueError(f"unknown pooling '{method}'; valid: {', '.join(POOLINGS)}")
