"""Warnings for configurations that validate but cannot work, or that set fields nothing reads.

:func:`scenario_warnings` checks a scenario once per run (every distinct
combination of the swept fields the checks read, not every point) and
returns :class:`ScenarioWarning` s; ``tokenlink validate`` and ``tokenlink
run`` print each as one line on stderr::

    tokenlink: warning: <field>: <what> (<why>); <what to do>

and the runner stores them in the trace (root attribute ``warnings_json``,
shown by ``tokenlink info``). The checks:

* the channel estimate cannot follow the channel in time: flat fading
  redrawn every OFDM symbol, or a UE so fast for the grid that the channel
  changes a lot between pilot OFDM symbols, with LS or LMMSE estimation
  (the error of the estimate alone, :func:`tokenlink.phy.limits.estimation_floor`,
  caps the SINR below :data:`SINR_CEILING_DB`);
* ``phy.channel.normalize`` on flat block fading removes the fading itself;
* a channel or receiver field set to a non-default value that the
  configured model / estimator of no point reads;
* a raw array asked for that no point records.

Torch-free (validation does not import torch).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Optional

from ..phy.config import BaseStationConfig, ChannelConfig, PhyConfig, ReceiverConfig
from ..phy.limits import EstimationFloor, estimation_floor, max_doppler_hz, ofdm_symbol_duration_s
from .plan import RAW_BY_KIND, plan_kind
from .sweep import distinct_points

if TYPE_CHECKING:
    from .schema import Scenario

__all__ = ["ScenarioWarning", "scenario_warnings", "SINR_CEILING_DB", "WARNING_PREFIX"]

#: A channel estimate whose error alone caps the SINR below this [dB] gets a warning.
SINR_CEILING_DB = 15.0
WARNING_PREFIX = "tokenlink: warning: "
#: Swept keys the checks read (a sweep is checked over their distinct combinations).
_READ = ("phy.grid", "phy.channel", "phy.receiver", "phy.modulation", "phy.base_station", "link.mode", "run.raw",
         "semantic", "network")
#: Channel fields each model reads (model and normalize: all of them).
_CHANNEL_READS = {
    "awgn": (),
    "rayleigh": ("coherence",),
    "rician": ("k_factor", "coherence"),
    "tdl": ("profile", "delay_spread_s", "carrier_frequency_hz", "speed_mps", "max_speed_mps"),
    "cdl": ("profile", "delay_spread_s", "carrier_frequency_hz", "speed_mps", "max_speed_mps", "direction"),
}
#: Receiver fields each estimator reads beyond the estimator itself.
_RECEIVER_READS = {"perfect": (), "ls": ("interpolation",), "lmmse": ("lmmse_order",)}
#: Base-station fields each channel model reads beyond num_rx_antennas (the array geometry: cdl only).
_BASE_STATION_READS = {model: () for model in _CHANNEL_READS} | {
    "cdl": ("antenna_pattern", "antenna_spacing_wavelengths")}
_READERS = {"k_factor": "model rician", "coherence": "model rayleigh or rician", "direction": "model cdl",
            "antenna_pattern": "model cdl", "antenna_spacing_wavelengths": "model cdl",
            "interpolation": "receiver.estimator ls", "lmmse_order": "receiver.estimator lmmse"}
_RAW_WHY = {"tokens": "only analog / digital points send synthetic tokens", "llr": "analog tokens have no bits",
            "symbols": "only link.mode bits records equalized symbols"}


@dataclass(frozen=True)
class ScenarioWarning:
    """One warning: ``field``: ``what`` (``why``); ``todo``."""

    field: str
    what: str
    why: str
    todo: str

    def __str__(self) -> str:
        return f"{self.field}: {self.what} ({self.why}); {self.todo}"

    @property
    def line(self) -> str:
        """The line printed on stderr: ``tokenlink: warning: <field>: <what> (<why>); <what to do>``."""
        return WARNING_PREFIX + str(self)


def scenario_warnings(scenario: "Scenario") -> list[ScenarioWarning]:
    """The warnings of a scenario and its sweep, each once (module doc)."""
    points = list(distinct_points(scenario, _reads))
    total = scenario.num_points()
    found: list[ScenarioWarning] = []
    for check in (_estimation_warnings, _normalized_flat_fading, _unused_demand):
        found += check(points, total)
    found += _ignored_fields([p.scenario for p, _ in points])
    found += _unrecorded_raw([p.scenario for p, _ in points])
    return found


def _reads(key: str) -> bool:
    return any(key == r or key.startswith(r + ".") or r.startswith(key + ".") for r in _READ)


def _of(count: int, total: int) -> str:
    return "" if count == total else f", {count} of {total} points"


@functools.lru_cache(maxsize=1024)
def _floor(phy: PhyConfig) -> Optional[EstimationFloor]:
    return estimation_floor(phy)


def _estimation_warnings(points: list, total: int) -> list[ScenarioWarning]:
    """The estimate cannot follow the channel in time: one warning for flat per-symbol fading and one
    for Doppler, each for the worst point, naming how many points it concerns."""
    worst: dict[str, tuple] = {}  # kind -> (ceiling, phy, count)
    for point, shared in points:
        phy = point.scenario.phy_config()
        floor = _floor(phy)
        if floor is None or floor.sinr_ceiling_db >= SINR_CEILING_DB:
            continue
        kind = "doppler" if phy.channel.model in ("tdl", "cdl") else "coherence"
        ceiling, worst_phy, count = worst.get(kind, (float("inf"), None, 0))
        if floor.sinr_ceiling_db < ceiling:
            ceiling, worst_phy = floor.sinr_ceiling_db, phy
        worst[kind] = (ceiling, worst_phy, count + shared)
    out = []
    for kind, (ceiling, phy, count) in worst.items():
        ch, rx, grid = phy.channel, phy.receiver, phy.grid
        estimator = f"receiver.estimator {rx.estimator!r}" + (f" ({rx.interpolation})" if rx.estimator == "ls" else "")
        pilots = ", ".join(map(str, sorted(grid.pilot_ofdm_symbol_indices)))
        cap = f"the estimate's error alone caps the SINR at about {ceiling:.1f} dB whatever the Es/N0{_of(count, total)}"
        if kind == "coherence":
            k = f" with k_factor {ch.k_factor:g}" if ch.model == "rician" else ""
            out.append(ScenarioWarning(
                "phy.channel.coherence",
                f"flat {ch.model} fading{k} redrawn every OFDM symbol cannot be estimated with {estimator}",
                f"pilots on OFDM symbols {pilots} tell nothing of the fades of the others: {cap}",
                "use coherence: block, receiver.estimator: perfect, or model tdl / cdl with a UE speed for a "
                "channel that changes within the slot"))
        else:
            doppler, symbol = max_doppler_hz(ch), ofdm_symbol_duration_s(grid)
            field = "max_speed_mps" if ch.max_speed_mps is not None else "speed_mps"
            out.append(ScenarioWarning(
                f"phy.channel.{field}",
                f"a UE at up to {ch.speed_range_mps[1]:g} m/s is too fast for the pilots of {estimator}",
                f"max Doppler {doppler:.0f} Hz x OFDM symbol {symbol * 1e6:.1f} us = {doppler * symbol:.3f} per "
                f"symbol, pilots on OFDM symbols {pilots}: {cap}",
                "add pilot OFDM symbols (phy.grid.pilot_ofdm_symbol_indices), widen "
                "phy.grid.subcarrier_spacing_hz, lower the speed, or use receiver.estimator: perfect"))
    return out


def _normalized_flat_fading(points: list, total: int) -> list[ScenarioWarning]:
    count, model = 0, None
    for point, shared in points:
        ch = point.scenario.phy.channel
        if ch.normalize and ch.model in ("rayleigh", "rician") and ch.coherence == "block":
            count, model = count + shared, ch.model
    if not count:
        return []
    return [ScenarioWarning(
        "phy.channel.normalize", f"true removes the fading of flat {model} block fading",
        f"every slot is rescaled to unit energy, so |h| = 1: an AWGN channel with a random phase{_of(count, total)}",
        "set normalize: false (normalize is meant for the slow power changes of tdl / cdl)")]


def _unused_demand(points: list, total: int) -> list[ScenarioWarning]:
    """network.users[k].demand_res set, but no point has shares: proportional (the only reader)."""
    nets = [p.scenario.network for p, _ in points if p.scenario.network is not None]
    if any(net.shares == "proportional" and net.sharing == "ofdma" for net in nets):
        return []
    users = sorted({k for net in nets for k, u in enumerate(net.users) if u.demand_res is not None})
    if not users:
        return []
    return [ScenarioWarning(
        f"network.users[{users[0]}].demand_res", "is ignored",
        "only network.shares: proportional (with sharing ofdma) reads it, and no point has them",
        "drop demand_res, or set (or sweep) network.shares: proportional")]


def _ignored_fields(scenarios: Iterable["Scenario"]) -> list[ScenarioWarning]:
    """Channel / receiver fields set away from their default that no point's model / estimator reads."""
    scenarios = list(scenarios)
    out = []
    for section, reads, default, key in (
            ("channel", _CHANNEL_READS, ChannelConfig(), lambda p: p.channel.model),
            ("receiver", _RECEIVER_READS, ReceiverConfig(), lambda p: p.receiver.estimator),
            ("base_station", _BASE_STATION_READS, BaseStationConfig(), lambda p: p.channel.model)):
        read = {f for s in scenarios for f in reads[key(s.phy)]}
        kinds = sorted({key(s.phy) for s in scenarios})
        for name in sorted({f for fields in reads.values() for f in fields} - read):
            values = sorted({repr(getattr(getattr(s.phy, section), name)) for s in scenarios
                             if getattr(getattr(s.phy, section), name) != getattr(default, name)})
            if not values:
                continue
            who = "receiver.estimator" if section == "receiver" else "channel model"
            reader = _READERS.get(name, "model tdl or cdl")
            out.append(ScenarioWarning(
                f"phy.{section}.{name}", f"{', '.join(values)} is ignored",
                f"{who} {' / '.join(map(repr, kinds))} does not read it; only {reader} does",
                f"drop the field, or use {reader}"))
    return out


def _unrecorded_raw(scenarios: Iterable["Scenario"]) -> list[ScenarioWarning]:
    scenarios = list(scenarios)
    kinds = {plan_kind(s) for s in scenarios}
    recorded = {a for kind in kinds for a in RAW_BY_KIND[kind]}
    missing = [a for a in scenarios[0].run.raw.arrays if a not in recorded]
    if not missing:
        return []
    names = " / ".join(sorted(kinds))
    why = ("semantic points record no raw arrays" if kinds == {"semantic"}
           else "; ".join(_RAW_WHY[a] for a in missing))
    keep = sorted(recorded)
    return [ScenarioWarning("run.raw.arrays", f"{', '.join(map(repr, missing))} will not be recorded by {names} points",
                            why, f"keep {', '.join(keep)}" if keep else "drop run.raw.arrays")]
