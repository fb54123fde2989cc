"""Zero-shot runs: an open_clip model's image embeddings against class prompts.

Modules: ``prompts`` (templates and synonyms, the shipped set, TOML files; no torch),
``text`` (class embeddings and cosine logits), ``images`` (embeddings from a store or from
images), ``run`` (the run directory, kind ``zeroshot``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofeat.lazy import lazy_attributes
from emofeat.zeroshot.prompts import (
    DEFAULT_PROMPTS,
    PROMPT_CHOICES,
    PromptSet,
    load_prompts,
)

if TYPE_CHECKING:
    from emofeat.zeroshot.run import ZeroshotConfig, zeroshot

__all__ = ["DEFAULT_PROMPTS", "PROMPT_CHOICES", "PromptSet", "ZeroshotConfig", "load_prompts",
           "zeroshot"]

__getattr__ = lazy_attributes(__name__, dict.fromkeys(("ZeroshotConfig", "zeroshot"),
                                                       "emofeat.zeroshot.run"))
