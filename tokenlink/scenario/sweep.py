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
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple, Optional, Sequence, Union, overload

from pydantic import ValidationError

from ..common.errors import FieldRule, dotted, explain, show
from ..common.introspect import key_parts
from .plan import SEMANTIC_TRAINING_ONLY
from .variants import Entry, PathError, VariantError, VariantValidator, get_path

if TYPE_CHECKING:
    from .schema import Scenario

__all__ = ["VARIANT", "SweepPoint", "SweepPoints", "validate_sweep", "distinct_points", "Use", "point_use",
           "unused_fields"]


#: The swept parameter naming a point's zip combination when ``sweep.labels`` names them.
VARIANT = "variant"


@dataclass(frozen=True)
class SweepPoint:
    """One point of a scenario's sweep.

    ``key``: stable name (``point_0003``); ``params``: the swept dotted
    fields and their values as written in the sweep, in declaration order
    (with ``sweep.labels``: ``variant``, the zip combination's name, before the zip fields);
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
                self.root, self.base, [Entry(key_parts(k), v, d) for _, k, v, d in self.entries])
        except PathError as err:
            table, key, _, _ = self.entries[err.entry]
            section = dotted(err.prefix)
            if isinstance(err.prefix[-1], int) and err.value is None:
                items = get_path(self.base, err.prefix[:-1])
                count = len(items) if isinstance(items, (list, tuple)) else 0
                raise FieldRule(f"{dotted(err.prefix[:-1])} has {count} entries, no index {err.prefix[-1]}",
                                f"an index 0..{count - 1}" if count else f"a {dotted(err.prefix[:-1])} list in the "
                                "scenario", path=("sweep", table, key)) from None
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
        out = {key: values[combo[dim]] for table, key, values, dim in self.entries if table == "grid"}
        labels = self.scenario.sweep.labels
        if labels is not None:
            out[VARIANT] = labels[combo[-1]]
        out.update({key: values[combo[dim]] for table, key, values, dim in self.entries if table == "zip"})
        return out

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


def distinct_points(scenario: "Scenario", relevant: Callable[[str], bool]) -> Iterator[tuple[SweepPoint, int]]:
    """One point per distinct combination of the swept values whose keys are ``relevant``
    (the other swept keys at their first value), with the number of points it stands for:
    what a check that reads only the relevant fields needs to see of a sweep, however large.

    :param relevant: ``dotted key -> bool``.
    :output: ``(point, how many points share its relevant values)``, in point order.
    """
    if not scenario.sweep.keys():
        yield SweepPoint(0, point_key(0), {}, scenario), 1
        return
    expansion = _Expansion(scenario)
    dims = sorted({dim for _, key, _, dim in expansion.entries if relevant(key)})
    shared = math.prod(size for d, size in enumerate(expansion.sizes) if d not in dims)
    for values in itertools.product(*(range(expansion.sizes[d]) for d in dims)):
        combo = [0] * len(expansion.sizes)
        for d, v in zip(dims, values, strict=True):
            combo[d] = v
        index = 0
        for size, v in zip(expansion.sizes, combo, strict=True):
            index = index * size + v
        yield expansion.point(index), shared


def validate_sweep(scenario: "Scenario") -> None:
    """Check every point of ``scenario.sweep`` (without keeping them), and
    that every swept field is used by some point.

    :raises FieldRule: the first invalid point (path ``sweep.<table>.<key>[i]``
        of the entry to blame), or a swept field no point uses.
    """
    if not scenario.sweep.grid and not scenario.sweep.zip:
        return
    expansion = _Expansion(scenario)
    first: Optional[Use] = None
    uses: set[Use] = set()  # what decides which fields a point uses (see unused_fields)
    for index, combo in enumerate(expansion.combos()):
        use = point_use(expansion.validated(index, combo))
        first = use if first is None else first
        uses.add(use)
    for table, name, _, _ in expansion.entries:
        unused = [next((u for u in unused_fields(use) if name == u[0] or name.startswith(u[0] + ".")), None)
                  for use in [first, *(uses - {first})]]
        if all(unused):
            _, why, todo = unused[0]
            raise FieldRule(f"is not used by any point ({why}): every point would be the same", todo,
                            path=("sweep", table, name))


class Use(NamedTuple):
    """What decides which fields a point uses (:func:`unused_fields`)."""

    snr_type: str
    mode: str
    semantic: bool
    checkpoint: bool
    train_link_mode: Optional[str]
    early_stop: bool
    max_rel_stderr: bool
    shadowing_off: bool  # phy.link_budget.shadowing is "off"
    shadowing_zero: bool  # the link budget's shadowing standard deviation is 0
    heights_unused: bool  # free-space path loss without h_bs_m: the UE height does not count
    network_sharing: Optional[str] = None  # network.sharing, None without a network


def point_use(point: "Scenario") -> Use:
    """The :class:`Use` of a point's validated scenario."""
    budget = point.phy.link_budget
    sem = point.semantic
    return Use(point.phy.snr_type, point.link.mode, sem is not None, sem is not None and sem.checkpoint is not None,
               sem.train_link_mode if sem is not None else None, point.run.early_stop,
               point.run.max_rel_stderr is not None, budget.shadowing == "off", budget.shadowing_sigma_db == 0,
               budget.path_loss_model == "free_space" and budget.h_bs_m is None,
               None if point.network is None else point.network.sharing)


