"""Sweep points: the grid x zip expansion of a scenario, each point validated."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any, Sequence

from pydantic import ValidationError

from ..common.errors import FieldRule, dotted, explain, show

if TYPE_CHECKING:
    from .schema import Scenario

__all__ = ["SweepPoint", "expand"]


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



def _set_path(data: dict, parts: Sequence[str], value: Any) -> None:
    for part in parts[:-1]:
        data = data[part]
    data[parts[-1]] = copy.deepcopy(value)


def _unused_fields(scenario: Scenario) -> list[tuple[str, str, str]]:
    """``(dotted prefix, why, what to do)`` for the fields this point does not use."""
    snr_type, mode = scenario.phy.snr_type, scenario.link.mode
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
    if scenario.semantic is not None:
        unused.append(("link.tokens", "the semantic section makes the tokens",
                       "semantic fields (e.g. semantic.num_tokens), or drop the semantic section"))
    return unused


def expand(scenario: Scenario) -> list[SweepPoint]:
    """Validated points of ``scenario.sweep`` (raises FieldRule naming the sweep entry)."""
    sweep = scenario.sweep
    if not sweep.keys():
        return [SweepPoint(0, "point_0000", {}, scenario)]
    base = scenario.model_dump(mode="python", exclude={"sweep"})
    grid_keys, zip_keys = list(sweep.grid), list(sweep.zip)
    num_zip = len(sweep.zip[zip_keys[0]]) if zip_keys else 1
    points = []
    for index, combo in enumerate(itertools.product(*(range(len(sweep.grid[k])) for k in grid_keys), range(num_zip))):
        where = [("grid", k, i) for k, i in zip(grid_keys, combo[:-1], strict=True)]
        where += [("zip", k, combo[-1]) for k in zip_keys]
        params = {k: getattr(sweep, table)[k][i] for table, k, i in where}
        key = f"point_{index:04d}"
        data = copy.deepcopy(base)
        for name, value in params.items():
            _set_path(data, name.split("."), value)
        try:
            point = type(scenario).model_validate(data)
        except ValidationError as err:
            raise _blame(err, type(scenario), where, params, key) from None
        points.append(SweepPoint(index, key, params, point))
    for table, name in sweep._entries():
        unused = [next((u for u in _unused_fields(pt.scenario) if name == u[0] or name.startswith(u[0] + ".")), None)
                  for pt in points]
        if all(unused):
            _, why, todo = unused[0]
            raise FieldRule(f"is not used by any point ({why}): every point would be the same", todo,
                            path=("sweep", table, name))
    return points


def _blame(err: ValidationError, root: type, where: list, params: dict, point_key: str) -> FieldRule:
    """The sweep entry responsible for an invalid point: the swept field that
    contains the bad field, or shares the longest prefix with it."""
    path, problem, allowed = explain(err.errors()[0], root)
    parts = [tuple(k.split(".")) for _, k, _ in where]

    def shared(k: tuple) -> int:
        return next((n for n, (a, b) in enumerate(zip(k, path, strict=False)) if a != b), min(len(k), len(path)))

    best = max(range(len(where)), key=lambda i: (shared(parts[i]), -i))
    table, name, index = where[best]
    if tuple(path) == parts[best]:
        return FieldRule(problem, allowed, path=("sweep", table, name, index))
    values = ", ".join(f"{k}={show(v, 30)}" for k, v in params.items())
    return FieldRule(f"{point_key} ({values}) is invalid: {dotted(path)}: {problem}", allowed,
                     path=("sweep", table, name, index))


