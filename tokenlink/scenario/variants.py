"""Validating many variants of one configuration, each sub-model's content once.

A sweep point is the scenario's data with a few dotted fields set to swept
values. Validating every point from scratch costs the whole schema per
point; but pydantic validates a nested model from its own content alone,
so a section whose content is the same in two points validates to the same
(frozen) model. :class:`VariantValidator` validates bottom-up: every
sub-model is validated once per distinct content (its content depends only
on the swept entries under it, so "distinct" is a tuple of their value
indices), and the enclosing model is then validated with the already
validated children, which pydantic accepts as they are
(``revalidate_instances="never"``), running its own field checks and
validators only. This is exactly as strict as validating the whole data:
a model is split this way only when nothing of it looks at its children's
raw input (no ``before`` / ``wrap`` model validators, no validators or
constraints on the child field), otherwise it is validated from its raw
content as a whole.

Memory: each sub-model keeps at most :data:`CACHE_SIZE` validated contents;
the root model (whose content differs in every variant) keeps none.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from pydantic import BaseModel, ValidationError

from ..common.introspect import is_model, unwrap

__all__ = ["Entry", "VariantError", "PathError", "VariantValidator", "CACHE_SIZE"]

#: Validated contents kept per sub-model (oldest dropped first).
CACHE_SIZE = 4096


@dataclass(frozen=True)
class Entry:
    """One varied field: ``parts`` (dotted path split), its ``values``, and
    ``dim``, the position in a variant's index tuple that picks the value."""

    parts: tuple[str, ...]
    values: Sequence[Any]
    dim: int


class VariantError(ValueError):
    """A variant does not validate: the model at ``path`` raised ``error``."""

    def __init__(self, path: tuple, error: ValidationError) -> None:
        self.path, self.error = path, error
        super().__init__(f"{'.'.join(path) or 'root'}: {error}")

    def errors(self) -> list[dict]:
        """The pydantic errors with ``loc`` from the root."""
        return [{**e, "loc": self.path + tuple(e["loc"])} for e in self.error.errors()]


class PathError(ValueError):
    """Entry ``entry`` cannot be set: ``prefix`` of its path holds ``value``, not a mapping."""

    def __init__(self, entry: int, prefix: tuple, value: Any) -> None:
        self.entry, self.prefix, self.value = entry, prefix, value
        super().__init__(f"{'.'.join(map(str, prefix))} is {value!r}, not a mapping")


def _splittable(model: type[BaseModel]) -> bool:
    """Whether ``model`` may be validated with already validated children
    (none of its model validators sees the raw input)."""
    decorators = model.__pydantic_decorators__
    return all(d.info.mode == "after" for d in decorators.model_validators.values())


def _child_model(model: type[BaseModel], name: str) -> Optional[type[BaseModel]]:
    """The model class of field ``name`` when a validated instance of it may
    stand for its raw content (a plain ``M`` or ``Optional[M]`` field without
    constraints or validators of its own), else `None`."""
    info = model.model_fields[name]
    base, metadata, _ = unwrap(info.annotation)
    if not is_model(base) or metadata or info.metadata:
        return None
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if name in decorator.info.fields or "*" in decorator.info.fields:
            return None
    return base


class _Node:
    """A model at ``path``: validated from its fields, cached by the value indices it depends on."""

    def __init__(self, path: tuple, model: type[BaseModel], dims: tuple[int, ...], cached: bool) -> None:
        self.path, self.model, self.dims = path, model, dims
        self.cache: Optional[dict] = {} if cached else None
        self.fields: list[tuple[str, str, Any]] = []  # (name, kind, what) with kind in base/node/value/patched

    def content(self, combo: tuple) -> dict:
        out = {}
        for name, kind, what in self.fields:
            if kind == "base":
                out[name] = what
            elif kind == "node":
                out[name] = what.validated(combo)
            elif kind == "value":
                out[name] = what.values[combo[what.dim]]
            else:  # patched: a raw mapping with entries set below it
                base, entries = what
                out[name] = _patched(base, entries, combo)
        return out

    def validated(self, combo: tuple) -> Any:
        key = tuple(combo[d] for d in self.dims) if self.cache is not None else None
        if key is not None and key in self.cache:
            return self.cache[key]
        try:
            result = self.model.model_validate(self.content(combo))
        except ValidationError as err:
            raise VariantError(self.path, err) from None
        if key is not None:
            if len(self.cache) >= CACHE_SIZE:
                del self.cache[next(iter(self.cache))]
            self.cache[key] = result
        return result


