"""One FedSL client's uplink: a bridge ``TokenLink`` at the client's Es/N0 per RE, with the
per-frame shadowing of a network user's link budget (:class:`ClientUplink`)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ["ClientUplink"]


class ClientUplink:
    """One client's uplink: a bridge ``TokenLink`` at the client's Es/N0 per RE [dB].

    ``transmit(tokens [B, T, D])`` sends through the link at ``esno_db``; a digital
    link with a scalar quantizer and no fixed clipping range is calibrated on the
    tokens it sends (the client knows its own activations; the two floats of range
    are side information, not counted).

    With ``shadowing_std_db`` > 0 (a network user's link budget) every frame (sample)
    runs at ``esno_db - S``, ``S ~ N(0, shadowing_std_db^2)`` [dB], drawn in order from the
    stream :meth:`start` keyed (a fresh one per round and per evaluation, so a resumed run
    draws what an uninterrupted one does; the training streams are not touched).
    """

    def __init__(self, link, esno_db: float, shadowing_std_db: float = 0.0):
        self.link, self.esno_db, self.shadowing_std_db = link, float(esno_db), float(shadowing_std_db)
        self._shadowing: Optional[np.random.Generator] = None

    def start(self, key: Sequence[int]) -> None:
        """Draw the shadowing of the next frames from ``numpy.random.default_rng(key)``."""
        self._shadowing = np.random.default_rng(list(key)) if self.shadowing_std_db > 0 else None

    def _esno(self, batch: int):
        if self.shadowing_std_db <= 0:
            return self.esno_db
        if self._shadowing is None:
            raise RuntimeError("ClientUplink with shadowing: call start(key) before transmitting")
        return torch.as_tensor(self.esno_db - self.shadowing_std_db * self._shadowing.standard_normal(batch))

    def transmit(self, tokens: torch.Tensor):
        config = self.link.config
        if config.mode != "analog" and not (config.digital.quantizer == "scalar" and config.digital.clip is not None):
            self.link.calibrate(tokens)
        return self.link.transmit(tokens, snr_db=self._esno(tokens.shape[0]))
