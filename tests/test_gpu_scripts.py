"""benchmarks/gpu_run.sh stays runnable without a GPU to try it on: its shell syntax, and
every Python step's arguments as the script passes them parse (nothing is run here)."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCH / "gpu_run.sh"


def steps() -> dict[str, list[str]]:
    """benchmarks/<name>.py -> its arguments in gpu_run.sh (shell values made concrete)."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    out = {}
    for match in re.finditer(r"benchmarks/(\w+)\.py([^|\n]*?)2>&1", text):
        args = re.sub(r"\$\{?\w+\}?", "1", match.group(2).replace('"', ""))  # $b -> 1
        args = re.sub(r"\b1/[\w.-]+", "/tmp/x.json", args)  # "$OUT/x.json" -> a path
        out[match.group(1)] = shlex.split(args)
    return out


def test_gpu_run_sh_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_every_step_is_in_the_script() -> None:
    assert set(steps()) == {"gpu_extract", "decode_fidelity", "torchrun_extract",
                            "gpu_demo_check"}


@pytest.mark.parametrize("name", ["gpu_extract", "decode_fidelity", "torchrun_extract",
                                  "gpu_demo_check"])
def test_step_arguments_parse(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module(name)
    argv = steps()[name]
    monkeypatch.setattr(sys, "argv", [name, *argv])
    args = module.parse_args(argv) if name != "gpu_demo_check" else module.parse_args()
    if name == "gpu_extract":
        assert args.decodes == ["cpu", "gpu"] and args.e2e_set == "decode"
        assert args.batch_sizes == [256]
    if name in ("decode_fidelity", "torchrun_extract"):
        assert args.device == "cuda"
    if name == "torchrun_extract":
        assert args.decode == "gpu"