def unused_fields(use: Use) -> list[tuple[str, str, str]]:
    """``(dotted prefix, why, what to do)`` for the fields a point of this :class:`Use` does not
    use (what it simulates, :mod:`tokenlink.scenario.plan`, does not depend on them)."""
    if use.snr_type == "link_budget":
        unused = [("phy.snr_db", "phy.snr_type is 'link_budget'",
                   "phy.link_budget fields (e.g. phy.link_budget.distance_m), or phy.snr_type es_no / eb_no")]
        if use.shadowing_off:
            unused.append(("phy.link_budget.shadowing_std_db", "phy.link_budget.shadowing is 'off'",
                           "set phy.link_budget.shadowing: per_frame to draw shadowing"))
        if use.heights_unused:
            unused.append(("phy.link_budget.h_ut_m", "free_space path loss with h_bs_m null: distance_m is the "
                           "link distance", "set phy.link_budget.h_bs_m, or a 3GPP path_loss_model"))
        if use.shadowing_zero:
            unused.append(("phy.link_budget.shadowing", "the shadowing standard deviation is 0",
                           "a phy.link_budget.shadowing_std_db > 0 (or a path-loss model with shadowing)"))
    else:
        unused = [("phy.link_budget", f"phy.snr_type is {use.snr_type!r}",
                   "phy.snr_db, or set phy.snr_type: link_budget to sweep the link budget")]
    if use.network_sharing == "mu_mimo":
        unused += [(f"network.{f}", "network.sharing is 'mu_mimo': every user is on every RE",
                    "set network.sharing: ofdma to share resource blocks") for f in ("shares", "layout")]
    why = f"link.mode is {use.mode!r}"
    if use.mode == "bits":
        todo = "fields of the PHY, or set link.mode to analog / digital (or sweep it) to use this one"
        unused += [(p, why, todo) for p in ("link.analog", "link.digital", "link.tokens",
                                            "link.max_slots_per_frame", "run.max_frames")]
    else:
        other = "digital" if use.mode == "analog" else "analog"
        if use.train_link_mode != other:
            unused.append((f"link.{other}", why, f"set link.mode to {other} (or sweep it) to use this field"))
    if use.semantic:
        unused.append(("link.tokens", "the semantic section makes the tokens",
                       "semantic fields (e.g. semantic.num_tokens), or drop the semantic section"))
        why = "a semantic point evaluates semantic.test_questions, in batches of semantic.eval_batch_size"
        unused += [(f"run.{f}", why, "semantic.test_questions or semantic.eval_batch_size")
                   for f in ("batch_size", "max_bits", "min_bit_errors", "max_frames", "max_rel_stderr", "early_stop")]
        if use.checkpoint:
            unused += [(f"semantic.{f}", "semantic.checkpoint names a trained model (this field only trains)",
                        "drop semantic.checkpoint to train one model per value") for f in SEMANTIC_TRAINING_ONLY]
        return unused
    if use.mode != "bits":
        unused.append(("run.max_bits", f"{why}: token points stop at run.max_frames", "run.max_frames"))
    if use.mode == "analog":
        unused.append(("run.min_bit_errors", f"{why}: analog tokens carry no bits",
                       "run.max_rel_stderr (the precision of the NMSE) or run.max_frames"))
        if not use.max_rel_stderr:
            unused.append(("run.early_stop", f"{why} and run.max_rel_stderr is null: analog points stop early "
                           "only on the precision of their NMSE", "set run.max_rel_stderr, or sweep run.max_frames"))
    if not use.early_stop:
        unused += [(f"run.{f}", "run.early_stop is false", "set run.early_stop: true to stop points early")
                   for f in ("min_bit_errors", "max_rel_stderr")]
    return unused


def _blame(error: dict, root: type, where: list, params: dict, key: str) -> FieldRule:
    """The sweep entry responsible for an invalid point: the swept field that
    contains the bad field, or shares the longest prefix with it."""
    path, problem, allowed = explain(error, root)
    parts = [key_parts(k) for _, k, _ in where]

    def shared(k: tuple) -> int:
        return next((n for n, (a, b) in enumerate(zip(k, path, strict=False)) if a != b), min(len(k), len(path)))

    best = max(range(len(where)), key=lambda i: (shared(parts[i]), -i))
    table, name, index = where[best]
    if tuple(path) == parts[best]:
        return FieldRule(problem, allowed, path=("sweep", table, name, index))
    values = ", ".join(f"{k}={show(v, 30)}" for k, v in params.items())
    return FieldRule(f"{key} ({values}) is invalid: {dotted(path)}: {problem}", allowed,
                     path=("sweep", table, name, index))
