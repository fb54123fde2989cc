"""``python -m emofeat``: the CLI, e.g. under ``torchrun -m emofeat extract ...``."""

from emofeat.cli.main import main

main()
