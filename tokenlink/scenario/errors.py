"""Errors of scenario files: :class:`ScenarioError`, and where a bad value came from.

A bad value is reported as one line, ``<file>:<line>: <dotted.field>: <what
is wrong>; allowed: <what is allowed>``. The words come from
:mod:`tokenlink.common.errors` (the same for every layer); this module adds
the place: the line of the field in the YAML file, or the ``--set`` override
that set it.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

from pydantic import BaseModel, ValidationError

from ..common.errors import dotted, explain

__all__ = ["ScenarioError", "Origin", "first_error", "line_of"]


class ScenarioError(ValueError):
    """A scenario that cannot be loaded, as one line for the user.

    ``str(err)``: ``<where>: <field>: <problem>; allowed: <allowed>``, where
    ``<where>`` is ``file:line`` (``file`` alone when the line is unknown,
    ``--set key=value`` for an override, absent for a dict source) and
    every part but ``<problem>`` may be absent.
    """

    def __init__(
        self,
        problem: str,
        *,
        field: Optional[str] = None,
        allowed: Optional[str] = None,
        file: Optional[str] = None,
        line: Optional[int] = None,
        where: Optional[str] = None,
    ) -> None:
        self.problem, self.field, self.allowed = problem, field, allowed
        self.file, self.line = file, line
        if where is None and file is not None:
            where = f"{file}:{line}" if line is not None else file
        self.where = where
        parts = [p for p in (where, field) if p] + [problem]
        message = ": ".join(parts) + (f"; allowed: {allowed}" if allowed else "")
        super().__init__(" ".join(message.split()))


def line_of(path: tuple, marks: Mapping[tuple, int]) -> Optional[int]:
    """Line of ``path`` in the file, or of its closest parent that is there."""
    for n in range(len(path), 0, -1):
        if path[:n] in marks:
            return marks[path[:n]]
    return None


def first_error(err: ValidationError, marks: Mapping[tuple, int]) -> dict:
    """The error that comes first in the file (pydantic's order otherwise)."""
    errors = err.errors()
    return min(errors, key=lambda e: (line_of(tuple(e["loc"]), marks) or math.inf, errors.index(e)))


class Origin:
    """Where the values of a scenario come from: file marks and overrides.

    :param file: the YAML file (`None`: a dict source).
    :param marks: ``{path: line}`` of the keys and list items of the file.
    """

    def __init__(self, file: Optional[str] = None, marks: Optional[dict] = None) -> None:
        self.file, self.marks = file, marks or {}
        self.overrides: list[tuple[tuple, str]] = []

    def error(self, path: Sequence, problem: str, allowed: Optional[str]) -> ScenarioError:
        """The ScenarioError of a problem at ``path``, placed at the override
        that set it, else at its line in the file."""
        path = tuple(path)
        for prefix, text in reversed(self.overrides):
            if path[: len(prefix)] == prefix:
                return ScenarioError(problem, field=dotted(path), allowed=allowed, where=f"--set {text}")
        return ScenarioError(problem, field=dotted(path) or None, allowed=allowed, file=self.file,
                             line=line_of(path, self.marks) if self.file else None)

    def from_validation(self, err: ValidationError, root: type[BaseModel]) -> ScenarioError:
        """The ScenarioError of the first error (in file order) of validating ``root``."""
        return self.error(*explain(first_error(err, self.marks), root))
