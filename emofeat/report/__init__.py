"""``emofeat compare``: run directories in, report.json / report.md / report.html out.

Modules: ``collect`` (reading and checking runs), ``analysis`` (bootstrap intervals, paired
tests), ``plots`` (matplotlib figures), ``render`` (Markdown and HTML), ``compare`` (the step).
"""

from emofeat.report.compare import REPORT_FORMAT, compare

__all__ = ["REPORT_FORMAT", "compare"]