class _Replaced(_Node):
    """A sub-model whose whole content is one entry's value (validated once per value)."""

    def __init__(self, path: tuple, model: type[BaseModel], entry: Entry) -> None:
        super().__init__(path, model, (entry.dim,), cached=True)
        self.entry = entry

    def validated(self, combo: tuple) -> Any:
        value = self.entry.values[combo[self.entry.dim]]
        if not isinstance(value, Mapping):
            return value  # null, or a wrong type the parent reports
        return super().validated(combo)

    def content(self, combo: tuple) -> dict:
        return self.entry.values[combo[self.entry.dim]]


def _patched(base: dict, entries: Sequence[tuple[tuple, Entry]], combo: tuple) -> dict:
    data = copy.deepcopy(base)
    for parts, entry in entries:
        set_path(data, parts, entry.values[combo[entry.dim]])
    return data


def set_path(data: dict, parts: Sequence, value: Any) -> None:
    """``data[parts[0]]...[parts[-1]] = deepcopy(value)`` (the mappings and lists on the way must
    exist; an int part indexes a list)."""
    for part in parts[:-1]:
        if isinstance(data[part], tuple):  # model_dump gives tuple fields as tuples
            data[part] = list(data[part])
        data = data[part]
    data[parts[-1]] = copy.deepcopy(value)


def get_path(data: Any, parts: Sequence) -> Any:
    """``data[parts[0]][parts[1]]...`` through mappings and lists, `None` where a step is missing."""
    for part in parts:
        data = _step(data, part)
    return data


def _step(node: Any, part: Any) -> Any:
    """``node[part]`` when ``node`` is a mapping holding ``part`` or a list/tuple holding index ``part``,
    else `None`."""
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, (list, tuple)) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


class VariantValidator:
    """Validates ``root`` on variants of ``base``.

    :param root: the model class of the whole data.
    :param base: plain data of the model (``model_dump(mode="python")``); the
        variants share it (it is not modified).
    :param entries: the varied fields; a variant is an index tuple ``combo``
        that gives entry ``e`` the value ``e.values[combo[e.dim]]``. Entries
        must not contain one another.
    :raises PathError: an entry below a field that is not a mapping in ``base``
        (e.g. a field of an optional section that is null).
    """

    def __init__(self, root: type[BaseModel], base: dict, entries: Sequence[Entry]) -> None:
        self.base, self.entries = base, list(entries)
        for i, entry in enumerate(self.entries):
            node: Any = base
            for n, part in enumerate(entry.parts[:-1]):
                node = _step(node, part)
                last_is_index = isinstance(entry.parts[n + 1], int)
                if not (isinstance(node, (list, tuple)) if last_is_index else isinstance(node, Mapping)):
                    raise PathError(i, entry.parts[: n + 1], node)
            if isinstance(entry.parts[-1], int) and _step(node, entry.parts[-1]) is None:
                raise PathError(i, entry.parts, None)
        self._num_dims = len({e.dim for e in self.entries})
        self.root = self._build((), root, base)

    def validate(self, combo: tuple) -> BaseModel:
        """The validated root model of variant ``combo``; raises :class:`VariantError`."""
        return self.root.validated(combo)

    def raw(self, combo: tuple) -> dict:
        """The plain data of variant ``combo`` (a copy of ``base`` with the values set)."""
        return _patched(self.base, [(e.parts, e) for e in self.entries], combo)

    def _build(self, path: tuple, model: type[BaseModel], base: dict) -> _Node:
        below = [e for e in self.entries if e.parts[: len(path)] == path]
        dims = tuple(sorted({e.dim for e in below}))
        node = _Node(path, model, dims, cached=len(dims) < self._num_dims)  # else every variant differs
        splittable = _splittable(model)
        for name in model.model_fields:
            if name not in base:
                continue  # left to its default
            here = path + (name,)
            mine = [e for e in below if e.parts[: len(here)] == here]
            child = _child_model(model, name) if splittable else None
            value = base[name]
            if not mine and child is not None and isinstance(value, Mapping) and not below:
                node.fields.append((name, "base", value))  # the whole node is validated once
            elif not mine and child is not None and isinstance(value, Mapping):
                node.fields.append((name, "node", self._build(here, child, value)))
            elif not mine:
                node.fields.append((name, "base", value))
            elif len(mine) == 1 and mine[0].parts == here:
                kind = "node" if child is not None else "value"
                node.fields.append((name, kind, _Replaced(here, child, mine[0]) if child is not None else mine[0]))
            elif child is not None:
                node.fields.append((name, "node", self._build(here, child, value)))
            else:
                node.fields.append((name, "patched", (value, [(e.parts[len(here):], e) for e in mine])))
        return node
