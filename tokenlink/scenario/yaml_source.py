"""Reading a scenario file: a safe YAML loader that also records the line of every key.

Only ``yaml.SafeLoader`` constructs values (no ``!!python/...`` tags); the
line marks (``{path: line}``) let an error point at the line of the bad
field. Every problem is a one-line :class:`~tokenlink.scenario.ScenarioError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import yaml

from ..common.errors import dotted
from .errors import ScenarioError

__all__ = ["YamlLoader", "parse_yaml", "read_text"]


class YamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e6`` as a float (YAML 1.2)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_MAX_MARKS = 100_000


def parse_yaml(text: str, file: Optional[str]) -> tuple[Any, dict]:
    """Data and ``{path: line}`` of every key and list item of a YAML text
    (``()``: the document itself; lines count from 1)."""
    loader = None
    try:
        loader = YamlLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        marks: dict = {(): node.start_mark.line + 1}
        _walk(node, (), marks, file, set())
        return loader.construct_document(node), marks
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        if err.problem and err.context and err.context_mark and mark and err.context_mark.line != mark.line:
            problem += f" ({err.context} at line {err.context_mark.line + 1})"
        if isinstance(err, yaml.constructor.ConstructorError):
            what, allowed = "YAML error", "plain YAML values (tags such as !!python/... are not loaded)"
        elif "\\t" in problem or "\t" in problem:
            what, allowed = "YAML syntax error", "spaces for indentation (YAML forbids tabs)"
        else:
            what, allowed = "YAML syntax error", "YAML syntax: 'key: value' mappings, 2-space indentation, [a, b] lists"
        raise ScenarioError(f"{what}: {problem}", allowed=allowed, file=file,
                            line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"YAML error: {err}", allowed="a UTF-8 YAML text", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _walk(node: yaml.Node, path: tuple, marks: dict, file: Optional[str], active: set) -> None:
    if id(node) in active or len(marks) > _MAX_MARKS:  # recursive alias / alias bomb
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                raise ScenarioError(f"duplicate key {key!r} (first at line {seen[key]})",
                                    field=dotted(path + (key,)), allowed="each key once per mapping",
                                    file=file, line=line)
            seen[key] = marks[path + (key,)] = line
            _walk(value_node, path + (key,), marks, file, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks[path + (i,)] = item.start_mark.line + 1
            _walk(item, path + (i,), marks, file, active)
    active.discard(id(node))


def read_text(path: Path) -> str:
    """The text of a scenario file (a one-line ScenarioError if it cannot be read)."""
    file = str(path)
    what = "a readable UTF-8 YAML scenario file"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such file", allowed="the path of an existing scenario YAML file", file=file) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a file", allowed=what + ", e.g. scenarios/<name>.yaml",
                            file=file) from None
    except PermissionError:
        raise ScenarioError("permission denied", allowed=what, file=file) from None
    except UnicodeDecodeError as err:
        raise ScenarioError(f"not UTF-8 text (byte {err.start})", allowed=what, file=file) from None
    except OSError as err:
        raise ScenarioError(f"cannot read: {err.strerror or err}", allowed=what, file=file) from None
