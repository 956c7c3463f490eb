"""OFDM resource grid of one slot, built from plain parameters."""

from __future__ import annotations

from typing import Optional

import numpy as np
from sionna.phy.ofdm import PilotPattern, ResourceGrid

from .config import GridConfig

__all__ = ["build_resource_grid", "grid_summary"]


def _pilot_pattern(
    cfg: GridConfig, precision: Optional[str], device: Optional[str]
) -> PilotPattern:
    """Pilots on every ``pilot_subcarrier_step``-th effective subcarrier of
    the pilot OFDM symbols.

    With step 1 the mask is that of Sionna's ``KroneckerPilotPattern``. The
    pilot symbols are unit-energy QPSK from a fixed seed, so every link built
    from the same configuration sends the same pilots (a transmitter and a
    receiver built separately agree) and building a link does not consume
    the run's random stream. Sionna's ``KroneckerPilotPattern`` draws its
    pilots from the global generator instead.
    """
    num_sc = cfg.num_effective_subcarriers
    mask = np.zeros([1, 1, cfg.num_ofdm_symbols, num_sc], np.int32)
    for s in cfg.pilot_ofdm_symbol_indices:
        mask[0, 0, s, :: cfg.pilot_subcarrier_step] = 1
    num_pilots = int(mask.sum())
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=[1, 1, num_pilots, 2])
    pilots = ((1 - 2 * bits[..., 0]) + 1j * (1 - 2 * bits[..., 1])) / np.sqrt(2)
    return PilotPattern(mask, pilots.astype(np.complex128), precision=precision, device=device)


def build_resource_grid(
    cfg: GridConfig, precision: Optional[str] = None, device: Optional[str] = None
) -> ResourceGrid:
    """Sionna :class:`~sionna.phy.ofdm.ResourceGrid` for one transmitter and
    one stream from a :class:`GridConfig`.

    :param cfg: Grid parameters.
    :param precision: ``"single"`` | ``"double"`` | `None` (Sionna's default).
    :param device: Torch device string | `None` (Sionna's default).

    :output rg: `ResourceGrid` with ``num_tx = num_streams_per_tx = 1``.
    """
    kwargs = dict(
        num_ofdm_symbols=cfg.num_ofdm_symbols,
        fft_size=cfg.fft_size,
        subcarrier_spacing=cfg.subcarrier_spacing_hz,
        num_tx=1,
        num_streams_per_tx=1,
        cyclic_prefix_length=cfg.cyclic_prefix_length,
        num_guard_carriers=tuple(cfg.num_guard_carriers),
        dc_null=cfg.dc_null,
        precision=precision,
        device=device,
    )
    if cfg.pilot_pattern == "empty":
        return ResourceGrid(pilot_pattern="empty", **kwargs)
    rg = ResourceGrid(pilot_pattern="empty", **kwargs)
    rg.pilot_pattern = _pilot_pattern(cfg, rg.precision, rg.device)
    return rg


def grid_summary(rg: ResourceGrid) -> dict:
    """Numbers of one slot, for logs and traces.

    Resource elements (REs) per slot: ``num_data_res`` carry data,
    ``num_pilot_res`` pilots, ``num_null_res`` nothing (guards, DC).
    ``slot_duration_s`` includes the cyclic prefix; ``occupied_bandwidth_hz``
    is ``num_effective_subcarriers * subcarrier_spacing``.
    """
    return {
        "fft_size": int(rg.fft_size),
        "num_ofdm_symbols": int(rg.num_ofdm_symbols),
        "num_effective_subcarriers": int(rg.num_effective_subcarriers),
        "num_data_res": int(rg.num_data_symbols),
        "num_pilot_res": int(rg.num_pilot_symbols),
        "num_null_res": int(rg.num_zero_symbols),
        "subcarrier_spacing_hz": float(rg.subcarrier_spacing),
        "ofdm_symbol_duration_s": float(rg.ofdm_symbol_duration),
        "slot_duration_s": float(rg.ofdm_symbol_duration * rg.num_ofdm_symbols),
        "occupied_bandwidth_hz": float(rg.num_effective_subcarriers * rg.subcarrier_spacing),
    }
