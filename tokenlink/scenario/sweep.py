"""Sweep points: the grid x zip expansion of a scenario, built when asked for.

:class:`SweepPoints` is a lazy sequence: its length and keys cost nothing,
and a point's validated scenario is built when the point is asked for
(indexing or iterating). :func:`validate_sweep` checks every point when the
scenario is validated, without keeping any: each distinct content of each
section is validated once (:mod:`.variants`), so the cost per point is that
of the top-level model alone, and memory does not grow with the number of
points. The errors are those of validating each point on its own: the first
invalid point (in point order) is reported with the sweep entry to blame.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union, overload

from pydantic import ValidationError

from ..common.errors import FieldRule, dotted, explain, show
from .variants import Entry, PathError, VariantError, VariantValidator

if TYPE_CHECKING:
    from .schema import Scenario

__all__ = ["SweepPoint", "SweepPoints", "validate_sweep"]


@dataclass(frozen=True)
class SweepPoint:
    """One point of a scenario's sweep.

    ``key``: stable name (``point_0003``); ``params``: the swept dotted
    fields and their values as written in the sweep, in declaration order;
    ``scenario``: the point's own validated scenario (sweep values applied,
    empty ``sweep``).
    """

    index: int
    key: str
    params: dict[str, Any]
    scenario: "Scenario" = dataclass_field(repr=False)


def point_key(index: int) -> str:
    """The stable name of point ``index``: ``point_0003``."""
    return f"point_{index:04d}"


class _Expansion:
    """The sweep of one scenario as index arithmetic: point ``index`` <->
    ``combo`` (one value index per grid key, first key slowest, then the zip
    index, fastest) <-> params; points are validated through :class:`VariantValidator`."""

    def __init__(self, scenario: "Scenario") -> None:
        sweep = scenario.sweep
        self.scenario, self.root = scenario, type(scenario)
        grid_keys, zip_keys = list(sweep.grid), list(sweep.zip)
        self.sizes = [len(sweep.grid[k]) for k in grid_keys] + [len(sweep.zip[zip_keys[0]]) if zip_keys else 1]
        #: (table, key, values, dim) in declaration order: grid keys, then zip keys
        self.entries = [("grid", k, sweep.grid[k], d) for d, k in enumerate(grid_keys)]
        self.entries += [("zip", k, sweep.zip[k], len(grid_keys)) for k in zip_keys]
        self.num_points = math.prod(self.sizes)
        self.base = scenario.model_dump(mode="python", exclude={"sweep"})
        try:
            self.validator = VariantValidator(
                self.root, self.base, [Entry(tuple(k.split(".")), v, d) for _, k, v, d in self.entries])
        except PathError as err:
            table, key, _, _ = self.entries[err.entry]
            section = dotted(err.prefix)
            raise FieldRule(f"sets a field inside {section}, which is {show(err.value)} in the scenario",
                            f"a {section} section in the scenario, or sweep {section} as a whole",
                            path=("sweep", table, key)) from None

    def combo(self, index: int) -> tuple[int, ...]:
        out = []
        for size in reversed(self.sizes):
            index, i = divmod(index, size)
            out.append(i)
        return tuple(reversed(out))

    def combos(self) -> Iterator[tuple[int, ...]]:
        """Every point's combo, in point order."""
        return itertools.product(*(range(n) for n in self.sizes))

    def params(self, combo: tuple) -> dict[str, Any]:
        return {key: values[combo[dim]] for _, key, values, dim in self.entries}

    def validated(self, index: int, combo: tuple) -> "Scenario":
        """The point's validated scenario; raises FieldRule naming the sweep entry to blame."""
        try:
            return self.validator.validate(combo)
        except VariantError as err:
            raise self.blame(index, combo, err) from None

    def point(self, index: int) -> SweepPoint:
        combo = self.combo(index)
        return SweepPoint(index, point_key(index), self.params(combo), self.validated(index, combo))

    def blame(self, index: int, combo: tuple, fast: VariantError) -> FieldRule:
        """The error of validating point ``index`` from its whole data (what
        a user would see validating that point alone), with the sweep entry to blame."""
        try:
            self.root.model_validate(self.validator.raw(combo))
            errors = fast.errors()  # not reached while the split validation is exact
        except ValidationError as err:
            errors = err.errors()
        where = [(table, key, combo[dim]) for table, key, _, dim in self.entries]
        return _blame(errors[0], self.root, where, self.params(combo), point_key(index))


