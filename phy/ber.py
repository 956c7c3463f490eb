"""Monte-Carlo bit and symbol error rates of an :class:`OFDMLink`.

A whole SNR sweep runs as one batched simulation: every batch sample (a
slot) carries its own noise variance, so the points of the curve share each
forward pass. A point stops when it has ``max_bits`` simulated bits, or
``min_bit_errors`` errors (the stopping rule of Sionna's ``sim_ber``) and,
if ``max_rel_stderr`` is set, a relative standard error of its BER at most
that large (fading curves need many independent slots, not just many
errors); finished points leave the batch.

Statistical error: bits of one slot share one channel realization (and, for
block fading, one fade), so they are not independent trials and the
binomial standard error understates the uncertainty. :class:`BERCurve`
reports both the binomial standard error and the standard error computed
from the spread of per-slot error counts (slots are independent), which is
the honest one for fading channels.

Shadowing (``shadowing``, a :class:`~tokenlink.phy.snr.Shadowing`): every
slot runs at its point's Es/N0 minus its own log-normal draw ``S`` (slots in
the order they are simulated); the curve records the mean and spread of the
Es/N0 actually drawn per point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import torch

from .snr import Shadowing, esno_db_to_no

if TYPE_CHECKING:  # either backend's link (phy.backend.build_link); no Sionna 2.x import here
    from .link import OFDMLink

__all__ = ["BERCurve", "simulate_ber"]


def _slot_error_stats(
    bit_errors: np.ndarray, sum_sq: np.ndarray, num_slots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean bit errors per slot and its standard error, from the per-slot sums
    (slots are independent trials; at least 2 slots are assumed)."""
    n = np.maximum(num_slots, 2)
    mean = bit_errors / n
    var = (sum_sq - n * mean**2) / (n - 1)
    return mean, np.sqrt(np.maximum(var, 0.0) / n)


@dataclass
class BERCurve:
    """Error counts per SNR point, and the link they came from.

    Arrays have one entry per point of ``esno_db`` (Es/N0 per RE, dB).
    ``sum_shadowing_db`` / ``sum_sq_shadowing_db``: sums over the point's
    slots of the shadowing ``S`` [dB] drawn for each slot (which ran at
    ``esno_db - S``), and of ``S**2``; zeros without shadowing.
    """

    esno_db: np.ndarray
    bit_errors: np.ndarray
    num_bits: np.ndarray
    symbol_errors: np.ndarray
    num_symbols: np.ndarray
    num_slots: np.ndarray
    sum_sq_slot_errors: np.ndarray
    bits_per_slot: int
    metadata: dict = field(default_factory=dict)
    runtime_s: float = 0.0
    sum_shadowing_db: Optional[np.ndarray] = None
    sum_sq_shadowing_db: Optional[np.ndarray] = None

    @property
    def ber(self) -> np.ndarray:
        return self.bit_errors / np.maximum(self.num_bits, 1)

    @property
    def ser(self) -> np.ndarray:
        return self.symbol_errors / np.maximum(self.num_symbols, 1)

    @property
    def ber_stderr_binomial(self) -> np.ndarray:
        """``sqrt(p (1 - p) / n_bits)``: valid only for independent bits."""
        p = self.ber
        return np.sqrt(p * (1 - p) / np.maximum(self.num_bits, 1))

    @property
    def esno_db_drawn_mean(self) -> np.ndarray:
        """Mean Es/N0 [dB] the slots of each point ran at (``esno_db`` without shadowing)."""
        if self.sum_shadowing_db is None:
            return self.esno_db.copy()
        return self.esno_db - self.sum_shadowing_db / np.maximum(self.num_slots, 1)

    @property
    def esno_db_drawn_std(self) -> np.ndarray:
        """Standard deviation of the Es/N0 [dB] the slots of each point ran at (0 without shadowing)."""
        if self.sum_sq_shadowing_db is None:
            return np.zeros_like(self.esno_db)
        n = np.maximum(self.num_slots, 1)
        mean = self.sum_shadowing_db / n
        return np.sqrt(np.maximum(self.sum_sq_shadowing_db / n - mean**2, 0.0))

    @property
    def ber_stderr(self) -> np.ndarray:
        """Standard error of the BER from the spread of per-slot error counts."""
        _, se = _slot_error_stats(self.bit_errors, self.sum_sq_slot_errors, self.num_slots)
        return se / self.bits_per_slot

    def as_dict(self) -> dict:
        """Columns for CSV / HDF5."""
        return {
            "esno_db": self.esno_db,
            "ber": self.ber,
            "ber_stderr": self.ber_stderr,
            "ser": self.ser,
            "bit_errors": self.bit_errors,
            "num_bits": self.num_bits,
            "symbol_errors": self.symbol_errors,
            "num_symbols": self.num_symbols,
            "num_slots": self.num_slots,
        }


