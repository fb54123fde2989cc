"""Grouped splits and folds: every group (an OASIS theme family, a category, a set of
duplicate copies) in one split; the group column in splits.csv; leave-one-category-out
folds; the refusals; and ``[split] group_by`` in emofeat run, said in the report."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from emofeat.audit import find_findings
from emofeat.datasets import load_manifest
from emofeat.errors import EmofeatError
from emofeat.experiment import run_experiment
from emofeat.resampling import make_folds
from emofeat.splits import Split, make_split, read_split, split_groups, write_split

from .conftest import write_image
from .test_audit import make_planted

runner = CliRunner()
CATEGORIES = ("Animal", "Object", "Person", "Scene")
SUBJECTS = {"Animal": ("Dog", "Cat", "Owl"), "Object": ("Cup", "Lamp", "Key"),
            "Person": ("Baby", "Crowd", "Dancer"), "Scene": ("Lake", "Wall", "Road")}


def make_oasis(root: Path, per_family: int = 4) -> Path:
    """OASIS as distributed (CR line ends): 12 families of ``per_family`` photos
    ("Dog 1" ... "Dog 4"), both valences in every family."""
    lines = ['"",Theme,Category,Source,Valence_mean,Valence_SD,Valence_N,Arousal_mean,'
             'Arousal_SD,Arousal_N']
    n = 0
    for category in CATEGORIES:
        for subject in SUBJECTS[category]:
            for k in range(1, per_family + 1):
                n += 1
                theme = f"{subject} {k}"
                valence = 5.5 if k % 2 else 2.5
                lines.append(f"{n},{theme}{' ' if k == 2 else ''},{category},Pixabay,"
                             f"{valence},1,100,3,1,100")
                write_image(root / "images" / f"{theme}.jpg", n, size=32)
    (root / "OASIS.csv").write_bytes(("\r".join(lines) + "\r").encode("utf-8"))
    return root


@pytest.fixture(scope="module")
def oasis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_oasis(tmp_path_factory.mktemp("oasis") / "OASIS")


def _apart(split: Split, groups: dict[str, str]) -> bool:
    where: dict[str, set[str]] = defaultdict(set)
    for image_id, part in split.assignment.items():
        where[groups[image_id]].add(part)
    return all(len(parts) == 1 for parts in where.values())


def test_oasis_families_stay_in_one_split(oasis: Path, tmp_path: Path) -> None:
    m = load_manifest(oasis)
    assert m.extra["family"][:2] == ("Baby", "Baby") and "Baby 2" in m.extra["theme"]
    groups = split_groups(m, "family")
    split = make_split(m, (0.6, 0.2, 0.2), seed=3, groups=groups, group_by="family")
    named = dict(zip(m.ids, groups, strict=True))
    assert _apart(split, named)
    assert all(split.counts()[p] > 0 for p in ("train", "val", "test"))
    assert split.group_info == {"by": "family", "n_groups": 12}
    path = tmp_path / "splits.csv"
    write_split(split, path)
    assert path.read_text().splitlines()[0] == "id,split,family"
    assert read_split(path, m) == split
    assert split.sha256 != make_split(m, (0.6, 0.2, 0.2), seed=3).sha256


def test_leave_one_category_out(oasis: Path) -> None:
    m = load_manifest(oasis)
    folds = make_folds(m, 4, groups=split_groups(m, "category"), group_by="category")
    category = dict(zip(m.ids, m.extra["category"], strict=True))
    tested = [{category[i] for i in f.ids("test")} for f in folds]
    assert sorted(c for t in tested for c in t) == sorted(CATEGORIES)  # each once
    assert all(len(t) == 1 for t in tested)
    assert all(_apart(f, category) for f in folds)
    family = make_folds(m, 3, groups=split_groups(m, "family"), group_by="family")
    named = dict(zip(m.ids, m.extra["family"], strict=True))
    assert all(_apart(f, named) for f in family)


def test_a_duplicate_grouped_split_puts_no_group_on_both_sides(tmp_path: Path) -> None:
    root = make_planted(tmp_path / "data")
    out = tmp_path / "splits.csv"
    result = runner.invoke(app, ["data", "split", str(root), "--group-by", "duplicates",
                                 "--fractions", "0.5,0.2,0.3", "--out", str(out),
                                 "--audit", str(tmp_path / "audit")])
    assert result.exit_code == 0, result.output
    assert "grouped by duplicates: " in result.output
    m = load_manifest(root)
    split = read_split(out, m)
    assert split.group_by == "duplicates"
    findings = find_findings(m, split=dict(split.assignment))
    assert findings.groups and findings.split_summary()["groups_across_train_test"] == 0
    assert all(len({split.assignment[m.ids[k]] for k in g.members}) == 1
               for g in findings.groups)
    assert (tmp_path / "audit" / "hashes.csv").is_file()


def test_bad_group_columns_and_files_are_refused(oasis: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "split", str(oasis), "--group-by", "colour",
                                 "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 2
    assert "no column 'colour'; valid: duplicates, theme, family, category" in result.output
    assert not (tmp_path / "s.csv").exists()
    m = load_manifest(oasis)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,split,family\n" + "".join(
        f"{i},{'test' if k == 0 else 'train'},Dog\n" for k, i in enumerate(m.ids)))
    with pytest.raises(EmofeatError, match="group 'Dog' \\(family\\) is in both"):
        read_split(bad, m)


CONFIG = """
[data]
path = "OASIS"

[split]
fractions = [0.6, 0.2, 0.2]
group_by = "{group_by}"

[[extract]]
name = "lite0"
backbone = "tf_efficientnet_lite0"
weights = "random"
layers = ["bn2"]
workers = 0

[fit]
models = ["logreg"]
tasks = ["label"]
jobs = 1

[finetune]
enabled = false

[baselines]
majority = false
colour = false
"""


def test_run_groups_its_split_and_says_so(oasis: Path, tmp_path: Path) -> None:
    (tmp_path / "OASIS").symlink_to(oasis)
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(group_by="colour"))
    with pytest.raises(EmofeatError, match="no column 'colour'"):
        run_experiment(bad, tmp_path / "bad-out")
    assert not (tmp_path / "bad-out" / "splits.csv").exists()
    good = tmp_path / "exp.toml"
    good.write_text(CONFIG.format(group_by="family"))
    out = tmp_path / "out"
    run_experiment(good, out)
    assert (out / "splits.csv").read_text().splitlines()[0] == "id,split,family"
    record = json.loads(next((out / "runs").rglob("run.json")).read_text())
    assert record["split_groups"] == {"by": "family", "n_groups": 12}
    report = next(out.rglob("report.md")).read_text()
    assert "grouped by family (12 groups, none in two of train/val/test)" in report
