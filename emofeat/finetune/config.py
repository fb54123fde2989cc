"""Fine-tuning settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from emofeat.errors import EmofeatError

CHECKPOINT = "checkpoint-last.pt"
WEIGHTS = "model.safetensors"
BALANCE = ("loss", "sampler", "none")


@dataclass
class FinetuneConfig:
    """Training settings; all but device and workers must match to resume a run."""

    backbone: str = "tf_efficientnet_lite0"
    weights: str = "pretrained"
    task: str = "emotion8"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    balance: str = "loss"
    img_size: int | None = None
    crop_scale: float = 0.35  # smallest area fraction of the random resized crop
    color_jitter: bool = False
    freeze_until: str | None = None
    clip_grad: float = 1.0
    patience: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    workers: int | None = None
    # the distribution task: images with an invalid distribution are left out (counted)
    drop_invalid: bool = False

    def check(self) -> None:
        if self.balance not in BALANCE:
            raise EmofeatError(f"--balance must be one of {', '.join(BALANCE)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 1:
            raise EmofeatError("--epochs, --batch-size, --patience must be >= 1, --lr > 0")
        if not 0 <= self.label_smoothing < 1 or not 0 < self.crop_scale <= 1:
            raise EmofeatError("--label-smoothing must be in [0, 1), --crop-scale in (0, 1]")
        if self.img_size is not None and self.img_size < 32:
            raise EmofeatError("--img-size must be at least 32")

    def settings(self) -> dict[str, Any]:
        """What decides the result (resume requires these unchanged)."""
        ignored = ("device", "workers") if self.task == "distribution" else \
            ("device", "workers", "drop_invalid")  # only the distribution task reads it
        return {k: v for k, v in asdict(self).items() if k not in ignored}
