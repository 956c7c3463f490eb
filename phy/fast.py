"""Fast single-stream receiver: perfect or LS CSI, ZF / LMMSE, QAM demapping.

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

* Demapping (:class:`SeparableDemapper`): Gray QAM bits depend on one real
  dimension each, so APP and max-log LLRs need ``sqrt(M)`` levels per bit,
  not ``M`` points.

Outputs equal Sionna's blocks within floating-point rounding (values, LLRs
and gradients; ``tests/test_fast.py``).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from sionna.phy import Block
from sionna.phy.ofdm import ResourceGrid

from .bits import bits_to_index, index_to_bits
from .config import ReceiverConfig
from .receiver import build_ls_estimator

__all__ = ["SisoReceiver", "SeparableDemapper", "BitMapper", "separable_plan", "supports_fast_path"]

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
            interp = build_ls_estimator(rg, receiver.interpolation, self.precision, self.device)._interpol
            idx, w = self._measure(interp, pilots.shape[0], data_eff)
            self.register_buffer("_interp_idx", idx, persistent=False)
            self.register_buffer("_interp_w", w, persistent=False)

    @torch.no_grad()
    def _measure(
        self, interp, num_pilots: int, data_eff: torch.Tensor, chunk: int = 128
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sionna's interpolator as [num_data, K] pilot indices and real weights.

        Unit vectors go through the interpolator ``chunk`` pilots at a time
        (its memory grows with grid size x pilots); only non-zero weights are
        kept. Sionna interpolates the error variances with the same linear map
        and clamps the result at 0; :meth:`_equalize` does the same.
        """
        rows, cols, vals = [], [], []
        for start in range(0, num_pilots, chunk):
            n = min(chunk, num_pilots - start)
            eye = torch.zeros(n, num_pilots, dtype=self.cdtype, device=self.device)
            eye[torch.arange(n), torch.arange(start, start + n)] = 1
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
        y_flat = y.reshape(y.shape[0], -1)
        y_p = y_flat[:, self._pilot_ind] if self.estimator == "ls" else None
        return self._equalize(y_flat[:, self._data_ind], y_p, no, h_freq)

    def transmit(
        self,
        x: torch.Tensor,
        no: Union[float, torch.Tensor],
        no_rx: Union[float, torch.Tensor],
        h_freq: torch.Tensor,
        noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Channel and receiver on the REs that matter, without building grids.

        The same numbers as mapping ``x`` to the grid, Sionna's
        ``ApplyOFDMChannel`` (``y = h x + sqrt(no) noise``) and :meth:`call`,
        given the same unit-variance ``noise`` draw
        ([batch_size, 1, 1, num_ofdm_symbols, fft_size]); only the data REs
        (and, for LS, the pilot REs) are computed, elementwise.

        :input x: [batch_size, num_data_symbols], complex. Data symbols.
        :input no: Noise variance of the channel (0: noiseless).
        :input no_rx: Noise variance the receiver assumes.
        """
        batch = x.shape[0]
        h = h_freq.reshape(batch, -1)
        n = noise.reshape(batch, -1)
        scale = self._column(no).sqrt().to(self.cdtype)
        y_d = h[:, self._data_ind] * x + n[:, self._data_ind] * scale
        y_p = None
        if self.estimator == "ls":
            y_p = h[:, self._pilot_ind] * self._pilots + n[:, self._pilot_ind] * scale
        return self._equalize(y_d, y_p, no_rx, h_freq)

    def _column(self, no: Union[float, torch.Tensor]) -> torch.Tensor:
        """Scalar or [batch] noise variance as [1 or batch, 1], real."""
        return torch.as_tensor(no, dtype=self.dtype, device=self.device).reshape(-1, 1)

    def _equalize(
        self,
        y_d: torch.Tensor,
        y_p: Optional[torch.Tensor],
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate the channel on the data REs, then ``y / h_hat`` and ``no_eff``."""
        no_col = self._column(no)
        if self.estimator == "perfect":
            if h_freq is None:
                raise ValueError("perfect CSI needs the true channel h_freq")
            h_d = h_freq.reshape(y_d.shape[0], -1)[:, self._data_ind]
            err_d = torch.zeros((), dtype=self.dtype, device=self.device)
        else:
            # Pilot REs carry known pilots times a channel drawn without autograd:
            # nothing trainable reaches them, so the estimate records no graph
            # (the gradient through it is exactly zero; this only skips computing it).
            h_p = y_p.detach() / self._pilots  # [batch, num_pilots]
            h_d = (h_p[:, self._interp_idx] * self._interp_w).sum(dim=-1)
            err_p = no_col * self._inv_pilot_energy  # [batch or 1, num_pilots], real
            err_d = (err_p[:, self._interp_idx] * self._interp_w).sum(dim=-1).clamp_min(0.0)
        x_hat = y_d / h_d
        no_eff = (no_col + err_d) / h_d.abs().square()
        return x_hat, no_eff.expand(x_hat.shape)


class SeparableDemapper(Block):
    r"""APP or max-log demapping of Gray QAM / PAM, one real dimension at a time.

    In Sionna's QAM constellations (3GPP TS 38.211 Gray labelling) every bit
    depends on either the real or the imaginary part of a point only. The
    squared distance ``|y - s|^2 = (y_I - s_I)^2 + (y_Q - s_Q)^2`` then
    separates, and the part of the other dimension cancels from both the
    APP LLR (it factors out of both sums) and the max-log LLR (it is the same
    minimum on both sides). Each bit needs the ``sqrt(M)`` levels of its own
    dimension instead of all ``M`` points: the same LLRs as Sionna's
    :class:`~sionna.phy.mapping.Demapper`, with the same clamp of ``no``.

    :param constellation: Sionna constellation (its current points are read once).
    :param method: ``"app"`` | ``"maxlog"``.

    :input y: [..., n], `torch.complex`. Equalized symbols.
    :input no: Broadcastable to ``y``, `torch.float`. Noise variance per symbol.
    :output llr: [..., n * num_bits_per_symbol], `torch.float`, ``log(P(b=1)/P(b=0))``.
    """

    def __init__(self, constellation, method: str, precision: Optional[str] = None,
                 device: Optional[str] = None) -> None:
        super().__init__(precision=precision, device=device)
        if method not in ("app", "maxlog"):
            raise ValueError(f"method must be 'app' or 'maxlog', got {method!r}")
        self.method = method
        points = constellation().detach().to(device=self.device, dtype=self.cdtype)
        num_bits = constellation.num_bits_per_symbol
        self.num_bits_per_symbol = num_bits
        labels = index_to_bits(torch.arange(points.shape[0], device=self.device), num_bits, torch.long)
        plan = separable_plan(points, labels)
        if plan is None:
            raise ValueError("constellation is not separable into real and imaginary parts")
        self._no_threshold = float(torch.finfo(self.dtype).tiny)
        order = []
        for part, (levels, ones, bit_pos) in plan.items():
            # Gray labels split the levels of a dimension in halves for every bit:
            # [bits, L/2] indices of the levels whose bit is 1, and of those where it is 0.
            idx1 = torch.stack([torch.nonzero(row).squeeze(1) for row in ones]) if len(ones) else None
            idx0 = torch.stack([torch.nonzero(~row).squeeze(1) for row in ones]) if len(ones) else None
            self.register_buffer(f"_{part}_levels", levels.to(self.dtype), persistent=False)
            self.register_buffer(f"_{part}_idx1", idx1, persistent=False)
            self.register_buffer(f"_{part}_idx0", idx0, persistent=False)
            # Hard decisions: the nearest level of a dimension lies between midpoints.
            self.register_buffer(f"_{part}_mid", ((levels[1:] + levels[:-1]) / 2).to(self.dtype), persistent=False)
            order += bit_pos.tolist()
        # Bits of the point nearest to (re level i, im level j), in label order: [L_re * L_im, bits].
        (lev_re, ones_re, pos_re), (lev_im, ones_im, pos_im) = plan["re"], plan["im"]
        self._num_im_levels = lev_im.shape[0]
        table = torch.zeros(lev_re.shape[0], lev_im.shape[0], num_bits, dtype=self.dtype, device=self.device)
        if len(pos_re):
            table[:, :, pos_re] = ones_re.T[:, None, :].to(self.dtype)
        if len(pos_im):
            table[:, :, pos_im] = ones_im.T[None, :, :].to(self.dtype)
        self.register_buffer("_decision_bits", table.reshape(-1, num_bits), persistent=False)
        # Bits come out as [re bits..., im bits...]; this puts them back in label order.
        self.register_buffer("_inverse_order", torch.argsort(torch.tensor(order, device=self.device)),
                             persistent=False)

    def _part_llr(self, y: torch.Tensor, no: torch.Tensor, part: str) -> torch.Tensor:
        """LLRs [..., n, bits_of_part] of the bits carried by one real dimension."""
        levels = getattr(self, f"_{part}_levels")
        idx1, idx0 = getattr(self, f"_{part}_idx1"), getattr(self, f"_{part}_idx0")
        metric = (y.unsqueeze(-1) - levels).square()  # [..., n, L] squared distances
        shape = (*metric.shape[:-1], *idx1.shape)
        d1 = metric.index_select(-1, idx1.reshape(-1)).reshape(shape)  # [..., n, bits, L/2]
        d0 = metric.index_select(-1, idx0.reshape(-1)).reshape(shape)
        no = no.unsqueeze(-1)
        if self.method == "app":
            return torch.logsumexp(-d1 / no.unsqueeze(-1), dim=-1) - torch.logsumexp(-d0 / no.unsqueeze(-1), dim=-1)
        return (d0.amin(dim=-1) - d1.amin(dim=-1)) / no

    def call(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        no = torch.as_tensor(no, dtype=self.dtype, device=y.device)
        no = torch.broadcast_to(no, y.shape).clamp_min(self._no_threshold)
        parts = [self._part_llr(comp, no, part) for part, comp in (("re", y.real), ("im", y.imag))
                 if getattr(self, f"_{part}_idx1") is not None]
        llr = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        return llr.index_select(-1, self._inverse_order).flatten(-2)

    def decide(self, y: torch.Tensor) -> torch.Tensor:
        """Bits of the nearest constellation point, [..., n * num_bits_per_symbol].

        Per dimension, the nearest level by slicing at the midpoints. These
        are exactly the signs of the max-log LLRs (``1.`` where positive;
        ties, of probability zero, aside) without computing them; APP LLRs
        can decide differently at low SNR (bitwise MAP), so use
        ``call(...) > 0`` there.
        """
        i = torch.bucketize(y.real.contiguous(), self._re_mid)
        j = torch.bucketize(y.imag.contiguous(), self._im_mid)
        # embedding = row gather, faster than advanced indexing for narrow tables
        return torch.nn.functional.embedding(i * self._num_im_levels + j, self._decision_bits).flatten(-2)


class BitMapper(Block):
    r"""Bits -> constellation points, as Sionna's ``Mapper`` (same labels, same
    points), by a matmul with powers of two and a table lookup.

    :param constellation: Sionna constellation (its current points are read once).

    :input bits: [..., n * num_bits_per_symbol], float 0./1.
    :output x: [..., n], `torch.complex`.
    """

    def __init__(self, constellation, precision: Optional[str] = None, device: Optional[str] = None) -> None:
        super().__init__(precision=precision, device=device)
        self.num_bits_per_symbol = constellation.num_bits_per_symbol
        points = constellation().detach().to(device=self.device, dtype=self.cdtype)
        self.register_buffer("_points", points, persistent=False)

    def call(self, bits: torch.Tensor) -> torch.Tensor:
        return self._points[bits_to_index(bits.unflatten(-1, (-1, self.num_bits_per_symbol)))]


def separable_plan(points: torch.Tensor, labels: torch.Tensor) -> Optional[dict]:
    """For each bit, the dimension (``"re"``/``"im"``) its label depends on.

    :input points: [M], complex. :input labels: [M, num_bits], 0/1.
    :output: ``{part: (levels [L], ones [bits_of_part, L] bool, bit positions)}``,
        or `None` if some bit depends on both parts.
    """
    plan: dict = {}
    for part, coord in (("re", points.real), ("im", points.imag)):
        levels, inverse = torch.unique(coord, sorted=True, return_inverse=True)
        plan[part] = (levels, [], [])
        for k in range(labels.shape[1]):
            # Bit k belongs to this part if its label is a function of this coordinate.
            table = torch.full((levels.shape[0],), -1, dtype=torch.long, device=points.device)
            consistent = True
            for i in range(points.shape[0]):
                v = int(labels[i, k])
                if table[inverse[i]] == -1:
                    table[inverse[i]] = v
                elif int(table[inverse[i]]) != v:
                    consistent = False
                    break
            if consistent and levels.shape[0] > 1 and bool((table == 1).any()) and bool((table == 0).any()):
                plan[part][1].append(table == 1)
                plan[part][2].append(k)
    owned = sorted(plan["re"][2] + plan["im"][2])
    if owned != list(range(labels.shape[1])):
        return None
    if any(int(m.sum()) * 2 != m.numel() for part in plan.values() for m in part[1]):
        return None  # not a Gray PAM labelling: a bit does not split its levels in halves
    return {
        part: (levels, torch.stack(ones) if ones else torch.zeros(0, levels.shape[0], dtype=torch.bool),
               torch.tensor(pos, dtype=torch.long, device=points.device))
        for part, (levels, ones, pos) in plan.items()
    }
