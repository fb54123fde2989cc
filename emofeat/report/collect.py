"""Finding run directories, checking they belong together, and describing each one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emofeat.errors import EmofeatError
from emofeat.paths import gather
from emofeat.runs import RUN_FILE, Predictions, Run

#: How a run answers the transfer-learning question.
FAMILIES = ("pretrained", "random", "finetune", "majority", "colour")


@dataclass(frozen=True)
class RunInfo:
    """One run as the report sees it: its test predictions and how to describe it."""

    name: str
    run: Run
    test: Predictions

    @property
    def meta(self) -> dict:
        return self.run.meta

    @property
    def task(self) -> str:
        return str(self.meta["task"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def family(self) -> str:
        if self.kind == "finetune":
            return "finetune"
        if self.meta.get("model") == "majority":
            return "majority"
        features = self.meta.get("features", {})
        if features.get("backbone", "").startswith("handcrafted"):
            return "colour"
        return "random" if features.get("weights", {}).get("source") == "random" else "pretrained"

    @property
    def val_score(self) -> float:
        """Balanced accuracy on val as the run's own selection saw it (never test): the best
        candidate of a search (fitted on train), the chosen epoch of a fine-tuning."""
        meta = self.meta
        if self.kind == "finetune":
            return float(meta["history"][meta["best_epoch"] - 1]["val_balanced_accuracy"])
        if "search" in meta:
            return float(max(r["val_balanced_accuracy"] for r in meta["search"]["table"]))
        return float(self.run.metrics().get("val", {}).get("balanced_accuracy", 0.0))

    @property
    def classifier(self) -> str:
        return "fine-tuned" if self.kind == "finetune" else str(self.meta["model"])

    @property
    def backbone(self) -> str:
        if self.kind == "finetune":
            return str(self.meta["model"])
        return str(self.meta.get("features", {}).get("backbone", "-"))

    @property
    def weights(self) -> str:
        source = (self.meta.get("weights") or self.meta.get("features", {}).get("weights")
                  or {}).get("source", "-")
        return {"bundled": "pretrained (bundled)", "hub": "pretrained (hub)",
                "file": "pretrained (file)"}.get(source, source)

    @property
    def layer(self) -> str:
        return str(self.meta.get("layer", "-"))

    @property
    def features(self) -> str:
        if self.family == "majority":
            return "-"
        if self.family == "colour":
            return "hand-crafted colour"
        weights = self.weights.split(" ")[0]  # "pretrained (bundled)" -> "pretrained"
        if self.kind == "finetune":
            return f"{self.backbone} {weights}, trained {self.layer}"
        return f"{self.backbone} {weights} · {self.layer}"


def find_runs(inputs: Sequence[str | Path]) -> list[Path]:
    """Run directories given directly, or found (recursively) below the given folders."""
    def is_run(path: Path) -> bool:
        return (path / RUN_FILE).is_file()

    return sorted(set(gather(inputs, is_run, is_run, "runs")), key=str)


def _name(path: Path, common: Path) -> str:
    try:
        rel = path.resolve().relative_to(common)
    except ValueError:
        return str(path)
    return rel.as_posix() if str(rel) != "." else path.name


def load_runs(inputs: Sequence[str | Path]) -> list[RunInfo]:
    """Open every run, verify its files and hashes, and check they share one split."""
    paths = find_runs(inputs)
    runs = []
    for path in paths:
        run = Run.open(path)
        run.verify_model_files()
        runs.append(run)
    hashes = {r.meta.get("splits_sha256") for r in runs}
    if len(hashes) > 1:
        counts: dict[str, list[str]] = {}
        for r in runs:
            counts.setdefault(str(r.meta.get("splits_sha256")), []).append(str(r.path))
        majority = max(counts, key=lambda h: len(counts[h]))
        odd = [p for h, ps in counts.items() if h != majority for p in ps]
        raise EmofeatError(f"runs come from different splits; these differ from the rest: "
                           f"{', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''}")
    manifests = {_manifest_hash(r) for r in runs} - {None}
    if len(manifests) > 1:
        raise EmofeatError("runs come from different datasets (manifest hashes differ)")
    common = Path(os.path.commonpath([str(p.resolve()) for p in paths]))
    if len(paths) == 1:
        common = common.parent
    return [RunInfo(_name(r.path, common), r, r.predictions().select("test")) for r in runs]


def _manifest_hash(run: Run) -> str | None:
    return run.meta.get("manifest_sha256") or run.meta.get("features", {}).get(
        "manifest_sha256")
