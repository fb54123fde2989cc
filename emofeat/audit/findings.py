"""What an audit finds, from the images' hashes and groups: duplicates (exact and near),
placeholders, unreadable and tiny images, class conflicts, and the groups a split puts on
both sides of train/test; and which images ``--drop`` leaves out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emofeat.audit.groups import Group
from emofeat.audit.hashes import ImageHash
from emofeat.datasets.manifest import Manifest
from emofeat.errors import EmofeatError

#: What ``--drop`` may leave out, and what each means.
DROP_REASONS: dict[str, str] = {
    "duplicates": "every copy of a duplicate group but its largest image",
    "placeholders": "every image of a placeholder group",
    "unreadable": "images that cannot be decoded",
    "tiny": "images whose shorter side is below --min-side",
    "conflicts": "every image of a group whose copies carry different labels",
}


def check_drop(reasons: Collection[str]) -> None:
    """Refuse a ``--drop`` reason that is not one of :data:`DROP_REASONS`."""
    unknown = sorted(set(reasons) - set(DROP_REASONS))
    if unknown:
        raise EmofeatError(f"--drop: unknown reason(s) {', '.join(unknown)}; valid: "
                           f"{', '.join(DROP_REASONS)}")


@dataclass(frozen=True)
class AuditOptions:
    """How the audit decides. ``max_distance``: perceptual-hash bits two near copies may
    differ in (None: exact duplicates only); ``placeholder_min``: a group of at least this
    many images is a placeholder (a stand-in picture served for missing photos);
    ``min_side``: images with a shorter side below it are tiny; ``min_similarity``: cosine
    similarity of store features that links two images (None: features not used)."""

    max_distance: int | None = 6
    placeholder_min: int = 5
    min_side: int = 32
    min_similarity: float | None = None

    def check(self) -> None:
        if self.max_distance is not None and not 0 <= self.max_distance <= 32:
            raise EmofeatError(f"--max-distance must be 0-32 bits of 64, got {self.max_distance}")
        if self.placeholder_min < 2:
            raise EmofeatError(f"--placeholder-min must be at least 2, got "
                               f"{self.placeholder_min}")
        if self.min_side < 0:
            raise EmofeatError(f"--min-side must be >= 0, got {self.min_side}")
        if self.min_similarity is not None and not 0 < self.min_similarity <= 1:
            raise EmofeatError(f"--cosine must be in (0, 1], got {self.min_similarity}")


@dataclass(frozen=True)
class Findings:
    """The audit's result over one manifest (rows are manifest row indices)."""

    manifest: Manifest
    hashes: Sequence[ImageHash]
    groups: Sequence[Group]
    options: AuditOptions
    split: Mapping[str, str] | None = None
    split_source: str = ""

    def kind(self, group: Group) -> str:
        """``placeholder`` (a group of at least ``placeholder_min``), ``exact`` or ``near``."""
        if len(group) >= self.options.placeholder_min:
            return "placeholder"
        return "exact" if group.exact else "near"

    def conflicting(self, group: Group) -> bool:
        """Copies of one picture under two or more labels (placeholders, stand-ins for
        missing photos, are counted as placeholders instead)."""
        return self.kind(group) != "placeholder" and \
            len({self.manifest.labels[k] for k in group.members}) > 1

    @property
    def unreadable(self) -> list[int]:
        return [k for k, h in enumerate(self.hashes) if not h.readable]

    @property
    def tiny(self) -> list[int]:
        side = self.options.min_side
        return [k for k, h in enumerate(self.hashes)
                if h.readable and min(h.width, h.height) < side]

    def across(self, group: Group) -> bool:
        """The group has images in test and in train or val."""
        if self.split is None:
            return False
        parts = {self.split.get(self.manifest.ids[k], "") for k in group.members}
        return "test" in parts and bool(parts & {"train", "val"})

    def keeper(self, group: Group) -> int:
        """The copy ``--drop duplicates`` keeps: the most pixels, then the first id."""
        return max(group.members,
                   key=lambda k: (self.hashes[k].width * self.hashes[k].height, -k))

    def counts(self) -> dict[str, Any]:
        """Counts per reason (groups, images in them, copies beyond one per group)."""
        by_kind: dict[str, list[Group]] = {"exact": [], "near": [], "placeholder": []}
        for g in self.groups:
            by_kind[self.kind(g)].append(g)

        def tally(groups: Sequence[Group]) -> dict[str, int]:
            n = sum(len(g) for g in groups)
            return {"groups": len(groups), "images": n, "extra_copies": n - len(groups)}

        conflicts = [g for g in self.groups if self.conflicting(g)]
        counts: dict[str, Any] = {
            "exact_duplicates": tally(by_kind["exact"]),
            "near_duplicates": tally(by_kind["near"]),
            "placeholders": {k: v for k, v in tally(by_kind["placeholder"]).items()
                             if k != "extra_copies"},
            "unreadable": {"images": len(self.unreadable)},
            "tiny": {"images": len(self.tiny)},
            "class_conflicts": {"groups": len(conflicts),
                                "images": sum(len(g) for g in conflicts)},
        }
        return counts

    def split_summary(self) -> dict[str, Any] | None:
        """How many groups the split puts on both sides of train/test, and their images."""
        if self.split is None:
            return None
        across = [g for g in self.groups if self.across(g)]
        in_test = sum(1 for g in across for k in g.members
                      if self.split.get(self.manifest.ids[k]) == "test")
        return {"source": self.split_source, "groups_across_train_test": len(across),
                "images_in_those_groups": sum(len(g) for g in across),
                "test_images_with_a_copy_outside_test": in_test}

    def dropped(self, reasons: Collection[str]) -> dict[str, list[int]]:
        """The rows ``--drop`` leaves out, by reason (a row counted under its first)."""
        check_drop(reasons)
        out: dict[str, list[int]] = {r: [] for r in DROP_REASONS if r in reasons}
        if "unreadable" in out:
            out["unreadable"] = self.unreadable
        if "tiny" in out:
            out["tiny"] = self.tiny
        for g in self.groups:
            if "placeholders" in out and self.kind(g) == "placeholder":
                out["placeholders"] += g.members
            elif "conflicts" in out and self.conflicting(g):
                out["conflicts"] += g.members
            elif "duplicates" in out and self.kind(g) != "placeholder":
                keep = self.keeper(g)
                out["duplicates"] += [k for k in g.members if k != keep]
        seen: set[int] = set()
        for reason, rows in out.items():
            out[reason] = sorted(set(rows) - seen)
            seen |= set(rows)
        return out
