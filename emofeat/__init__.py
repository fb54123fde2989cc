"""emofeat: how well do frozen ImageNet features recognise the emotion an image evokes?

The library is importable without side effects; heavy modules (torch, timm, sklearn) are
imported by the submodules that need them, not here.
"""

from emofeat.errors import EmofeatError

__version__ = "0.1.0"
__all__ = ["EmofeatError", "__version__"]
