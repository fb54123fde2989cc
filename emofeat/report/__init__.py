"""``emofeat compare``: run directories in, report.json / report.md / report.html out.

Modules: ``collect`` (reading and checking runs), ``families`` (the family table: labels,
order, colours), ``analysis`` (bootstrap intervals, paired tests), ``model`` (report.json as
a typed record), ``plots`` (matplotlib figures), ``gallery`` and ``featuremap`` (test
image thumbnails, a 2-D map of features), ``render`` (Markdown and HTML from the Jinja2
templates in ``templates/``), ``compare`` (the step).
"""

from emofeat.report.compare import compare
from emofeat.report.model import REPORT_FORMAT, Report, read_report

__all__ = ["REPORT_FORMAT", "Report", "compare", "read_report"]
