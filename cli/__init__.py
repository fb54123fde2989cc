"""The ``emofeat`` command line: typer commands that call the library, nothing more."""
