"""Dataset readers: each turns a release, as its authors ship it, into a :class:`Manifest`.

Modules: one per release format (``folder``, ``csvlist``, ``emoset``, ``emotion6``,
``abstract``, ``artphoto``, ``twitter``, ``oasis``), ``manifest`` (the Manifest),
``labels`` (label rules), ``registry`` (``READERS``, ``detect_format``, ``load_manifest``),
``summary`` (``describe``).
"""

from emofeat.datasets.folder import DEMO_MARKER
from emofeat.datasets.labels import LABEL_RULES
from emofeat.datasets.manifest import Manifest
from emofeat.datasets.registry import FORMATS, READERS, detect_format, load_manifest
from emofeat.datasets.summary import describe

__all__ = ["DEMO_MARKER", "FORMATS", "LABEL_RULES", "READERS", "Manifest", "describe",
           "detect_format", "load_manifest"]
