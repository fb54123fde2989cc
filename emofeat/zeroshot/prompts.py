"""Class prompts of zero-shot runs: templates ("a photo that makes people feel {}.") and
per-class synonyms, the shipped emotion set or a TOML file; no torch.

A prompts file::

    templates = ["a photo that makes people feel {}.", "an image evoking {}."]

    [synonyms]              # optional; a class without synonyms is written as its name
    amusement = ["amusement", "fun"]
    sadness = ["sadness", "sorrow"]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emofeat.errors import EmofeatError
from emofeat.hashing import sha256_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: The shipped templates: the wording the emotion literature's CLIP baselines use, and a
#: plain label for comparison.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo that makes people feel {}.",
    "an image that evokes {}.",
    "a picture that makes me feel {}.",
    "a photo evoking a feeling of {}.",
    "a photo of {}.",
    "{}",
)

#: The shipped synonyms of Mikels' eight emotions and of valence.
DEFAULT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "amusement": ("amusement", "fun"),
    "anger": ("anger", "rage"),
    "awe": ("awe", "wonder"),
    "contentment": ("contentment", "calm"),
    "disgust": ("disgust", "revulsion"),
    "excitement": ("excitement", "thrill"),
    "fear": ("fear", "dread"),
    "sadness": ("sadness", "sorrow"),
    "positive": ("positive emotions", "happiness"),
    "negative": ("negative emotions", "unhappiness"),
}

#: How the prompts become each class's text embedding.
PROMPT_CHOICES: tuple[str, ...] = ("ensemble", "best-on-val")
ENSEMBLE = "ensemble"


@dataclass(frozen=True)
class PromptSet:
    """Templates and, per class, the words put into them."""

    templates: tuple[str, ...]
    synonyms: Mapping[str, tuple[str, ...]]

    def for_classes(self, classes: Sequence[str]) -> PromptSet:
        """The set for a task's classes: each class its synonyms, or its own name."""
        unknown = sorted(set(self.synonyms) - set(classes))
        if unknown and self.synonyms is not DEFAULT_SYNONYMS:
            raise EmofeatError(f"prompts give synonyms for {', '.join(unknown)}, not classes "
                               f"of the task ({', '.join(classes)})")
        return PromptSet(self.templates,
                         {c: tuple(self.synonyms.get(c, (c,))) for c in classes})

    def texts(self, template: str, cls: str) -> list[str]:
        return [template.format(word) for word in self.synonyms[cls]]

    def to_dict(self) -> dict[str, Any]:
        return {"templates": list(self.templates),
                "synonyms": {c: list(w) for c, w in self.synonyms.items()}}

    @property
    def sha256(self) -> str:
        """The hash of the prompts (templates and synonyms, in order)."""
        return sha256_bytes(json.dumps(self.to_dict(), sort_keys=False).encode("utf-8"))


DEFAULT_PROMPTS = PromptSet(DEFAULT_TEMPLATES, DEFAULT_SYNONYMS)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v.strip() for v in value):
        raise EmofeatError(f"{where} must be a non-empty list of non-empty strings")
    if len(set(value)) != len(value):
        raise EmofeatError(f"{where} repeats an entry")
    return tuple(value)


def load_prompts(path: str | Path | None) -> PromptSet:
    """The prompts of a TOML file (see the module's docstring); None: the shipped set."""
    if path is None:
        return DEFAULT_PROMPTS
    path = Path(path)
    if not path.is_file():
        raise EmofeatError(f"prompts file {path} does not exist")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EmofeatError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(table) - {"templates", "synonyms"})
    if unknown:
        raise EmofeatError(f"{path}: unknown key(s) {', '.join(unknown)}; valid: templates, "
                           "synonyms")
    templates = _strings(table.get("templates"), f"{path}: templates")
    for t in templates:
        rest = t.replace("{}", "")
        if t.count("{}") != 1 or "{" in rest or "}" in rest:
            raise EmofeatError(f"{path}: template {t!r} needs exactly one {{}} for the class")
    synonyms = table.get("synonyms", {})
    if not isinstance(synonyms, dict):
        raise EmofeatError(f"{path}: [synonyms] must be a table of class = [words]")
    return PromptSet(templates, {str(c): _strings(w, f"{path}: synonyms.{c}")
                                 for c, w in synonyms.items()})


def check_choice(choice: str) -> None:
    if choice not in PROMPT_CHOICES:
        raise EmofeatError(f"unknown prompt choice '{choice}'; valid: {', '.join(PROMPT_CHOICES)}")
