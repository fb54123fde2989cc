"""emofeat run with a [cross] section: targets made, runs evaluated both ways, resumed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from emofeat.errors import EmofeatError
from emofeat.experiment import load_config, run_experiment
from emofeat.report import compare

from .test_experiment import TINY

CROSS = TINY + """
[cross]
models = ["logreg"]

[[cross.targets]]
name = "b"
demo = true
demo_domain = "b"
demo_per_class = 6
demo_size = 48
"""


def test_cross_section_evaluates_both_ways_and_resumes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "exp.toml"
    config.write_text(CROSS)
    out = tmp_path / "out"
    report = run_experiment(config, out, announce=lambda _: None)
    evals = sorted(p.parent.relative_to(out / "cross" / "evaluations").as_posix()
                   for p in (out / "cross" / "evaluations").rglob("eval.json"))
    assert evals == [
        "b-on-main/lite0-random/logreg-valence-blocks.6",
        "b-on-main/lite0-random/logreg-valence-bn2",
        "main-on-b/baselines/colour/logreg-valence-colour",
        "main-on-b/finetune-valence",
        "main-on-b/lite0-random/logreg-valence-blocks.6",
        "main-on-b/lite0-random/logreg-valence-bn2"]
    matrix = report["cross"]["valence"]
    assert matrix["datasets"] == ["synthetic-a", "synthetic-b"] and matrix["synthetic"]
    assert [r["trained_on"] for r in matrix["rows"]] == ["synthetic-a", "synthetic-b"]
    assert all(set(r["cells"]) == {"synthetic-a", "synthetic-b"} for r in matrix["rows"])
    record = json.loads((out / "cross" / "evaluations" / "main-on-b" / "finetune-valence" /
                         "eval.json").read_text())
    assert record["split"] == "test" and record["features"] == "images"
    assert record["target"]["splits_sha256"] is not None
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")
              if p.name in ("eval.json", "run.json", "store.json")}
    run_experiment(config, out, announce=lambda _: None)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing redone
    assert "Across data sets" in (out / "report" / "report.md").read_text()
    # the whole experiment folder holds runs of two data sets: one line saying what to pass
    with pytest.raises(EmofeatError, match=r"different data sets.*OUT/cross/evaluations"):
        compare([out], tmp_path / "whole")
    # an edited [[extract]]: the target's store is extracted again too, and evaluated anew
    config.write_text(CROSS.replace("workers = 0\n\n[fit]",
                                    'workers = 0\npooling = "max"\n\n[fit]'))
    with caplog.at_level(logging.WARNING):
        run_experiment(config, out, announce=lambda _: None)
    target_store = out / "cross" / "b" / "stores" / "lite0-random"
    assert f"{target_store} was made with other settings (pooling:" in caplog.text
    assert json.loads((target_store / "store.json").read_text())["pooling"] == "max"
    evaluation = out / "cross" / "evaluations" / "b-on-main" / "lite0-random" / \
        "logreg-valence-bn2" / "eval.json"
    assert evaluation.stat().st_mtime_ns != stamps[evaluation]


@pytest.mark.parametrize(("text", "message"), [
    (CROSS.replace('name = "b"', 'name = "main"'), "unique name (not 'main')"),
    (CROSS.replace("demo = true\ndemo_domain", 'path = "x"\ndemo = true\ndemo_domain'),
     "target b needs either path"),
    (CROSS.replace('demo_domain = "b"', 'demo_domain = "z"'), "demo_domain 'z'"),
    (CROSS.replace("[cross]\n", '[cross]\nsplit = "val"\n'),
     "[cross]: split = 'val'"),
    (CROSS.replace("[cross]\n", '[cross]\nstores = ["nope"]\n'), "no [[extract]] 'nope'"),
    (CROSS.replace("[split]\n", "[split]\nfolds = 3\n"),
     "[cross]: targets with [split] folds or repeats are not supported yet"),
])
def test_bad_cross_sections(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "exp.toml").write_text(text)
    with pytest.raises(EmofeatError) as err:
        load_config(tmp_path / "exp.toml")
    assert message in str(err.value)