class SweepPoints(Sequence[SweepPoint]):
    """The points of a scenario's sweep in their deterministic order, built
    when asked for: ``len``, :meth:`keys` and :meth:`select` build nothing;
    ``points[i]`` and iteration build each point's validated scenario.

    :param scenario: the scenario (its current fields: a ``model_copy(update=...)`` is seen).
    :param indices: the point indices this sequence holds (default: all).
    """

    def __init__(self, scenario: "Scenario", indices: Optional[Sequence[int]] = None,
                 _expansion: Optional[_Expansion] = None) -> None:
        self._scenario = scenario
        if _expansion is None and scenario.sweep.keys():
            _expansion = _Expansion(scenario)
        self._expansion = _expansion  # None: no sweep, one point (the scenario itself)
        total = self._expansion.num_points if self._expansion is not None else 1
        self._indices: Sequence[int] = range(total) if indices is None else indices

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> SweepPoint: ...

    @overload
    def __getitem__(self, i: slice) -> "SweepPoints": ...

    def __getitem__(self, i: Union[int, slice]) -> Union[SweepPoint, "SweepPoints"]:
        if isinstance(i, slice):
            return SweepPoints(self._scenario, self._indices[i], self._expansion)
        index = self._indices[i]
        if self._expansion is None:
            return SweepPoint(0, point_key(0), {}, self._scenario)
        return self._expansion.point(index)

    def __iter__(self) -> Iterator[SweepPoint]:
        for n in range(len(self._indices)):
            yield self[n]

    def keys(self) -> Iterator[str]:
        """The point keys, in order (nothing is built)."""
        return (point_key(i) for i in self._indices)

    def select(self, positions: Sequence[int]) -> "SweepPoints":
        """The points at ``positions`` of this sequence (nothing is built)."""
        return SweepPoints(self._scenario, [self._indices[p] for p in positions], self._expansion)

    def __repr__(self) -> str:
        return f"SweepPoints({self._scenario.name!r}, {len(self)} points)"


def validate_sweep(scenario: "Scenario") -> None:
    """Check every point of ``scenario.sweep`` (without keeping them), and
    that every swept field is used by some point.

    :raises FieldRule: the first invalid point (path ``sweep.<table>.<key>[i]``
        of the entry to blame), or a swept field no point uses.
    """
    if not scenario.sweep.grid and not scenario.sweep.zip:
        return
    expansion = _Expansion(scenario)
    first: Optional[tuple] = None
    uses: set[tuple] = set()  # what decides which fields a point uses (see _unused_fields)
    for index, combo in enumerate(expansion.combos()):
        point = expansion.validated(index, combo)
        use = (point.phy.snr_type, point.link.mode, point.semantic is not None)
        first = use if first is None else first
        uses.add(use)
    for table, name, _, _ in expansion.entries:
        unused = [next((u for u in _unused_fields(*use) if name == u[0] or name.startswith(u[0] + ".")), None)
                  for use in [first, *(uses - {first})]]
        if all(unused):
            _, why, todo = unused[0]
            raise FieldRule(f"is not used by any point ({why}): every point would be the same", todo,
                            path=("sweep", table, name))


def _unused_fields(snr_type: str, mode: str, has_semantic: bool) -> list[tuple[str, str, str]]:
    """``(dotted prefix, why, what to do)`` for the fields a point does not use,
    from its ``phy.snr_type``, ``link.mode`` and whether it has a semantic section."""
    if snr_type == "link_budget":
        unused = [("phy.snr_db", "phy.snr_type is 'link_budget'",
                   "phy.link_budget fields (e.g. phy.link_budget.distance_m), or phy.snr_type es_no / eb_no")]
    else:
        unused = [("phy.link_budget", f"phy.snr_type is {snr_type!r}",
                   "phy.snr_db, or set phy.snr_type: link_budget to sweep the link budget")]
    why = f"link.mode is {mode!r}"
    if mode == "bits":
        todo = "fields of the PHY, or set link.mode to analog / digital (or sweep it) to use this one"
        unused += [(p, why, todo) for p in ("link.analog", "link.digital", "link.tokens",
                                            "link.max_slots_per_frame", "run.max_frames")]
    else:
        other = "digital" if mode == "analog" else "analog"
        unused.append((f"link.{other}", why, f"set link.mode to {other} (or sweep it) to use this field"))
    if has_semantic:
        unused.append(("link.tokens", "the semantic section makes the tokens",
                       "semantic fields (e.g. semantic.num_tokens), or drop the semantic section"))
    return unused


def _blame(error: dict, root: type, where: list, params: dict, key: str) -> FieldRule:
    """The sweep entry responsible for an invalid point: the swept field that
    contains the bad field, or shares the longest prefix with it."""
    path, problem, allowed = explain(error, root)
    parts = [tuple(k.split(".")) for _, k, _ in where]

    def shared(k: tuple) -> int:
        return next((n for n, (a, b) in enumerate(zip(k, path, strict=False)) if a != b), min(len(k), len(path)))

    best = max(range(len(where)), key=lambda i: (shared(parts[i]), -i))
    table, name, index = where[best]
    if tuple(path) == parts[best]:
        return FieldRule(problem, allowed, path=("sweep", table, name, index))
    values = ", ".join(f"{k}={show(v, 30)}" for k, v in params.items())
    return FieldRule(f"{key} ({values}) is invalid: {dotted(path)}: {problem}", allowed,
                     path=("sweep", table, name, index))