@torch.no_grad()
def simulate_ber(
    link: "OFDMLink",
    esno_db: Sequence[float],
    batch_size: int = 256,
    max_bits: int = 1_000_000,
    min_bit_errors: int = 1000,
    max_rel_stderr: Optional[float] = None,
    early_stop: bool = True,
    shadowing: Optional[Shadowing] = None,
) -> BERCurve:
    """Bit and symbol error rate of ``link`` at every Es/N0 in ``esno_db``.

    :param link: The link to simulate.
    :param esno_db: Es/N0 per resource element [dB], one or more points.
    :param batch_size: Slots per forward pass (shared by the active points).
    :param max_bits: Stop a point after this many bits.
    :param min_bit_errors: Stop a point once it has this many bit errors...
    :param max_rel_stderr: ... and, if given, once the standard error of its
        BER (from per-slot error counts) is at most this fraction of the BER.
    :param early_stop: Once a point ends with ``max_bits`` and no error, skip
        all points at a higher SNR (they report 0 bits).
    :param shadowing: `None`, or the per-slot log-normal shadowing: each slot
        runs at its point's Es/N0 minus its own draw (module doc).
    :output curve: :class:`BERCurve`.
    """
    esno = np.atleast_1d(np.asarray(esno_db, dtype=float))
    if esno.size == 0:
        raise ValueError("esno_db must contain at least one SNR point")
    if not np.all(np.isfinite(esno)):
        raise ValueError(f"esno_db must be finite, got {esno.tolist()}")
    if batch_size < 1 or max_bits < 1 or min_bit_errors < 1:
        raise ValueError("batch_size, max_bits and min_bit_errors must be >= 1")
    if max_rel_stderr is not None and not max_rel_stderr > 0:
        raise ValueError(f"max_rel_stderr must be > 0, got {max_rel_stderr}")
    num_points = esno.size
    bps, bits_per_slot = link.num_bits_per_symbol, link.num_bits_per_slot
    esno_t = torch.as_tensor(esno, dtype=link.dtype, device=link.device)
    no_points = esno_db_to_no(esno_t)

    def zeros() -> torch.Tensor:
        return torch.zeros(num_points, dtype=torch.float64, device=link.device)

    bit_err, sym_err, slots, sq = zeros(), zeros(), zeros(), zeros()
    shadowed = shadowing is not None and shadowing.std_db > 0
    shadow_sum, shadow_sq = np.zeros(num_points), np.zeros(num_points)
    t0 = time.perf_counter()
    while True:
        enough = bit_err >= min_bit_errors
        if max_rel_stderr is not None:
            mean, se = _slot_error_stats(*(t.cpu().numpy() for t in (bit_err, sq, slots)))
            enough &= torch.as_tensor(se <= max_rel_stderr * mean, device=link.device)
        done = enough | (slots * bits_per_slot >= max_bits)
        if early_stop:
            # a point that ended error-free ends every point at a higher SNR
            silent = done & (bit_err == 0)
            if bool(silent.any()):
                done |= esno_t >= esno_t[silent].min()
        active = (~done).nonzero()[:, 0]
        if active.numel() == 0:
            break
        point = active.repeat_interleave(max(1, batch_size // active.numel()))
        bits = link.source(point.numel())
        no = no_points[point]
        if shadowed:
            point_np = point.cpu().numpy()
            shadow = shadowing.draw_db(point_np.size)
            np.add.at(shadow_sum, point_np, shadow)
            np.add.at(shadow_sq, point_np, shadow**2)
            no = torch.as_tensor(esno_db_to_no(esno[point_np] - shadow), dtype=link.dtype, device=link.device)
        # Hard decisions, [B, bits_per_slot]: the signs of the demapper's LLRs; with max-log on the
        # fast path the same decisions by slicing, without computing LLRs nor no_eff.
        slicing = link.decides_by_slicing
        x_hat, no_eff, _ = link.transmit_symbols(link.modulate(bits), no, return_no_eff=not slicing)
        errors = link.demap(x_hat, no_eff, hard=True) != bits
        e_slot = errors.sum(-1, dtype=torch.float64)
        s_slot = errors.view(errors.shape[0], -1, bps).any(-1).sum(-1, dtype=torch.float64)
        bit_err.index_add_(0, point, e_slot)
        sym_err.index_add_(0, point, s_slot)
        sq.index_add_(0, point, e_slot**2)
        slots.index_add_(0, point, torch.ones_like(e_slot))

    n_slots = slots.cpu().numpy()
    return BERCurve(
        esno_db=esno,
        bit_errors=bit_err.cpu().numpy(),
        num_bits=n_slots * bits_per_slot,
        symbol_errors=sym_err.cpu().numpy(),
        num_symbols=n_slots * link.num_data_symbols,
        num_slots=n_slots,
        sum_sq_slot_errors=sq.cpu().numpy(),
        bits_per_slot=bits_per_slot,
        metadata=link.metadata,
        runtime_s=time.perf_counter() - t0,
        sum_shadowing_db=shadow_sum,
        sum_sq_shadowing_db=shadow_sq,
    )
