"""Channel estimation (perfect, LS, LMMSE) and equalization (ZF, LMMSE).

Thin compositions of Sionna's own blocks for one transmitter and one stream,
received on one or several base-station antennas (estimated per antenna;
for one stream, Sionna's ZF and LMMSE equalizers combine the antennas by
maximum ratio). The estimator's error variance is passed on to the
equalizer, which folds it into the effective noise variance ``no_eff`` that
the demapper uses.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import (
    LMMSEChannelEstimator,
    LMMSEEqualizer,
    LSChannelEstimator,
    RemoveNulledSubcarriers,
    ResourceGrid,
    ZFEqualizer,
)

from .channels import channel_covariances
from .config import BaseStationConfig, ChannelConfig, ReceiverConfig

__all__ = ["ChannelEstimator", "build_equalizer", "build_ls_estimator"]

_INTERPOLATION = {"nearest": "nn", "linear": "lin", "linear_time_avg": "lin_time_avg"}


class ChannelEstimator(Block):
    r"""Channel estimate on every resource element of the effective grid.

    ``"perfect"``: the true response with guard and DC carriers removed, zero
    error variance. ``"ls"``: Sionna's :class:`~sionna.phy.ofdm.LSChannelEstimator`
    with nearest-neighbour or linear interpolation. ``"lmmse"``: Sionna's
    :class:`~sionna.phy.ofdm.LMMSEChannelEstimator` with the covariance
    matrices of the configured channel model
    (:func:`~tokenlink.phy.channels.channel_covariances`).

    :param receiver: Receiver configuration (``estimator``, ``interpolation``,
        ``lmmse_order``).
    :param channel: Channel configuration (for the LMMSE covariances).
    :param resource_grid: Resource grid of one slot.
    :param base_station: Receive antennas (`None`: one), for the CDL
        covariances of the LMMSE estimator.

    :input y: [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], `torch.complex`.
        Received resource grid.
    :input no: Scalar or [batch_size], `torch.float`. Noise variance per
        complex resource element.
    :input h_freq: [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, fft_size], `torch.complex`.
        True frequency response; used only for ``"perfect"``.

    :output h_hat: [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, num_effective_subcarriers],
        `torch.complex`.
    :output err_var: Broadcastable to ``h_hat``, `torch.float`. Estimation
        error variance.
    """

    def __init__(
        self,
        receiver: ReceiverConfig,
        channel: ChannelConfig,
        resource_grid: ResourceGrid,
        precision: Optional[str] = None,
        device: Optional[str] = None,
        base_station: Optional[BaseStationConfig] = None,
    ) -> None:
        super().__init__(precision=precision, device=device)
        self.kind = receiver.estimator
        #: ``(cov_time, cov_freq)`` of the LMMSE estimator (`None` for the others).
        self.covariances: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        kw = dict(precision=self.precision, device=self.device)
        if self.kind == "perfect":
            self._remove_nulled = RemoveNulledSubcarriers(resource_grid, **kw)
        elif self.kind == "ls":
            self._estimator = build_ls_estimator(resource_grid, receiver.interpolation, **kw)
        elif self.kind == "lmmse":
            cov_time, cov_freq = channel_covariances(channel, resource_grid, base_station=base_station, **kw)
            self.covariances = (cov_time, cov_freq)
            self._estimator = LMMSEChannelEstimator(
                resource_grid, cov_time, cov_freq, order=receiver.lmmse_order, **kw
            )
        else:
            raise ValueError(
                f"receiver.estimator must be 'perfect', 'ls' or 'lmmse', got {self.kind!r}"
            )

    def call(
        self, y: torch.Tensor, no: torch.Tensor, h_freq: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "perfect":
            if h_freq is None:
                raise ValueError("perfect CSI needs the true channel h_freq")
            h_hat = self._remove_nulled(h_freq)
            return h_hat, torch.zeros((), dtype=self.dtype, device=self.device)
        return self._estimator(y, no)


def build_ls_estimator(
    resource_grid: ResourceGrid,
    interpolation: str,
    precision: Optional[str] = None,
    device: Optional[str] = None,
) -> LSChannelEstimator:
    """Sionna's ``LSChannelEstimator`` with our interpolation name
    (``"nearest"`` | ``"linear"`` | ``"linear_time_avg"``)."""
    return LSChannelEstimator(
        resource_grid, interpolation_type=_INTERPOLATION[interpolation], precision=precision, device=device
    )


def build_equalizer(
    resource_grid: ResourceGrid,
    kind: str,
    precision: Optional[str] = None,
    device: Optional[str] = None,
) -> Block:
    """Sionna's ``ZFEqualizer`` or ``LMMSEEqualizer`` for one stream.

    Sionna's LMMSE equalizer returns *unbiased* symbol estimates; for one
    stream it therefore equals ZF, with an effective noise variance
    ``no_eff = (no + err_var) / sum_r |h_hat_r|^2`` per resource element
    (sum over the receive antennas ``r``: maximum-ratio combining).

    :input y, h_hat, err_var, no: see Sionna's ``OFDMEqualizer``.
    :output x_hat: [batch_size, 1, 1, num_data_symbols], `torch.complex`.
    :output no_eff: [batch_size, 1, 1, num_data_symbols], `torch.float`.
    """
    sm = StreamManagement(np.ones([1, 1], int), 1)
    if kind == "zf":
        return ZFEqualizer(resource_grid, sm, precision=precision, device=device)
    if kind == "lmmse":
        return LMMSEEqualizer(resource_grid, sm, precision=precision, device=device)
    raise ValueError(f"receiver.equalizer must be 'zf' or 'lmmse', got {kind!r}")
