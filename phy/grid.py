"""OFDM resource grid of one slot, built from plain parameters; optionally the
grid of one OFDMA user, who owns only the resource blocks of its
:class:`~tokenlink.phy.allocation.Allocation`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
import torch
from sionna.phy.ofdm import PilotPattern, ResourceGrid

from .config import GridConfig

if TYPE_CHECKING:
    from .allocation import Allocation

__all__ = ["build_resource_grid", "grid_summary", "pilot_arrays"]


def pilot_arrays(cfg: GridConfig, allocation: Optional["Allocation"] = None) -> tuple[np.ndarray, np.ndarray]:
    """The pilot mask and values of :func:`_pilot_pattern` as NumPy arrays (no Sionna
    object), so that a link built on either backend sends the same pilots.

    :output mask: [1, 1, num_ofdm_symbols, num_effective_subcarriers], `np.int32`. 1: a pilot
        (or, for an OFDMA user, a zero pilot on the REs of others), 0: data.
    :output pilots: [1, 1, num_pilot_res], `np.complex128`. The pilot symbols in mask order.
    """
    num_sc = cfg.num_effective_subcarriers
    if allocation is None:
        pilot = np.zeros([cfg.num_ofdm_symbols, num_sc], bool)
        for s in cfg.pilot_ofdm_symbol_indices:
            pilot[s, :: cfg.pilot_subcarrier_step] = True
        used = np.ones_like(pilot)
    else:
        if allocation.num_effective_subcarriers != num_sc:
            raise ValueError(f"the allocation spans {allocation.num_effective_subcarriers} subcarriers, the grid "
                             f"{num_sc} (num_effective_subcarriers)")
        used = allocation.resource_mask(cfg.num_ofdm_symbols)
        pilot = np.zeros_like(used) if cfg.pilot_pattern == "empty" else allocation.pilot_mask(
            cfg.num_ofdm_symbols, cfg.pilot_ofdm_symbol_indices, cfg.pilot_subcarrier_step)
    mask = (pilot | ~used).astype(np.int32)[None, None]  # pilots and, as zero pilots, the REs of others
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=[int(pilot.sum()), 2])
    values = np.zeros(int(mask.sum()), np.complex128)
    values[pilot[mask[0, 0] == 1]] = ((1 - 2 * bits[:, 0]) + 1j * (1 - 2 * bits[:, 1])) / np.sqrt(2)
    return mask, values[None, None]


def _pilot_pattern(
    cfg: GridConfig, precision: Optional[str], device: Optional[str], allocation: Optional["Allocation"] = None
) -> PilotPattern:
    """Pilots on every ``pilot_subcarrier_step``-th effective subcarrier of
    the pilot OFDM symbols.

    With step 1 the mask is that of Sionna's ``KroneckerPilotPattern``. The
    pilot symbols are unit-energy QPSK from a fixed seed, so every link built
    from the same configuration sends the same pilots (a transmitter and a
    receiver built separately agree) and building a link does not consume
    the run's random stream. Sionna's ``KroneckerPilotPattern`` draws its
    pilots from the global generator instead.

    With an ``allocation``, the user's pilots are every ``pilot_subcarrier_step``-th
    subcarrier *of its allocation* on the pilot OFDM symbols, and every RE
    outside its allocation is masked with a zero pilot: the user sends
    nothing there, and Sionna's LS interpolators (and the fast path) only
    use the nonzero pilots. The user's pilot values are drawn the same way,
    in mask order, so an allocation of the whole grid gives exactly the
    pattern without allocation.
    """
    mask, values = pilot_arrays(cfg, allocation)
    return PilotPattern(mask, values, precision=precision, device=device)


def build_resource_grid(
    cfg: GridConfig,
    precision: Optional[str] = None,
    device: Optional[str] = None,
    allocation: Optional["Allocation"] = None,
) -> ResourceGrid:
    """Sionna :class:`~sionna.phy.ofdm.ResourceGrid` for one transmitter and
    one stream from a :class:`GridConfig`.

    :param cfg: Grid parameters.
    :param precision: ``"single"`` | ``"double"`` | `None` (Sionna's default).
    :param device: Torch device string | `None` (Sionna's default).
    :param allocation: `None` (the transmitter owns the whole grid), or the
        OFDMA allocation of one user: its data REs are the data REs of the
        grid, everything outside its resource blocks is a zero pilot (with
        ``pilot_pattern="empty"``, the user sends no pilots: perfect CSI only).

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
    if cfg.pilot_pattern == "empty" and allocation is None:
        return ResourceGrid(pilot_pattern="empty", **kwargs)
    rg = ResourceGrid(pilot_pattern="empty", **kwargs)
    rg.pilot_pattern = _pilot_pattern(cfg, rg.precision, rg.device, allocation)
    return rg


def _numpy(t) -> np.ndarray:
    """A torch tensor (any device) or a TensorFlow tensor (Sionna 1.x's grids) as a NumPy array."""
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def grid_summary(rg: ResourceGrid) -> dict:
    """Numbers of one slot of this transmitter, for logs and traces.

    Resource elements (REs) per slot: ``num_data_res`` carry data,
    ``num_pilot_res`` pilots, ``num_null_res`` nothing (guards, DC, and for an
    OFDMA user the REs of the other users). ``slot_duration_s`` includes the
    cyclic prefix; ``occupied_bandwidth_hz`` is the number of subcarriers the
    transmitter uses times the subcarrier spacing (``num_effective_subcarriers
    * subcarrier_spacing`` for a grid of its own). Takes Sionna 2.x's grids and Sionna 1.x's
    (the TensorFlow backend).
    """
    pp = rg.pilot_pattern
    mask = _numpy(pp.mask).reshape(rg.num_ofdm_symbols, rg.num_effective_subcarriers).astype(bool)
    sent = np.zeros_like(mask)
    if int(pp.num_pilot_symbols) > 0:
        sent[mask] = _numpy(pp.pilots).reshape(-1) != 0
    num_pilot_res = int(sent.sum())
    used_subcarriers = int(((~mask) | sent).any(axis=0).sum())
    return {
        "fft_size": int(rg.fft_size),
        "num_ofdm_symbols": int(rg.num_ofdm_symbols),
        "num_effective_subcarriers": int(rg.num_effective_subcarriers),
        "num_data_res": int(rg.num_data_symbols),
        "num_pilot_res": num_pilot_res,
        "num_null_res": int(rg.num_zero_symbols) + int(rg.num_pilot_symbols) - num_pilot_res,
        "subcarrier_spacing_hz": float(rg.subcarrier_spacing),
        "ofdm_symbol_duration_s": float(rg.ofdm_symbol_duration),
        "slot_duration_s": float(rg.ofdm_symbol_duration * rg.num_ofdm_symbols),
        "occupied_bandwidth_hz": float(used_subcarriers * rg.subcarrier_spacing),
    }
