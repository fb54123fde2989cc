"""Label rules: where a release offers more than one legitimate label per image, which one
the manifest's ``labels`` hold.

Emotion6 has two: the search keyword its image folder is named after (``folder``, the
default) and the emotion annotators rated most probable (``ratings``: the argmax of its
seven probabilities, so ``neutral`` becomes a class; an image whose highest probability is
shared by two emotions is dropped and counted as ``tied ratings``). Its reader keeps both as
the text columns ``label_folder`` and ``label_ratings`` ("" where tied), so ``data show``
can say how often they agree whichever rule is used.

A rule other than the release's default is recorded in the manifest (and so in its hash,
store.json and run.json). Nothing here imports numpy, torch or scikit-learn.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError

#: The label rules of each release that has several, its default first.
LABEL_RULES: dict[str, tuple[str, ...]] = {"emotion6": ("folder", "ratings")}
#: Why an image has no label under a rule (the reason in ``dropped``).
TIED = "tied ratings (two emotions share the highest probability)"


def rule_column(rule: str) -> str:
    """The manifest column holding every image's label under ``rule``."""
    return f"label_{rule}"


def check_label_from(fmt: str, label_from: str | None) -> None:
    """Refuse a rule a format does not have (``fmt`` as detected)."""
    if label_from is None:
        return
    rules = LABEL_RULES.get(fmt)
    if rules is None:
        offered = "; ".join(f"{f}: {', '.join(r)}" for f, r in LABEL_RULES.items())
        raise EmofeatError(f"--label-from: the {fmt} data set has one label per image; "
                           f"label rules exist for {offered}")
    if label_from not in rules:
        raise EmofeatError(f"--label-from: {fmt} has no label rule '{label_from}'; valid "
                           f"rules: {', '.join(rules)}")


def apply_label_rule(manifest: Manifest, label_from: str | None) -> Manifest:
    """The manifest labelled by ``label_from`` (None or the default: as read). Images with
    no label under the rule are dropped and counted by reason."""
    check_label_from(manifest.format, label_from)
    rules = LABEL_RULES.get(manifest.format, ())
    if label_from is None or label_from == rules[0]:
        return manifest
    column = manifest.extra[rule_column(label_from)]
    keep = [i for i, label in enumerate(column) if label != ""]
    kept = {manifest.ids[i] for i in keep}
    dropped = dict(manifest.dropped)
    if len(keep) < len(manifest):
        dropped[TIED] = dropped.get(TIED, 0) + len(manifest) - len(keep)
    return replace(
        manifest,
        ids=tuple(manifest.ids[i] for i in keep),
        labels=tuple(column[i] for i in keep),
        extra={k: tuple(v[i] for i in keep) for k, v in manifest.extra.items()},
        dropped=dropped,
        files={k: v for k, v in manifest.files.items() if k in kept},
        label_rule=label_from,
    )


def label_rule_of(manifest: Manifest) -> str | None:
    """The rule the manifest's labels follow (its release's default where none was given);
    None for releases with one label per image."""
    rules = LABEL_RULES.get(manifest.format)
    if rules is None:
        return None
    return manifest.label_rule or rules[0]


def label_agreement(manifest: Manifest) -> dict[str, Any] | None:
    """How often the rules of a release agree: images labelled by every rule, how many of
    those get the same label, and the share; None for releases with one rule."""
    rules = LABEL_RULES.get(manifest.format)
    if rules is None or not all(rule_column(r) in manifest.extra for r in rules):
        return None
    columns = [manifest.extra[rule_column(r)] for r in rules]
    both = [labels for labels in zip(*columns, strict=True) if all(labels)]
    same = sum(len(set(labels)) == 1 for labels in both)
    return {"used": label_rule_of(manifest), "rules": list(rules), "n_labelled": len(both),
            "n_agree": same, "agreement": same / len(both) if both else float("nan"),
            "n_unlabelled": len(columns[0]) - len(both)}
