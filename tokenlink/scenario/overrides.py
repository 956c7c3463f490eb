"""``--set dotted.key=value`` overrides, applied to the raw data of a scenario before validation.

The value is read as YAML (``5``, ``tdl``, ``[0, 5]``, ``{model: tdl}``). A
key under ``sweep.grid.`` / ``sweep.zip.`` sets one sweep entry
(``sweep.grid.phy.snr_db=[0,5]``); setting a swept field pins it (drops it
from the sweep).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..common.errors import FieldRule, dotted, show
from ..common.introspect import describe, key_parts, schema_at
from .errors import Origin, ScenarioError
from .yaml_source import YamlLoader

__all__ = ["apply_override", "parse_override"]

_OVERRIDE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_OVERRIDE_HELP = "--set dotted.key=value, e.g. --set phy.snr_db=5 or --set sweep.grid.phy.snr_db=[0,5,10]"


def parse_override(text: str, root: type) -> tuple[tuple, Any]:
    """``"a.b=v"`` -> ``(("a", "b"), v)``, ``v`` read as YAML, the key checked
    against the schema of ``root``. Under ``sweep.grid.`` / ``sweep.zip.`` the
    rest of the key is one sweep key."""
    key, sep, raw = str(text).partition("=")
    key = key.strip()
    if not sep or not _OVERRIDE_KEY.match(key):
        raise ScenarioError(f"bad override {show(text)}", allowed=_OVERRIDE_HELP, where="--set")
    try:
        value = yaml.load(raw, Loader=YamlLoader) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise ScenarioError(f"value is not valid YAML: {problem}", field=key,
                            allowed="a YAML value: 5, tdl, true, null, [0, 5, 10], {model: tdl}",
                            where=f"--set {text}") from None
    parts = key_parts(key)
    if parts[0] == "sweep" and len(parts) > 2 and parts[1] in ("grid", "zip"):
        return ("sweep", parts[1], ".".join(key.split(".")[2:])), value
    try:
        schema_at(root, parts)
    except FieldRule as err:
        raise ScenarioError(err.problem, field=dotted(err.path), allowed=err.allowed, where=f"--set {text}") from None
    return parts, value


def apply_override(data: dict, text: str, origin: Origin, root: type) -> None:
    """Apply one ``--set`` to the raw scenario ``data`` (in place) and record it in ``origin``."""
    path, value = parse_override(text, root)
    node = data
    for i, part in enumerate(path):
        if isinstance(part, int):  # a list item (network.users.1...): it must be there
            if not isinstance(node, list) or not 0 <= part < len(node):
                count = len(node) if isinstance(node, list) else 0
                raise origin.error(path[:i], f"has {count} entries, so --set {text} cannot apply",
                                   f"an index 0..{count - 1}" if count else "a list in the scenario")
        elif not isinstance(node, dict):
            raise origin.error(path[:i], f"got {show(node)}, so --set {text} cannot apply",
                               describe(*schema_at(root, path[:i])))
        if i == len(path) - 1:
            node[part] = value
        else:
            if isinstance(part, str) and node.get(part) is None:
                node[part] = {}
            node = node[part]
    origin.overrides.append((path, text))
    if path[0] != "sweep":  # --set on a swept field pins it: drop it from the sweep
        _pin(data, ".".join(map(str, path)), text)


def _pin(data: dict, key: str, text: str) -> None:
    sweep = data.get("sweep")
    pinned_zip = False
    for table in ("grid", "zip"):
        entries = sweep.get(table) if isinstance(sweep, dict) else None
        if not isinstance(entries, dict):
            continue
        for swept in list(entries):
            if swept == key or str(swept).startswith(key + "."):
                del entries[swept]
                pinned_zip |= table == "zip"
            elif key.startswith(str(swept) + "."):
                raise ScenarioError("is swept, so a --set inside it has no effect", field=f"sweep.{table}.{swept}",
                                    allowed=f"--set sweep.{table}.{swept}=[...] to change the swept values",
                                    where=f"--set {text}")
    if pinned_zip and not sweep.get("zip"):
        sweep.pop("labels", None)  # the last zip field was pinned: no combinations left to name
