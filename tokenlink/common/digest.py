"""Short, stable names for configurations: SHA-256 of their sorted JSON.

Caches (channel banks, trained models, encoder weights, data sets) are named
by a digest of what their content depends on, so equal configurations find
the same entry and any change makes a new one. The digest is of
``json.dumps(value, sort_keys=True, ...)``, so the order of dict keys does not
matter; the JSON options are part of a key's definition (changing them would
rename every existing cache entry), which is why they are parameters here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Optional

__all__ = ["json_digest"]


def json_digest(
    value: Any,
    length: int = 16,
    *,
    separators: Optional[tuple[str, str]] = None,
    default: Optional[Callable[[Any], Any]] = None,
) -> str:
    """Hex SHA-256 of ``value`` as JSON with sorted keys, first ``length`` digits.

    :param value: a JSON-serialisable value (dicts, lists, str, numbers, bools, `None`)
    :param length: hex digits kept, 1..64 (16 digits: 64 bits)
    :param separators: ``json.dumps`` separators; `None` is its default ``(", ", ": ")``
    :param default: ``json.dumps`` fallback for other objects (e.g. ``str``); `None` raises TypeError
    :output digest: str of ``length`` lowercase hex digits

    Example::

        >>> json_digest({"b": 1, "a": [1, 2]}) == json_digest({"a": [1, 2], "b": 1})
        True
    """
    if not 1 <= length <= 64:
        raise ValueError(f"length must be within 1..64 hex digits, got {length}")
    text = json.dumps(value, sort_keys=True, separators=separators, default=default)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
