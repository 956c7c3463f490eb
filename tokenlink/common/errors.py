"""Error text for the user: one line naming the field, the value and what is allowed.

One implementation for every layer:

* :func:`did_you_mean` / :func:`closest_choice`: the suggestion for a
  misspelled name;
* :func:`show` / :func:`dotted`: a value as the user wrote it (YAML spelling)
  and a field path as ``phy.grid.num_guard_carriers[1]``;
* :class:`FieldRule`: a failed check inside a schema validator (problem,
  what is allowed, and the path below the model that raised it);
* :func:`explain`: one pydantic error as ``(path, problem, allowed)``, using
  the schema of a root model (any pydantic model class) to say what is
  allowed; :func:`format_validation_error` joins them into one line;
* :func:`one_line`: any exception as one line.

Pure Python + pydantic; it imports no other tokenlink module.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Optional, Sequence, get_args

from pydantic import BaseModel, ValidationError

__all__ = [
    "FieldRule",
    "closest_choice",
    "did_you_mean",
    "show",
    "dotted",
    "explain",
    "format_validation_error",
    "one_line",
]


class FieldRule(ValueError):
    """A failed check inside a schema.

    Raised by a pydantic validator, it travels inside the ValidationError
    (``ctx["error"]``) and :func:`explain` reads it back.

    :param problem: what is wrong, e.g. ``got 'gpu'``.
    :param allowed: what is allowed, e.g. ``auto, cpu, cuda``.
    :param path: the field the problem is about, relative to the model whose
        validator raised it (``()``: the field or model being validated).
    """

    def __init__(self, problem: str, allowed: Optional[str] = None, path: tuple = ()) -> None:
        self.problem, self.allowed, self.path = problem, allowed, tuple(path)
        super().__init__(problem + (f"; allowed: {allowed}" if allowed else ""))


# --------------------------------------------------------------- words
def closest_choice(word: Any, choices: Sequence[str], cutoff: float = 0.6) -> Optional[str]:
    """The choice closest to ``word`` (difflib ratio >= ``cutoff``, else a
    case-insensitive match), or `None`."""
    choices = list(choices)
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=cutoff)
    if not close:
        close = [c for c in choices if c.lower() == str(word).lower()]
    return close[0] if close else None


def did_you_mean(word: Any, choices: Sequence[str]) -> str:
    """``", did you mean 'x'?"`` for the choice closest to ``word``, or ``""``."""
    close = closest_choice(word, choices)
    return f", did you mean {close!r}?" if close is not None else ""


def show(value: Any, limit: int = 60) -> str:
    """A value as the user wrote it (YAML spelling of null, booleans and
    infinities), cut to ``limit`` characters."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dotted(path: Sequence) -> str:
    """``("phy", "grid", "num_guard_carriers", 1)`` -> ``phy.grid.num_guard_carriers[1]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ------------------------------------------------- pydantic error -> words
#: Messages of the plain ``ValueError`` validators in phy/ and bridge/, split
#: into the field they are about, the value, and the rule (what is allowed).
_VALIDATOR_MESSAGES = [
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*) must be (?:within )?(?P<rule>.+?),? got (?P<got>.+)$"),
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*) \((?P<got>[^)]*)\) must be (?P<rule>.+)$"),
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*) (?P<problem>.+?): allowed (?P<rule>.+)$"),
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*)=(?P<got>\S+) (?P<problem>needs .+?): set (?P<rule>.+)$"),
]


def explain(error: dict, root: Optional[type[BaseModel]] = None,
            prefix: tuple = ()) -> tuple[tuple, str, Optional[str]]:
    """One pydantic error as ``(path, problem, allowed)``.

    :param error: one item of ``ValidationError.errors()``.
    :param root: the model class the error's ``loc`` starts from; its schema
        says what is allowed, lists the known fields of an unknown one (with a
        did-you-mean) and splits validator messages into field, value and
        rule. `None`: no schema, pydantic's own message (``allowed`` is then
        `None` but for a :class:`FieldRule`).
    :param prefix: where ``root`` sits in the data the user wrote (``("phy",)``
        for a ``PhyConfig`` under ``phy:``); the path and the text include it.
    :output explained: ``path`` (the field, may be longer than ``loc`` when a
        validator names a field below it), ``problem``, and ``allowed`` or `None`.
    """
    path, problem, allowed = _explain(error, root, tuple(prefix))
    return tuple(prefix) + path, problem, allowed


def _explain(error: dict, root: Optional[type[BaseModel]], prefix: tuple) -> tuple[tuple, str, Optional[str]]:
    from .introspect import describe, is_model, schema_at, unwrap  # (introspect builds on this module)

    loc, kind, got = tuple(error["loc"]), error["type"], error.get("input")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldRule):
        return loc + cause.path, cause.problem, cause.allowed

    def lookup(path: tuple) -> Optional[tuple[Any, list]]:
        if root is None:
            return None
        try:
            return schema_at(root, path)
        except FieldRule:
            return None

    found = lookup(loc)
    allowed = describe(*found) if found is not None else None
    if kind == "extra_forbidden":
        parent = lookup(loc[:-1])
        parent_model = unwrap(parent[0])[0] if parent is not None else None
        if not is_model(parent_model):
            return loc, "unknown field", None
        keys = list(parent_model.model_fields)
        where = f" in {dotted(prefix + loc[:-1])}" if prefix + loc[:-1] else ""
        return loc, f"unknown field {show(loc[-1])}{where}{did_you_mean(loc[-1], keys)}", ", ".join(keys)
    if kind == "literal_error" and found is not None:
        choices = [str(c) for c in get_args(unwrap(found[0])[0])]
        return loc, f"unknown value {show(got)}{did_you_mean(got, choices)}", allowed
    if kind == "missing" and loc and isinstance(loc[-1], int) and lookup(loc[:-1]) is not None:
        return loc[:-1], f"got {show(got)}", describe(*lookup(loc[:-1]))  # a tuple too short
    if kind == "missing":
        return loc, "missing", allowed
    if kind in ("too_short", "too_long") and allowed is not None:
        return loc, f"got {(error.get('ctx') or {}).get('actual_length', '?')} items", allowed
    if kind.startswith("value_error") or kind == "assertion_error":
        message = str(cause) if cause is not None else error["msg"].removeprefix("Value error, ")
        message = " ".join(message.split())
        model = unwrap(found[0])[0] if found is not None else None
        fields = list(model.model_fields) if is_model(model) else []
        for pattern in _VALIDATOR_MESSAGES:
            m = pattern.match(message)
            if m and m["subject"].split(".")[0] in fields:
                parts = m.groupdict()
                problem = ": ".join(p for p in (parts.get("got") and f"got {parts['got']}", parts.get("problem")) if p)
                return loc + tuple(m["subject"].split(".")), problem, m["rule"]
        return loc, message, None
    if allowed is None:
        return loc, f"{error['msg']} (got {show(got)})", None
    return loc, f"got {show(got)}", allowed


def format_validation_error(err: ValidationError, prefix: str = "",
                            root: Optional[type[BaseModel]] = None) -> str:
    """A ValidationError as one line: ``field: problem; allowed: ...`` per
    error (see :func:`explain`), joined by ``"; "``.

    :param err: the error.
    :param prefix: dotted path put before every field (``"phy"``: ``phy.grid.fft_size``).
    :param root: the model class that raised it, to say what is allowed.
    """
    lines = []
    for e in err.errors():
        path, problem, allowed = explain(e, root, tuple(prefix.split(".")) if prefix else ())
        field = dotted(path)
        lines.append((f"{field}: " if field else "") + problem + (f"; allowed: {allowed}" if allowed else ""))
    return " ".join("; ".join(lines).split())


def one_line(err: BaseException) -> str:
    """Any exception as one line: a ValidationError through
    :func:`format_validation_error`, an OSError as ``reason: file``, else its
    message with the white space folded (its type name if it has none)."""
    if isinstance(err, ValidationError):
        text = format_validation_error(err)
    elif isinstance(err, OSError) and err.filename:
        text = f"{err.strerror or err}: {err.filename}"
    else:
        text = str(err)
    return " ".join(text.split()) or type(err).__name__
