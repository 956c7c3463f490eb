"""Fast single-stream receiver: perfect or LS CSI, ZF / LMMSE, maximum-ratio combining.

For one transmitter, one stream and one receive antenna, Sionna's general
MIMO blocks (matrix inversions per resource element, gathers over expanded
index tensors) do far more work than the link needs. This block computes the
same numbers elementwise:

* LS at the pilots: ``h_p = y_p / p``, ``err_p = no / |p|^2`` (Sionna's
  ``LSChannelEstimator``).
* Interpolation: Sionna's nearest-neighbour and linear interpolators are
  linear maps of the pilot estimates. The map is measured once, at
  construction, by running Sionna's own interpolator on unit vectors; each
  data RE then keeps its few non-zero weights (1 for nearest, up to 4 for
  linear, more for ``linear_time_avg``), so interpolation is a gather and a
  short weighted sum per RE. The error variances go through the same map,
  clamped at 0 as Sionna does.
* Equalization: for one stream, Sionna's ZF and (unbiased) LMMSE equalizers
  both reduce to ``x_hat = y / h_hat`` with
  ``no_eff = (no + err_var) / |h_hat|^2`` on every data RE; with several
  receive antennas to maximum-ratio combining,
  ``x_hat = sum_r conj(h_hat_r) y_r / sum_r |h_hat_r|^2`` with
  ``no_eff = (no + err_var) / sum_r |h_hat_r|^2`` (every antenna has the
  same pilots, hence the same ``err_var``): a vector operation per RE.

The fast QAM mapper and demapper are in :mod:`~tokenlink.phy.qam`.

Outputs equal Sionna's blocks within floating-point rounding (values, LLRs
and gradients; ``tests/test_fast.py``, ``tests/test_rx_diversity.py``).
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.ofdm import ResourceGrid

from .config import ReceiverConfig
from .gather import ColumnGather
from .lmmse import SeparableLMMSE
from .receiver import build_ls_estimator
from .runtime import CompiledFunction

__all__ = ["SisoReceiver", "supports_fast_path"]

def supports_fast_path(receiver: ReceiverConfig) -> bool:
    """Whether :class:`SisoReceiver` computes this receiver configuration."""
    return receiver.estimator in ("perfect", "ls", "lmmse")


class SisoReceiver(Block):
    r"""Channel estimate and equalizer for one stream, elementwise; with
    ``num_rx_ant > 1`` (SIMO) the antennas are combined by maximum ratio.

    :param receiver: Receiver configuration; ``estimator`` ``"perfect"``, ``"ls"`` (any
        ``interpolation``) or ``"lmmse"`` (either ``lmmse_order``;
        :class:`~tokenlink.phy.lmmse.SeparableLMMSE`, never compiled), ``equalizer``
        ``"zf"`` or ``"lmmse"`` (identical for one stream).
    :param resource_grid: Resource grid of one slot.
    :param covariances: ``(cov_time, cov_freq)`` of the channel, for ``"lmmse"``
        (:func:`~tokenlink.phy.channels.channel_covariances`).
    :param num_rx_ant: Receive antennas (``receiver.compile`` needs 1).
    :param subcarriers: `None`, or the FFT indices (ascending) that the channel and noise given
        to :meth:`transmit` hold on their last axis: an OFDMA user's own subcarriers (its
        channel is drawn there only, :class:`~tokenlink.phy.channels.OFDMChannelResponse`).
        :meth:`call` always takes the whole grid.

    :input y: [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], `torch.complex`.
    :input no: Scalar or [batch_size], `torch.float`. Noise variance the
        receiver assumes (already floored by the link).
    :input h_freq: [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, fft_size], `torch.complex`.
        True response; used for ``"perfect"`` only.

    :output x_hat: [batch_size, num_data_symbols], `torch.complex`.
    :output no_eff: [batch_size, num_data_symbols], `torch.float`.
    """

    def __init__(
        self,
        receiver: ReceiverConfig,
        resource_grid: ResourceGrid,
        precision: Optional[str] = None,
        device: Optional[str] = None,
        num_rx_ant: int = 1,
        subcarriers: Optional[np.ndarray] = None,
        covariances: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
    ) -> None:
        super().__init__(precision=precision, device=device)
        if not supports_fast_path(receiver):
            raise ValueError(
                f"SisoReceiver supports receiver.estimator 'perfect', 'ls' or 'lmmse', got {receiver.estimator!r}"
            )
        if receiver.estimator == "lmmse" and covariances is None:
            raise ValueError("the lmmse estimator needs the channel's covariances")
        if num_rx_ant < 1 or (receiver.compile and num_rx_ant > 1):
            raise ValueError(f"num_rx_ant must be >= 1 (1 with receiver.compile), got {num_rx_ant}")
        self.estimator = receiver.estimator
        self.num_rx_ant = int(num_rx_ant)
        rg = resource_grid
        num_sym, num_eff = rg.num_ofdm_symbols, rg.num_effective_subcarriers
        eff = torch.as_tensor(rg.effective_subcarrier_ind, dtype=torch.long, device=self.device)
        # Flat index (OFDM symbol, subcarrier) of every effective RE into the full grid.
        full = (torch.arange(num_sym, device=self.device)[:, None] * rg.fft_size + eff[None, :]).reshape(-1)
        mask = rg.pilot_pattern.mask.reshape(-1, num_sym * num_eff)[0].to(self.device)
        data_eff = torch.nonzero(mask == 0).squeeze(1)  # Sionna's data-RE order
        self.register_buffer("_data_ind", full[data_eff], persistent=False)
        # The same REs in the layout transmit() is given: [num_ofdm_symbols, len(subcarriers)].
        self._to_own = None if subcarriers is None else _own_layout(rg, subcarriers, self.device)
        self.register_buffer("_data_ind_own", self._own(full[data_eff]), persistent=False)
        self._lmmse: Optional[SeparableLMMSE] = None
        if self.estimator != "perfect":
            pilot_eff = torch.argsort(mask.float(), descending=True, stable=True)[: int(mask.sum())]
            pilots = rg.pilot_pattern.pilots.reshape(-1).to(device=self.device, dtype=self.cdtype)
            # Zero pilots (the REs of other OFDMA users) are not measurements: Sionna's estimators
            # give them no weight, so only the sent pilots are measured (the weights' indices count
            # the sent pilots), and the zero pilots' weight is checked to be 0.
            sent = pilots != 0
            if self.estimator == "ls":
                interp = build_ls_estimator(rg, receiver.interpolation, self.precision, self.device)._interpol
                idx, w = self._measure(interp, pilots.shape[0], data_eff, torch.nonzero(sent).squeeze(1))
            else:
                pilot_mask = np.zeros(num_sym * num_eff, dtype=int)
                pilot_mask[pilot_eff.cpu().numpy()] = np.where(sent.cpu().numpy(), 1, 2)
                self._lmmse = SeparableLMMSE(
                    pilot_mask.reshape(num_sym, num_eff), 1.0 / pilots[sent].abs().square(), *covariances,
                    order=receiver.lmmse_order, eps=torch.finfo(self.dtype).eps, cdtype=self.cdtype,
                    device=self.device)
                self.register_buffer("_lmmse_data", data_eff, persistent=False)
            if not bool(sent.all()):
                pilot_eff, pilots = pilot_eff[sent], pilots[sent]
            self.register_buffer("_pilot_ind", full[pilot_eff], persistent=False)
            self.register_buffer("_pilot_ind_own", self._own(full[pilot_eff]), persistent=False)
            self.register_buffer("_pilots", pilots, persistent=False)
            self.register_buffer("_inv_pilots", pilots.reciprocal(), persistent=False)
        if self.estimator == "ls":
            # [K, num_data], one row per weight slot; complex weights multiply faster.
            self.register_buffer("_interp_idx_t", idx.T.contiguous(), persistent=False)
            self.register_buffer("_interp_w_t", w.T.to(self.cdtype).contiguous(), persistent=False)
            # Sionna interpolates err_p = no / |p|^2 with the same map and clamps at 0;
            # the map is linear and no >= 0, so err_var = no * clamp(map(1/|p|^2), 0).
            err_gain = ((1.0 / pilots.abs().square())[idx] * w).sum(dim=-1).clamp_min(0.0)
            self.register_buffer("_err_gain", 1.0 + err_gain, persistent=False)
        # The same gathers as row selections or slice copies where the REs are whole OFDM symbols or a few runs.
        self._take_data = ColumnGather(self._data_ind_own)
        self._take_pilots = ColumnGather(self._pilot_ind_own) if self.estimator != "perfect" else None
        self._take_interp = [ColumnGather(row) for row in self._interp_idx_t] if self.estimator == "ls" else []
        self._compiled: Optional[CompiledFunction] = None
        if receiver.compile and self.estimator != "lmmse":  # LMMSE: batched matrix products, eager
            core = _ls_core_real if self.estimator == "ls" else _perfect_core_real
            self._compiled = CompiledFunction(core, core, f"the {self.estimator} receiver")

    def _own(self, ind: torch.Tensor) -> torch.Tensor:
        """Whole-grid flat RE indices -> indices into the ``subcarriers`` layout (unchanged without)."""
        if self._to_own is None:
            return ind
        own = self._to_own[ind]
        if bool((own < 0).any()):
            raise ValueError("the receiver reads REs outside the given subcarriers")
        return own

    @torch.no_grad()
    def _measure(
        self, interp, num_pilots: int, data_eff: torch.Tensor, measured: Optional[torch.Tensor] = None,
        chunk: int = 128,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sionna's interpolator as [num_data, K] pilot indices and real weights.

        Unit vectors of the ``measured`` pilots (`None`: all; an OFDMA user's: the
        pilots it sends) go through the interpolator ``chunk`` pilots at a time
        (its memory grows with grid size x pilots); only non-zero weights are
        kept, and the indices count the measured pilots. The other pilots must
        have no weight: one random combination of their unit vectors goes through
        too and must give 0 everywhere (else ``ValueError``). Sionna interpolates
        the error variances with the same linear map and clamps the result at 0;
        :meth:`_equalize` does the same.
        """
        measured = torch.arange(num_pilots, device=self.device) if measured is None else measured.to(self.device)
        others = torch.ones(num_pilots, dtype=torch.bool, device=self.device)
        others[measured] = False
        if bool(others.any()):
            probe = torch.zeros(1, num_pilots, dtype=self.cdtype, device=self.device)
            draws = torch.rand(int(others.sum()), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
            probe[0, others] = (1.0 + draws).to(device=self.device, dtype=self.cdtype)
            h, _ = interp(probe.reshape(1, 1, 1, 1, 1, num_pilots), probe.real.reshape(1, 1, 1, 1, 1, num_pilots))
            if bool((h.reshape(-1)[data_eff] != 0).any()):
                raise ValueError("the interpolator weighs a zero pilot: fast path unavailable")
        rows, cols, vals = [], [], []
        num_measured = int(measured.shape[0])
        for start in range(0, num_measured, chunk):
            n = min(chunk, num_measured - start)
            eye = torch.zeros(n, num_pilots, dtype=self.cdtype, device=self.device)
            eye[torch.arange(n), measured[start:start + n]] = 1
            h, _ = interp(eye.reshape(n, 1, 1, 1, 1, num_pilots), eye.real.reshape(n, 1, 1, 1, 1, num_pilots))
            m = h.reshape(n, -1)[:, data_eff]  # [n pilots, num_data]
            if bool((m.imag != 0).any()):
                raise ValueError("interpolator weights are not real: fast path unavailable")
            pilot, data = torch.nonzero(m.real, as_tuple=True)
            rows.append(data)
            cols.append(pilot + start)
            vals.append(m.real[pilot, data])
        data, pilot, w = torch.cat(rows), torch.cat(cols), torch.cat(vals)
        num_data = data_eff.shape[0]
        counts = torch.bincount(data, minlength=num_data)
        k = max(1, int(counts.max()))
        # Slot j of data RE d holds its j-th non-zero weight; unused slots weigh 0.
        order = torch.argsort(data, stable=True)
        data, pilot, w = data[order], pilot[order], w[order]
        slot = torch.arange(data.shape[0], device=data.device) - (torch.cumsum(counts, 0) - counts)[data]
        idx = torch.zeros(num_data, k, dtype=torch.long, device=self.device)
        weights = torch.zeros(num_data, k, dtype=self.dtype, device=self.device)
        idx[data, slot] = pilot
        weights[data, slot] = w.to(self.dtype)
        return idx, weights

    def call(
        self, y: torch.Tensor, no: Union[float, torch.Tensor], h_freq: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.num_rx_ant > 1:
            y_ant = y.reshape(y.shape[0], self.num_rx_ant, -1)
            y_p = y_ant[..., self._pilot_ind] if self.estimator != "perfect" else None
            return self._combine(y_ant[..., self._data_ind], y_p, no, h_freq)
        y_flat = y.reshape(y.shape[0], -1)
        y_p = y_flat[:, self._pilot_ind] if self.estimator != "perfect" else None
        return self._equalize(y_flat[:, self._data_ind], y_p, no, h_freq)

    def transmit(
        self,
        x: torch.Tensor,
        no: Union[float, torch.Tensor],
        no_rx: Union[float, torch.Tensor],
        h_freq: torch.Tensor,
        noise: torch.Tensor,
        return_no_eff: bool = True,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Channel and receiver on the REs that matter, without building grids.

        The same numbers as mapping ``x`` to the grid, Sionna's
        ``ApplyOFDMChannel`` (``y = h x + sqrt(no) noise``) and :meth:`call`,
        given the same unit-variance ``noise`` draw
        ([batch_size, 1, num_rx_ant, num_ofdm_symbols, num_subcarriers]: the
        whole FFT, or the ``subcarriers`` of the constructor, as ``h_freq``); only the data REs
        (and, for LS, the pilot REs) are computed, elementwise.

        Nothing but ``x`` depends on trainable parameters, so the receiver
        output is written as ``x_hat = g x + e`` with the gain
        ``g = h / h_hat`` and the noise term ``e = sqrt(no) n / h_hat``
        computed without autograd: the graph holds one complex
        multiply-add, its backward is ``conj(g) * grad``. (If ``h_freq`` or
        ``noise`` require gradients, the plain formulation is used.)

        :input x: [batch_size, num_data_symbols], complex. Data symbols.
        :input no: Noise variance of the channel (0: noiseless).
        :input no_rx: Noise variance the receiver assumes.
        :input return_no_eff: Compute ``no_eff`` (else `None` is returned).
        """
        if self.num_rx_ant > 1:
            return self._transmit_simo(x, no, no_rx, h_freq, noise, return_no_eff)
        batch = x.shape[0]
        h = h_freq.reshape(batch, -1)
        n = noise.reshape(batch, -1)
        scale = self._column(no).sqrt()
        if h.requires_grad or n.requires_grad:
            y_d = h[:, self._data_ind_own] * x + n[:, self._data_ind_own] * scale
            y_p = None
            if self.estimator != "perfect":
                y_p = h[:, self._pilot_ind_own] * self._pilots + n[:, self._pilot_ind_own] * scale
            x_hat, no_eff = self._equalize(y_d, y_p, no_rx, h_freq, self._data_ind_own)
            return x_hat, (no_eff if return_no_eff else None)
        with torch.no_grad():
            g, e, inv_h = self._core(h, n, scale, no_rx)
            no_eff = self._no_eff(no_rx, inv_h) if return_no_eff else None
            del inv_h
            if not x.requires_grad:  # x_hat = g x + e accumulated into e, a fresh tensor
                return (e.add_(x) if g is None else e.addcmul_(g, x)), no_eff
        # autograd records g only: the backward is conj(g) * grad
        return (x + e if g is None else torch.addcmul(e, g, x)), no_eff

    def _transmit_simo(
        self,
        x: torch.Tensor,
        no: Union[float, torch.Tensor],
        no_rx: Union[float, torch.Tensor],
        h_freq: torch.Tensor,
        noise: torch.Tensor,
        return_no_eff: bool,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """:meth:`transmit` with ``num_rx_ant > 1``: ``x_hat = g x + e`` with the combined gain
        ``g = sum_r w_r h_r`` and noise ``e = sqrt(no) sum_r w_r n_r``, ``w_r = conj(h_hat_r) / D``,
        ``D = sum_r |h_hat_r|^2`` (``g = 1`` exactly for perfect CSI)."""
        batch = x.shape[0]
        h = h_freq.reshape(batch, self.num_rx_ant, -1)
        n = noise.reshape(batch, self.num_rx_ant, -1)
        scale = self._column(no).sqrt()[:, :, None]  # [batch or 1, 1, 1]
        if h.requires_grad or n.requires_grad:
            y_d = h[..., self._data_ind_own] * x[:, None] + n[..., self._data_ind_own] * scale
            y_p = None
            if self.estimator != "perfect":
                y_p = h[..., self._pilot_ind_own] * self._pilots + n[..., self._pilot_ind_own] * scale
            x_hat, no_eff = self._combine(y_d, y_p, no_rx, h_freq, self._data_ind_own)
            return x_hat, (no_eff if return_no_eff else None)
        with torch.no_grad():
            if self.estimator != "perfect":
                h_hat = self._estimate(self._take_pilots(h) + self._take_pilots(n) * scale
                                       * self._inv_pilots, no_rx)
            else:
                h_hat = self._take_data(h)
            w, power = _mrc_weights(h_hat)
            e = (w * self._take_data(n)).sum(1).mul_(scale[:, :, 0])
            g = (w * self._take_data(h)).sum(1) if self.estimator != "perfect" else None
            no_eff = self._no_eff_combined(no_rx, power) if return_no_eff else None
        return (x + e if g is None else torch.addcmul(e, g, x)), no_eff

    def _combine(
        self,
        y_d: torch.Tensor,
        y_p: Optional[torch.Tensor],
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor],
        data_ind: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_equalize` over antennas: ``y_d`` [batch, num_rx_ant, num_data], ``y_p``
        [batch, num_rx_ant, num_pilots] -> maximum-ratio combined ``x_hat`` and ``no_eff``."""
        w, power = _mrc_weights(self._data_estimate(y_d, y_p, no, h_freq, data_ind))
        x_hat = (w * y_d).sum(1)
        return x_hat, self._no_eff_combined(no, power).expand(x_hat.shape)

    def _data_estimate(
        self,
        y_d: torch.Tensor,
        y_p: Optional[torch.Tensor],
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor],
        data_ind: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """Channel estimate on the data REs, shaped like ``y_d`` ([batch, (num_rx_ant,) num_data]):
        the true response (perfect CSI; ``data_ind``: where ``h_freq`` holds the data REs, `None`:
        the whole grid) or the estimate from the pilots ``y_p``."""
        if self.estimator == "perfect":
            if h_freq is None:
                raise ValueError("perfect CSI needs the true channel h_freq")
            data_ind = self._data_ind if data_ind is None else data_ind
            return h_freq.reshape(*y_d.shape[:-1], -1)[..., data_ind]
        # Pilot REs carry known pilots times a channel drawn without autograd:
        # nothing trainable reaches them, so the estimate records no graph
        # (the gradient through it is exactly zero; this only skips computing it).
        return self._estimate(y_p.detach() / self._pilots, no)

    def _no_eff_combined(self, no: Union[float, torch.Tensor], power: torch.Tensor) -> torch.Tensor:
        """``(no + err_var) / sum_r |h_hat_r|^2``, [batch, num_data], from the combined power."""
        return self._noise_plus_error(no) / power

    def _core(
        self, h: torch.Tensor, n: torch.Tensor, scale: torch.Tensor, no_rx: Union[float, torch.Tensor]
    ) -> tuple[Optional[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Gain ``g = h / h_hat`` (`None` for perfect CSI, where it is 1), noise
        term ``e = scale n / h_hat`` and ``1 / h_hat`` on the data REs, [batch, num_data].

        :input h, n: [batch, num_res], complex. Channel and unit-variance noise (layout of :meth:`transmit`).
        :input scale: [batch or 1, 1], real. ``sqrt(no)``.
        :input no_rx: Noise variance the receiver assumes (the LMMSE filters depend on it).
        """
        if self._compiled is not None:
            args = (torch.view_as_real(h), torch.view_as_real(n), scale, self._data_ind_own)
            if self.estimator == "ls":
                args += (self._pilot_ind_own, torch.view_as_real(self._inv_pilots), self._interp_idx_t,
                         self._interp_w_t.real.contiguous())
            g, e, inv_h = self._compiled(*args)
            return (None if g is None else torch.view_as_complex(g)), torch.view_as_complex(e), \
                torch.view_as_complex(inv_h)
        # Gathers copy, so the in-place ops below touch no input; few [batch, num_data] tensors live at once.
        if self.estimator != "perfect":
            n_p = _scale_(self._take_pilots(n), scale).mul_(self._inv_pilots)
            inv_h = self._estimate(self._take_pilots(h).add_(n_p), no_rx).reciprocal_()
            g = self._take_data(h).mul_(inv_h)
        else:
            inv_h, g = self._take_data(h).reciprocal_(), None
        return g, _scale_(self._take_data(n).mul_(inv_h), scale), inv_h

    def _estimate(self, h_p: torch.Tensor, no: Union[float, torch.Tensor]) -> torch.Tensor:
        """LS pilot estimates [batch, ..., num_pilots] (not requiring gradients) -> channel
        estimates on the data REs [batch, ..., num_data]; ``no``: what the receiver assumes."""
        if self._lmmse is not None:
            return self._lmmse(h_p, no)[..., self._lmmse_data]
        return self._interpolate(h_p)

    def _noise_plus_error(self, no: Union[float, torch.Tensor]) -> torch.Tensor:
        """``no + err_var`` on the data REs, [1 or batch, 1 or num_data], real."""
        no_col = self._column(no)
        if self.estimator == "ls":
            return no_col * self._err_gain  # err_var = no * interpolated 1/|p|^2 (>= 0)
        if self._lmmse is not None:
            return no_col + self._lmmse.err_var(no)[:, self._lmmse_data]
        return no_col

    def _interpolate(self, h_p: torch.Tensor) -> torch.Tensor:
        """Pilot estimates [..., num_pilots] (not requiring gradients) -> data REs
        [..., num_data]: one gather and multiply-add per interpolation weight."""
        take, w = self._take_interp, self._interp_w_t  # gathers copy: in place is safe (no autograd here)
        out = take[0](h_p).mul_(w[0])
        for k in range(1, len(take)):
            out.add_(take[k](h_p).mul_(w[k]))
        return out

    def _no_eff(self, no: Union[float, torch.Tensor], inv_h: torch.Tensor) -> torch.Tensor:
        """``(no + err_var) / |h_hat|^2`` on the data REs, [batch, num_data], from ``1 / h_hat``."""
        return self._noise_plus_error(no) * (inv_h.real.square() + inv_h.imag.square())

    def _column(self, no: Union[float, torch.Tensor]) -> torch.Tensor:
        """Scalar or [batch] noise variance as [1 or batch, 1], real."""
        return torch.as_tensor(no, dtype=self.dtype, device=self.device).reshape(-1, 1)

    def _equalize(
        self,
        y_d: torch.Tensor,
        y_p: Optional[torch.Tensor],
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor],
        data_ind: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate the channel on the data REs, then ``y / h_hat`` and ``no_eff``; ``data_ind``:
        where ``h_freq`` holds them (`None`: the whole grid)."""
        inv_h = self._data_estimate(y_d, y_p, no, h_freq, data_ind).reciprocal()
        x_hat = y_d * inv_h
        return x_hat, self._no_eff(no, inv_h).expand(x_hat.shape)


def _own_layout(rg: ResourceGrid, subcarriers: np.ndarray, device) -> torch.Tensor:
    """Map of whole-grid flat RE indices (symbol * fft_size + subcarrier) to indices into the
    [num_ofdm_symbols, len(subcarriers)] layout; -1 where a subcarrier is not held."""
    sc = torch.as_tensor(np.asarray(subcarriers), dtype=torch.long, device=device)
    col = torch.full([rg.fft_size], -1, dtype=torch.long, device=device)
    col[sc] = torch.arange(sc.shape[0], device=device)
    sym = torch.arange(rg.num_ofdm_symbols, device=device)[:, None]
    own = torch.where(col[None, :] >= 0, sym * sc.shape[0] + col[None, :], -1)
    return own.reshape(-1)


def _mrc_weights(h_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-ratio combining weights ``w_r = conj(h_hat_r) / D`` [batch, num_rx_ant, n] and the
    combined power ``D = sum_r |h_hat_r|^2`` [batch, n] of channel estimates [batch, num_rx_ant, n]."""
    power = (h_hat.real.square() + h_hat.imag.square()).sum(1)
    return h_hat.conj() / power[:, None], power


def _cmul(
    a_r: torch.Tensor, a_i: torch.Tensor, b_r: torch.Tensor, b_i: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return a_r * b_r - a_i * b_i, a_r * b_i + a_i * b_r


def _scale_(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``x *= scale`` in place for complex ``x`` [batch, n] and real ``scale`` [batch or 1, 1]
    (on the real view: a real multiply, faster than complex-by-real)."""
    torch.view_as_real(x).mul_(scale.unsqueeze(-1))
    return x


def _equalizer_terms_real(h_d, n_d, h_hat_r, h_hat_i, with_gain: bool):
    """Real-arithmetic ``g = h_d / h_hat``, ``e = n_d / h_hat`` and ``1 / h_hat`` (as [B, D, 2])."""
    inv_e = 1.0 / (h_hat_r * h_hat_r + h_hat_i * h_hat_i)
    c_r, c_i = h_hat_r * inv_e, -h_hat_i * inv_e  # 1 / h_hat
    e = torch.stack(_cmul(n_d[..., 0], n_d[..., 1], c_r, c_i), dim=-1)
    g = torch.stack(_cmul(h_d[..., 0], h_d[..., 1], c_r, c_i), dim=-1) if with_gain else None
    return g, e, torch.stack([c_r, c_i], dim=-1)


def _perfect_core_real(h, n, scale, data_ind):
    """:meth:`SisoReceiver._core` for perfect CSI on real views [B, RE, 2] (for ``torch.compile``)."""
    h_d = h[:, data_ind]
    return _equalizer_terms_real(h_d, n[:, data_ind] * scale.unsqueeze(-1), h_d[..., 0], h_d[..., 1], False)


def _ls_core_real(h, n, scale, data_ind, pilot_ind, inv_pilots, idx, w):
    """:meth:`SisoReceiver._core` for LS CSI on real views [B, RE, 2] (for ``torch.compile``)."""
    s = scale.unsqueeze(-1)
    n_p = n[:, pilot_ind] * s
    e_r, e_i = _cmul(n_p[..., 0], n_p[..., 1], inv_pilots[:, 0], inv_pilots[:, 1])
    hp_r, hp_i = h[:, pilot_ind, 0] + e_r, h[:, pilot_ind, 1] + e_i
    a_r, a_i = hp_r[:, idx[0]] * w[0], hp_i[:, idx[0]] * w[0]
    for k in range(1, idx.shape[0]):
        a_r, a_i = a_r + hp_r[:, idx[k]] * w[k], a_i + hp_i[:, idx[k]] * w[k]
    return _equalizer_terms_real(h[:, data_ind], n[:, data_ind] * s, a_r, a_i, True)
