"""What a pydantic schema accepts, read from its type annotations.

Used to say in words what a field allows (``an integer > 0``,
``'awgn', 'tdl'``, ``a mapping with keys ...``) and to look a field up by
its dotted path from any root model (``("phy", "grid", "fft_size")`` from the
scenario, ``("grid", "fft_size")`` from ``PhyConfig``). Pure Python +
pydantic; it imports no other tokenlink module but :mod:`.errors`.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Iterator, Literal, Sequence, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel

from .errors import FieldRule, did_you_mean, dotted, show

__all__ = ["unwrap", "is_model", "leaf_fields", "schema_at", "describe", "key_parts"]


def key_parts(key: str) -> tuple:
    """A dotted key as a path: ``"network.users.1.esno_db"`` -> ``("network", "users", 1, "esno_db")``
    (a part of digits only indexes a list or tuple)."""
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def unwrap(annotation: Any) -> tuple[Any, list, bool]:
    """Strip ``Optional`` and ``Annotated``.

    :param annotation: a type annotation, e.g. ``Optional[Annotated[int, Gt(0)]]``.
    :output unwrapped: ``(type, constraints, nullable)``, e.g. ``(int, [Gt(0)], True)``;
        a union of several types other than ``None`` is returned as it is.
    """
    metadata: list = []
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *more = get_args(annotation)
            metadata += more
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, metadata, nullable
            annotation = args[0]
        else:
            return annotation, metadata, nullable


def is_model(annotation: Any) -> bool:
    """Whether ``annotation`` is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def leaf_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, annotation)`` of every field below ``model`` that is not itself a
    model (``Optional[Model]`` fields are walked into), in schema order."""
    for name, info in model.model_fields.items():
        if is_model(unwrap(info.annotation)[0]):
            yield from leaf_fields(unwrap(info.annotation)[0], f"{prefix}{name}.")
        else:
            yield prefix + name, info.annotation


def schema_at(root: type[BaseModel], path: Sequence) -> tuple[Any, list]:
    """Annotation and constraints of the field at ``path`` below ``root``.

    :param root: the pydantic model class the path starts from.
    :param path: strings name fields (or any key of a ``dict`` field), ints
        index list and tuple items; ``()`` is ``root`` itself.
    :output found: ``(annotation, constraints)`` of that field.
    :raises FieldRule: an unknown field (with a did-you-mean), an index out
        of range, or a path that goes on below a plain value; ``path`` of the
        rule is the part of ``path`` up to the bad step.
    """
    annotation, metadata = root, []
    for i, part in enumerate(path):
        base, _, _ = unwrap(annotation)
        origin = get_origin(base)
        if is_model(base):
            if part not in base.model_fields:
                keys = list(base.model_fields)
                parent = f" in {dotted(path[:i])}" if i else ""
                raise FieldRule(f"unknown field {show(part)}{parent}{did_you_mean(part, keys)}", ", ".join(keys),
                                path=tuple(path[: i + 1]))
            info = base.model_fields[part]
            annotation, metadata = info.annotation, list(info.metadata)
        elif origin is tuple and isinstance(part, int):
            args = get_args(base)
            variadic = len(args) == 2 and args[1] is Ellipsis
            if not variadic and part >= len(args):
                raise FieldRule(f"index {part} out of range", f"0..{len(args) - 1}", path=tuple(path[: i + 1]))
            annotation, metadata = (args[0] if variadic else args[part]), []
        elif origin is list and isinstance(part, int):
            annotation, metadata = get_args(base)[0] if get_args(base) else Any, []
        elif origin is dict:
            annotation, metadata = get_args(base)[1] if get_args(base) else Any, []
        else:
            raise FieldRule(f"{dotted(path[:i])} is a value, not a section with fields",
                            "a dotted path that ends at a field, e.g. phy.snr_db or phy.channel.model",
                            path=tuple(path[: i + 1]))
    return annotation, metadata


def _bounds(metadata: list) -> str:
    lo = hi = ""
    for m in metadata:
        if isinstance(m, annotated_types.Gt):
            lo = f"> {m.gt}"
        elif isinstance(m, annotated_types.Ge):
            lo = f">= {m.ge}"
        elif isinstance(m, annotated_types.Lt):
            hi = f"< {m.lt}"
        elif isinstance(m, annotated_types.Le):
            hi = f"<= {m.le}"
    if lo.startswith(">=") and hi.startswith("<="):
        return f" in {lo[3:]}..{hi[3:]}"
    return "".join(f" {b}" for b in (lo, hi) if b).replace("  ", " ")


def describe(annotation: Any, metadata: Sequence = ()) -> str:
    """What a field accepts, in words: ``an integer > 0``, ``'awgn', 'tdl'``...

    :param annotation: the field's annotation.
    :param metadata: its constraints (``annotated_types.Gt`` ...).
    """
    base, more, nullable = unwrap(annotation)
    metadata = list(metadata) + more
    origin = get_origin(base)
    if origin is Literal:
        text = ", ".join(map(repr, get_args(base)))
    elif is_model(base):
        text = "a mapping with keys " + ", ".join(base.model_fields)
    elif base is bool:
        text = "true or false"
    elif base is int:
        text = "an integer" + _bounds(metadata)
    elif base is float:
        text = "a number" + _bounds(metadata)
    elif base is str:
        text = "a string"
    elif origin is tuple:
        args = get_args(base)
        if len(args) == 2 and args[1] is Ellipsis and get_origin(args[0]) is Literal:
            text = "a list of values from " + describe(args[0])
        elif len(args) == 2 and args[1] is Ellipsis:
            text = f"a list, each item {describe(args[0])}"
        elif len(set(args)) == 1:
            text = f"a list of {len(args)} items, each {describe(args[0])}"
        else:
            text = f"a list of {len(args)} items: " + ", ".join(describe(a) for a in args)
    elif origin is list:
        text = "a list"
    elif origin is dict:
        args = get_args(base)
        values = args[1] if len(args) == 2 else Any
        text = "a mapping of dotted field names to lists of values" if get_origin(values) is list else "a mapping"
    else:
        text = "a value of type " + getattr(base, "__name__", str(base))
    return ("null or " if nullable else "") + text
