"""store.json, run.json and report.json as typed records: one reader, one writer, versions.

``data/format-v1/`` holds files written by emofeat 0.1.0 before the records were typed (only
the absolute data path was rewritten): every one must still be read, and written back to
the same bytes (report.json gains its version field).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emofeat import __version__
from emofeat.cli.main import app
from emofeat.errors import EmofeatError
from emofeat.records import OMIT_IF_NONE, RecordFile, to_json
from emofeat.report import read_report
from emofeat.report.model import REPORT_JSON
from emofeat.runs import RUN_JSON, FeatureRun, FinetuneRun, MajorityRun, Run, is_complete
from emofeat.splits import Split
from emofeat.store import STORE_JSON, Store, open_for_writing
from emofeat.store.record import StoreRecord

DATA = Path(__file__).parent / "data" / "format-v1"
runner = CliRunner()
DELETE = object()

FILES = [("store.json", STORE_JSON), ("store-colour.json", STORE_JSON),
         ("run-classical.json", RUN_JSON), ("run-colour.json", RUN_JSON),
         ("run-finetune.json", RUN_JSON), ("run-majority.json", RUN_JSON)]


def edited(name: str, **changes: Any) -> dict[str, Any]:
    """A version-1 file of data/ with some fields changed (DELETE: removed)."""
    data = json.loads((DATA / name).read_text())
    for key, value in changes.items():
        if value is DELETE:
            del data[key]
        else:
            data[key] = value
    return data


def store_dir(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "store"
    path.mkdir()
    (path / "store.json").write_text(json.dumps(edited("store.json", **changes), indent=2))
    return path


def run_dir(tmp_path: Path, name: str = "run-classical.json", **changes: Any) -> Path:
    path = tmp_path / "run"
    path.mkdir()
    (path / "run.json").write_text(json.dumps(edited(name, **changes), indent=2))
    (path / "predictions.csv").write_text("id,split,y_true,y_pred,score_negative,"
                                          "score_positive\n")
    (path / "metrics.json").write_text("{}\n")
    return path


@pytest.mark.parametrize(("name", "fmt"), FILES)
def test_version_1_files_are_written_back_byte_for_byte(name: str, fmt: RecordFile,
                                                        tmp_path: Path) -> None:
    record = fmt.read(DATA / name)
    fmt.write(tmp_path / name, record)
    assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes()


def test_each_run_is_read_as_its_shape() -> None:
    classical = RUN_JSON.read(DATA / "run-classical.json")
    assert isinstance(classical, FeatureRun) and classical.kind == "classical"
    assert classical.features.store_layers == ("blocks.6", "bn2")
    assert classical.features.layers[0].dim == 1280
    colour = RUN_JSON.read(DATA / "run-colour.json")
    assert isinstance(colour, FeatureRun) and colour.kind == "baseline"
    finetune = RUN_JSON.read(DATA / "run-finetune.json")
    assert isinstance(finetune, FinetuneRun)
    assert finetune.val_balanced_accuracy == finetune.history[0]["val_balanced_accuracy"]
    majority = RUN_JSON.read(DATA / "run-majority.json")
    assert isinstance(majority, MajorityRun) and majority.classes == ("negative", "positive")


def test_report_without_a_version_is_read_as_version_1(tmp_path: Path) -> None:
    report = read_report(DATA / "report-unversioned.json")
    assert report.tasks["valence"].finetune == "finetune-valence"
    assert report.tasks["valence"].rows[0].metrics["balanced_accuracy"].value == 0.75
    REPORT_JSON.write(tmp_path / "report.json", report)
    old = json.loads((DATA / "report-unversioned.json").read_text())
    new = json.loads((tmp_path / "report.json").read_text())
    assert new.pop("format_version") == 1 and new == old
    assert list(new) == list(old)


@pytest.mark.parametrize("version", [1, DELETE])
def test_store_of_version_1_or_without_version_opens(tmp_path: Path, version: Any) -> None:
    store = Store.open(store_dir(tmp_path, format_version=version))
    assert isinstance(store.record, StoreRecord)
    assert store.layer_names == ["blocks.6", "bn2"] and store.record.n_rows == 48
    assert store.meta["backbone"] == "tf_efficientnet_lite0"  # the dict view still works


@pytest.mark.parametrize("version", [1, DELETE])
def test_run_of_version_1_or_without_version_opens(tmp_path: Path, version: Any) -> None:
    run = Run.open(run_dir(tmp_path, format_version=version))
    assert isinstance(run.record, FeatureRun) and run.classes == ("negative", "positive")
    assert run.meta["model"] == "logreg"


def assert_refuses_newer(error: pytest.ExceptionInfo, what: str) -> None:
    message = str(error.value)
    assert f"is a {what} of format version 7, written by a newer emofeat" in message
    assert f"emofeat {__version__} reads format version 1 and older: upgrade" in message
    assert "\n" not in message


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = store_dir(tmp_path, format_version=7)
    with pytest.raises(EmofeatError) as error:
        Store.open(path)
    assert_refuses_newer(error, "feature store")
    meta = edited("store.json", format_version=1)
    with pytest.raises(EmofeatError) as error, \
         open_for_writing(path, meta, 48, Split({}), overwrite=True):  # never replaced
        pass
    assert_refuses_newer(error, "feature store")
    assert json.loads((path / "store.json").read_text())["format_version"] == 7
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2 and "format version 7" in result.stderr


def test_newer_run_is_refused(tmp_path: Path) -> None:
    path = run_dir(tmp_path, format_version=7)
    with pytest.raises(EmofeatError) as error:
        Run.open(path)
    assert_refuses_newer(error, "run")
    assert is_complete(path)  # so it is never overwritten without --overwrite
    result = runner.invoke(app, ["compare", str(path), "--out", str(tmp_path / "report")])
    assert result.exit_code == 2 and "run of format version 7" in result.stderr


def test_newer_report_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({**edited("report-unversioned.json"), "format_version": 7}))
    with pytest.raises(EmofeatError) as error:
        read_report(path)
    assert_refuses_newer(error, "report")


@pytest.mark.parametrize(("changes", "message"), [
    ({"format": "emofeat-run"}, "is not an emofeat feature store"),
    ({"format_version": "1"}, 'format_version "1", which is not a version number'),
    ({"format_version": 0}, "format_version 0, which is not a version number"),
    ({"status": "done"}, '\'status\' should be "complete" or "incomplete", not "done"'),
    ({"layers": [{"name": "bn2", "dim": "1280", "channels": 1280, "stride": 32}]},
     "'layers[0].dim' should be int, not \"1280\""),
    ({"pooling": DELETE}, "of format version 1: it lacks 'pooling'"),
    ({"pooling": DELETE, "format_version": DELETE},
     "of format version 1 (it has no format_version): it lacks 'pooling'"),
])
def test_a_damaged_store_json_is_refused_saying_why(tmp_path: Path, changes: dict,
                                                    message: str) -> None:
    with pytest.raises(EmofeatError) as error:
        Store.open(store_dir(tmp_path, **changes))
    assert message in str(error.value) and "store.json" in str(error.value)


@pytest.mark.parametrize(("name", "changes", "message"), [
    ("run-finetune.json", {"history": DELETE}, "it lacks 'history'"),
    ("run-classical.json", {"kind": "bogus"}, "'kind' should be \"classical\" or \"baseline\""),
    ("run-classical.json", {"model_files": [{"file": "model.skops"}]},
     "it lacks 'model_files[0].sha256'"),
    ("run-majority.json", {"n": {"test": 1.5}}, "'n.test' should be int, not 1.5"),
])
def test_a_damaged_run_json_is_refused_saying_why(tmp_path: Path, name: str, changes: dict,
                                                  message: str) -> None:
    with pytest.raises(EmofeatError, match=r"run\.json is not a valid run") as error:
        Run.open(run_dir(tmp_path, name, **changes))
    assert message in str(error.value)


@dataclass(frozen=True)
class _Example:
    required: float
    absent: str | None = field(default=None, metadata=OMIT_IF_NONE)
    null: int | None = None
    items: tuple[int, ...] = ()


def test_optional_fields_are_left_out_only_while_none() -> None:
    assert to_json(_Example(1.0, items=(1, 2))) == {"required": 1.0, "null": None,
                                                    "items": [1, 2]}
    assert to_json(_Example(2, "here"))["absent"] == "here"
    fmt: RecordFile[_Example] = RecordFile("x", 1, "example", lambda data: _Example)
    record = fmt.load({"format": "x", "required": 3, "items": [4]}, "example.json")
    assert record == _Example(3, items=(4,)) and isinstance(record.required, int)
    with pytest.raises(EmofeatError, match="'required' should be float, not true"):
        fmt.load({"format": "x", "required": True}, "example.json")



def test_inspect_a_store_without_an_input_size(tmp_path: Path) -> None:
    path = tmp_path / "colour"
    path.mkdir()
    (path / "store.json").write_bytes((DATA / "store-colour.json").read_bytes())
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "backbone handcrafted-colour" in result.stdout and "pooling none" in result.stdout
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    shown = json.loads(result.stdout)
    assert shown["format_version"] == 1 and shown["n_shards_written"] == 1
