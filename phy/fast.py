"""Elementwise single-stream receiver: perfect or LS CSI, then ZF / LMMSE.

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
  ``no_eff = (no + err_var) / |h_hat|^2`` on every data RE.

Outputs equal Sionna's blocks within floating-point rounding (values, LLRs
downstream and gradients; ``tests/test_fast.py``).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from sionna.phy import Block
from sionna.phy.ofdm import LSChannelEstimator, ResourceGrid

from .config import ReceiverConfig

__all__ = ["SisoReceiver", "supports_fast_path"]

_INTERPOLATION = {"nearest": "nn", "linear": "lin", "linear_time_avg": "lin_time_avg"}


def supports_fast_path(receiver: ReceiverConfig) -> bool:
    """Whether :class:`SisoReceiver` computes this receiver configuration."""
    return receiver.estimator in ("perfect", "ls")


class SisoReceiver(Block):
    r"""Channel estimate and equalizer for one stream, elementwise.

    :param receiver: Receiver configuration; ``estimator`` must be
        ``"perfect"`` or ``"ls"`` (any ``interpolation``), ``equalizer``
        ``"zf"`` or ``"lmmse"`` (identical for one stream).
    :param resource_grid: Resource grid of one slot.

    :input y: [batch_size, 1, 1, num_ofdm_symbols, fft_size], `torch.complex`.
    :input no: Scalar or [batch_size], `torch.float`. Noise variance the
        receiver assumes (already floored by the link).
    :input h_freq: [batch_size, 1, 1, 1, 1, num_ofdm_symbols, fft_size], `torch.complex`.
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
    ) -> None:
        super().__init__(precision=precision, device=device)
        if not supports_fast_path(receiver):
            raise ValueError(
                f"SisoReceiver supports receiver.estimator 'perfect' or 'ls', got {receiver.estimator!r}"
            )
        self.estimator = receiver.estimator
        rg = resource_grid
        num_sym, num_eff = rg.num_ofdm_symbols, rg.num_effective_subcarriers
        eff = torch.as_tensor(rg.effective_subcarrier_ind, dtype=torch.long, device=self.device)
        # Flat index (OFDM symbol, subcarrier) of every effective RE into the full grid.
        full = (torch.arange(num_sym, device=self.device)[:, None] * rg.fft_size + eff[None, :]).reshape(-1)
        mask = rg.pilot_pattern.mask.reshape(-1, num_sym * num_eff)[0].to(self.device)
        data_eff = torch.nonzero(mask == 0).squeeze(1)  # Sionna's data-RE order
        self.register_buffer("_data_ind", full[data_eff], persistent=False)
        if self.estimator == "ls":
            pilot_eff = torch.argsort(mask.float(), descending=True, stable=True)[: int(mask.sum())]
            self.register_buffer("_pilot_ind", full[pilot_eff], persistent=False)
            pilots = rg.pilot_pattern.pilots.reshape(-1).to(device=self.device, dtype=self.cdtype)
            self.register_buffer("_pilots", pilots, persistent=False)
            self.register_buffer("_inv_pilot_energy", 1.0 / pilots.abs().square(), persistent=False)
            interp = LSChannelEstimator(
                rg, interpolation_type=_INTERPOLATION[receiver.interpolation],
                precision=self.precision, device=self.device,
            )._interpol
            idx, w = self._measure(interp, pilots.shape[0], data_eff)
            self.register_buffer("_interp_idx", idx, persistent=False)
            self.register_buffer("_interp_w", w, persistent=False)

    @torch.no_grad()
    def _measure(self, interp, num_pilots: int, data_eff: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sionna's interpolator as [num_data, K] pilot indices and real weights.

        Sionna interpolates the error variances with the same linear map and
        clamps the result at 0; :meth:`call` does the same.
        """
        eye = torch.eye(num_pilots, dtype=self.cdtype, device=self.device)
        h, _ = interp(eye.reshape(num_pilots, 1, 1, 1, 1, num_pilots),
                      eye.real.reshape(num_pilots, 1, 1, 1, 1, num_pilots))
        m = h.reshape(num_pilots, -1)[:, data_eff].T  # [num_data, num_pilots]
        if bool((m.imag != 0).any()):
            raise ValueError("interpolator weights are not real: fast path unavailable")
        m = m.real
        k = max(1, int((m != 0).sum(dim=1).max()))
        idx = m.abs().topk(k, dim=1).indices
        return idx, m.gather(1, idx).to(self.dtype)

    def call(
        self, y: torch.Tensor, no: Union[float, torch.Tensor], h_freq: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = y.shape[0]
        y_flat = y.reshape(batch, -1)
        y_d = y_flat[:, self._data_ind]
        no_col = torch.as_tensor(no, dtype=self.dtype, device=self.device).reshape(-1, 1)
        if self.estimator == "perfect":
            if h_freq is None:
                raise ValueError("perfect CSI needs the true channel h_freq")
            h_d = h_freq.reshape(batch, -1)[:, self._data_ind]
            err_d = torch.zeros((), dtype=self.dtype, device=self.device)
        else:
            h_p = y_flat[:, self._pilot_ind] / self._pilots  # [batch, num_pilots]
            h_d = (h_p[:, self._interp_idx] * self._interp_w).sum(dim=-1)
            err_p = no_col * self._inv_pilot_energy  # [batch or 1, num_pilots], real
            err_d = (err_p[:, self._interp_idx] * self._interp_w).sum(dim=-1).clamp_min(0.0)
        x_hat = y_d / h_d
        no_eff = (no_col + err_d) / h_d.abs().square()
        return x_hat, no_eff.expand(x_hat.shape)
