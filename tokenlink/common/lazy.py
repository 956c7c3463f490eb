"""Lazy package namespaces: a package's public names, imported on first use.

``import tokenlink.phy`` must not load torch and Sionna when the caller only
wants :class:`~tokenlink.phy.config.PhyConfig` (the CLI validates a scenario
in well under a second this way). A package ``__init__`` lists which module
holds each public name and hands that table to :func:`lazy_namespace`; the
module-level ``__getattr__`` it returns imports the module the first time a
name is asked for (``tokenlink.phy.OFDMLink``, ``from tokenlink.phy import
OFDMLink``, ``from tokenlink.phy import *``) and caches the value in the
package, so later look-ups cost nothing.

Example (a package ``__init__.py``)::

    from tokenlink.common.lazy import lazy_namespace

    _EXPORTS = {"OFDMLink": "link", "PhyConfig": "config"}
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, submodules=("link", "config"))
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Iterable, Mapping

__all__ = ["lazy_namespace"]


def lazy_namespace(
    package: str, exports: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names load on first use.

    :param package: the package's ``__name__``
    :param exports: public name -> module of the package that defines it
        (relative, without the package: ``{"OFDMLink": "link"}``)
    :param submodules: modules of the package reachable as attributes
        (``tokenlink.phy.ber``) without an explicit ``import``, as they
        were when the package imported them eagerly
    :output (__getattr__, __dir__): assign both at module level of the package
    """
    exports = dict(exports)
    submodules = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports) | submodules)

    return __getattr__, __dir__
