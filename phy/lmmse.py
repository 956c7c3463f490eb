"""Sionna's LMMSE channel estimator for one stream, as two batched filter products.

Sionna's :class:`~sionna.phy.ofdm.LMMSEChannelEstimator` filters the LS
estimates at the pilots first along one axis of the grid, then along the
other (``order`` ``"f-t"``: across subcarriers within each OFDM symbol, then
across OFDM symbols on each subcarrier; ``"t-f"`` the reverse), scaling the
first pass's output so its variance is what the second pass expects. Every
filter matrix, scale and error variance depends only on the channel's
covariance matrices, the pilot layout and the noise variance ``no`` -- not on
the received signal. Sionna nevertheless solves the filters again for every
slot and antenna (a Cholesky factorization per OFDM symbol or subcarrier,
per slot); this block solves them once per distinct ``no`` (cached), with the
same arithmetic (including Sionna's diagonal loading), and applies them as
batched matrix products on the rows that carry estimates:

* pass over the inner axis of each outer row ``o`` that has pilots:
  ``h_out[o] = s[o] * (F[o] @ h_in[o])`` with ``F[o] = R P (P^T R P + Sigma + reg I)^{-1} P^T``
  (``R``: covariance along the inner axis, ``P``: the row's pilot positions,
  ``Sigma``: the input error variances there); ``s = 1`` on the last pass;
* error variances ``diag(R - F R)`` (clamped at 0), rescaled as Sionna does
  between passes, zeroed where the pass leaves no estimate.

Estimates and error variances equal Sionna's block within floating-point
rounding (``tests/test_lmmse_fast.py``). Spatial smoothing (order ``"s"``) is
not covered: the receiver config offers ``"f-t"`` and ``"t-f"`` only.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple, Optional, Sequence

import numpy as np
import torch

__all__ = ["SeparableLMMSE"]

#: Noise variances whose filters are solved in one batched call.
_SOLVE_CHUNK = 16
#: Filter entries gathered at once when every sample has its own noise variance.
_APPLY_CHUNK = 1 << 22
#: With at least this many samples per distinct noise variance, samples are grouped by value
#: (one batched product per value); with fewer, each sample's filters are gathered.
_GROUP_RATIO = 8


class _Pass(NamedTuple):
    """One filtering pass, on the ``outer`` rows that carry estimates."""

    axis: str
    """``"f"``: filter across subcarriers (outer rows = OFDM symbols); ``"t"``: across OFDM symbols."""
    rows: torch.Tensor
    """[num_rows], long. Outer rows with pilots at this pass (the others give 0)."""
    cols: torch.Tensor
    """[num_cols], long. Inner positions read by some row (the union of the rows' pilots)."""


class _Filters(NamedTuple):
    """What :class:`SeparableLMMSE` solves for one noise variance."""

    matrices: list
    """Per pass: [num_rows, inner, num_cols], complex. ``F`` restricted to the rows and columns read."""
    scales: list
    """Per pass: [num_rows, inner], complex, or `None` on the last pass."""
    err_var: Optional[torch.Tensor]
    """[num_ofdm_symbols, num_effective_subcarriers], real. Error variance after the last pass
    (`None` in the stacked filters :meth:`SeparableLMMSE.__call__` applies: the estimate does not read it)."""


class SeparableLMMSE:
    """LMMSE estimate of one stream's channel on the effective grid from its LS pilot estimates.

    :param pilot_mask: [num_ofdm_symbols, num_effective_subcarriers], int. 1 where a
        (non-zero) pilot is sent, 2 where the pilot pattern holds a zero pilot (another
        user's pilot: not a measurement), 0 on data REs.
    :param inv_pilot_power: [num_pilots], real. ``1 / |p|^2`` of the sent pilots, in row-major
        order of the ``pilot_mask == 1`` REs (Sionna's pilot order).
    :param cov_time: [num_ofdm_symbols, num_ofdm_symbols], complex. Time covariance.
    :param cov_freq: [num_effective_subcarriers, num_effective_subcarriers], complex.
    :param order: ``"f-t"`` or ``"t-f"``.
    :param eps: Machine epsilon of the link's real dtype: Sionna's diagonal loading is
        ``eps * K * mean|diag(A)|`` for the pilot matrix ``A`` (``K`` pilots, padded).
    :param cdtype: Complex dtype of the link: the filters are solved in double precision and
        kept in this dtype.
    :param device: Torch device of the inputs and the kept filters.
    :param cache_size: Noise variances whose filters are kept (least recently used dropped).

    :input h_p: [batch_size, ..., num_pilots], complex. LS estimates ``y_p / p``.
    :input no: Scalar or [batch_size], real. Noise variance the receiver assumes (floored by the
        link, :data:`~tokenlink.phy.link_io.NO_FLOOR`).
    :output h_hat: [batch_size, ..., num_ofdm_symbols * num_effective_subcarriers], complex.
        The error variances are :meth:`err_var` (computed only where they are needed).
    """

    def __init__(
        self,
        pilot_mask: np.ndarray,
        inv_pilot_power: torch.Tensor,
        cov_time: torch.Tensor,
        cov_freq: torch.Tensor,
        order: str,
        eps: float,
        cdtype: torch.dtype,
        device: Optional[str] = None,
        cache_size: int = 64,
    ) -> None:
        mask = np.asarray(pilot_mask, dtype=int)
        if order not in ("f-t", "t-f"):
            raise ValueError(f"receiver.lmmse_order must be 'f-t' or 't-f', got {order!r}")
        self.shape = mask.shape
        self.cdtype, self.device = cdtype, device
        self.dtype = torch.float64 if cdtype == torch.complex128 else torch.float32
        self._eps = float(eps)
        self._cov = {"t": cov_time.detach().to(torch.complex128).cpu(),
                     "f": cov_freq.detach().to(torch.complex128).cpu()}
        flat = np.flatnonzero(mask.reshape(-1) == 1)
        self._pilot_flat = torch.as_tensor(flat, device=device)
        self._inv_p2 = inv_pilot_power.detach().to(torch.float64).cpu()
        if self._inv_p2.shape[0] != flat.shape[0]:
            raise ValueError(f"{flat.shape[0]} sent pilots in the mask, {self._inv_p2.shape[0]} pilot powers")
        # Pilot masks per pass, oriented [outer, inner], as Sionna updates them between passes.
        self._passes, self._groups, self._kept = [], [], []
        current = mask
        for axis in order.split("-"):
            oriented = current if axis == "f" else current.T
            pilots = oriented == 1
            rows = np.flatnonzero(pilots.any(axis=1))
            cols = np.flatnonzero(pilots[rows].any(axis=0))
            self._passes.append(_Pass(axis, torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)))
            # Rows with the same pilot positions share the pilot covariance: one batched solve each.
            groups: dict = {}
            for i, r in enumerate(rows):
                groups.setdefault(tuple(np.flatnonzero(pilots[r])), []).append(i)
            self._groups.append([(torch.as_tensor(pil), torch.as_tensor(np.searchsorted(cols, pil)),
                                  torch.as_tensor(members), torch.as_tensor(rows[members]))
                                 for pil, members in groups.items()])
            updated = np.where(pilots.any(axis=1, keepdims=True), 1, oriented)
            # Sionna zeroes the error variance where the pass left no estimate.
            self._kept.append(torch.as_tensor(updated == 1, dtype=torch.float64))
            current = updated if axis == "f" else updated.T
        self._cache: "OrderedDict[float, _Filters]" = OrderedDict()
        self._cache_size = int(cache_size)

    # ----------------------------------------------------------------- filters
    def filters(self, values: Sequence[float]) -> list:
        """The :class:`_Filters` of each noise variance (solved once, then cached)."""
        keys = [float(v) for v in values]
        missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
        for start in range(0, len(missing), _SOLVE_CHUNK):
            part = missing[start:start + _SOLVE_CHUNK]
            self._cache.update(zip(part, self._solve(part)))
        out = []
        for key in keys:
            self._cache.move_to_end(key)
            out.append(self._cache[key])
        while len(self._cache) > max(self._cache_size, len(keys)):
            self._cache.popitem(last=False)
        return out

    def _solve(self, values: Sequence[float]) -> list:
        """Sionna's ``_LMMSEEstimator1D`` passes for the noise variances ``values``, in double
        precision, batched over them."""
        num = len(values)
        no = torch.tensor(values, dtype=torch.float64)
        err = torch.zeros(num, self.shape[0] * self.shape[1], dtype=torch.float64)
        err[:, self._pilot_flat.cpu()] = no[:, None] * self._inv_p2[None]
        err = err.view(num, *self.shape)
        matrices, scales = [], []
        last = len(self._passes) - 1
        for k, (ps, groups, kept) in enumerate(zip(self._passes, self._groups, self._kept)):
            e = err if ps.axis == "f" else err.transpose(1, 2)
            f, e_out, s = self._one_pass(self._cov[ps.axis], e, ps, groups, k == last)
            matrices.append(f.to(device=self.device, dtype=self.cdtype))
            scales.append(None if s is None else s.to(device=self.device, dtype=self.cdtype))
            e_out = e_out * kept
            err = e_out if ps.axis == "f" else e_out.transpose(1, 2)
        err = err.reshape(num, -1).to(device=self.device, dtype=self.dtype)
        return [_Filters([m[u] for m in matrices], [None if c is None else c[u] for c in scales], err[u])
                for u in range(num)]

    def _one_pass(self, cov: torch.Tensor, err: torch.Tensor, ps: _Pass, groups: list, last: bool):
        """Filters [U, num_rows, inner, num_cols], error variances [U, outer, inner] and scales
        [U, num_rows, inner] (`None` on the last pass) of one pass, for U noise variances
        (``err``: [U, outer, inner], the input error variances)."""
        num, num_outer, inner = err.shape
        f = torch.zeros(num, len(ps.rows), inner, len(ps.cols), dtype=torch.complex128)
        diag = torch.diagonal(cov).clone()  # complex, as in Sionna's arithmetic
        err_out = diag.real.expand(num, num_outer, inner).clone()  # rows without pilots: F = 0
        s_rows = None if last else torch.zeros(num, len(ps.rows), inner, dtype=torch.complex128)
        for p, at, members, r in groups:
            e_p = err[:, r][:, :, p]  # [U, m, K]
            a = cov[p][:, p].expand(num, len(members), -1, -1).clone()
            a.diagonal(dim1=-2, dim2=-1).add_(e_p)
            # Sionna loads eps * K_max * (mean |diag| over the K_max x K_max zero-padded matrix),
            # i.e. eps * (sum of |diag| over the row's own pilots).
            load = self._eps * a.diagonal(dim1=-2, dim2=-1).abs().sum(-1)
            a.diagonal(dim1=-2, dim2=-1).add_(load[..., None])
            x = torch.cholesky_solve(cov[p].expand(num, len(members), -1, -1), torch.linalg.cholesky(a))
            f_p = x.mH  # [U, m, inner, K]: the row's filter on its pilots' columns
            placed = torch.zeros(num, len(members), inner, len(ps.cols), dtype=torch.complex128)
            placed[..., at] = f_p
            f[:, members] = placed
            # diag(R - F Xi R), F being zero off the pilots.
            e_rows = (diag - torch.einsum("umik,ki->umi", f_p, cov[p])).real.clamp_min(0.0)
            if not last:  # scaling so the next pass sees the variance it expects (Sionna's s)
                hv = torch.einsum("umik,kl,umil->umi", f_p, cov[p][:, p], f_p.conj())
                hv = hv + (f_p.abs().square() * e_p[:, :, None, :]).sum(-1)
                e_c = e_rows.to(torch.complex128)
                denom = hv + diag - e_c
                s = torch.where(denom.abs() > 1e-12, 2.0 * diag / denom, torch.zeros_like(denom))
                e_rows = (s * (s - 1.0) * hv + (1.0 - s) * diag + s * e_c).real.clamp_min(0.0)
                s_rows[:, members] = s
            err_out[:, r] = e_rows
        # Rows without pilots: F = 0 gives s = 0 and err = diag(R), zeroed by the caller's mask.
        return f, err_out, s_rows

    # ------------------------------------------------------------------- apply
    def __call__(self, h_p: torch.Tensor, no) -> torch.Tensor:
        values, inverse = _distinct(no, self.device)
        filters = self.filters(values)
        if inverse is None:
            return self._apply(h_p, filters[0])
        if len(filters) * _GROUP_RATIO <= h_p.shape[0]:  # few values (a BER sweep): one product per value
            out = h_p.new_empty(*h_p.shape[:-1], self.shape[0] * self.shape[1])
            for k, f in enumerate(filters):
                which = torch.nonzero(inverse == k).squeeze(1)
                out[which] = self._apply(h_p[which], f)
            return out
        stacked = _Filters([torch.stack(m) for m in zip(*(f.matrices for f in filters))],
                           [None if c[0] is None else torch.stack(c) for c in zip(*(f.scales for f in filters))],
                           None)
        return self._apply(h_p, stacked, inverse)

    def err_var(self, no) -> torch.Tensor:
        """Error variance of the estimate, [1 or batch_size, num_ofdm_symbols * num_effective_subcarriers]."""
        values, inverse = _distinct(no, self.device)
        filters = self.filters(values)
        if inverse is None:
            return filters[0].err_var[None]
        return torch.stack([f.err_var for f in filters])[inverse]

    def _apply(self, h_p: torch.Tensor, filters: _Filters, inverse: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[batch_size, ..., num_pilots] -> [batch_size, ..., num_ofdm_symbols * num_effective_subcarriers];
        ``inverse`` (`None`: one set of filters) picks each sample's filters from stacked ones."""
        lead = h_p.shape[:-1]
        n_sym, n_sc = self.shape
        grid = h_p.new_zeros(int(np.prod(lead, dtype=np.int64)), n_sym * n_sc)
        grid[:, self._pilot_flat] = h_p.reshape(-1, h_p.shape[-1])
        grid = grid.view(-1, n_sym, n_sc)
        if inverse is not None:  # every receive antenna of a sample uses the sample's filters
            inverse = inverse.repeat_interleave(grid.shape[0] // lead[0])
        for ps, f, s in zip(self._passes, filters.matrices, filters.scales):
            x = grid if ps.axis == "f" else grid.transpose(1, 2)
            sel = x[:, ps.rows][:, :, ps.cols]  # [rows of the batch, pass rows, cols]
            if inverse is None:  # [pass rows, batch, cols] @ [pass rows, cols, inner]
                y = torch.bmm(sel.permute(1, 0, 2), f.transpose(1, 2)).permute(1, 0, 2)
                if s is not None:
                    y = y * s
            else:  # each sample's own filters, a chunk of samples at a time (bounded memory)
                y = sel.new_empty(sel.shape[0], sel.shape[1], f.shape[-2])
                step = max(1, _APPLY_CHUNK // f[0].numel())
                for a in range(0, sel.shape[0], step):
                    idx = inverse[a:a + step]
                    y[a:a + step] = (f[idx] @ sel[a:a + step, :, :, None]).squeeze(-1)
                    if s is not None:
                        y[a:a + step] *= s[idx]
            out = x.new_zeros(x.shape)
            out[:, ps.rows] = y
            grid = out if ps.axis == "f" else out.transpose(1, 2)
        return grid.reshape(*lead, n_sym * n_sc)


def _distinct(no, device) -> tuple[Sequence[float], Optional[torch.Tensor]]:
    """Distinct noise variances of a scalar or [batch_size] ``no`` and each sample's index."""
    if not isinstance(no, torch.Tensor) or no.numel() == 1:
        return [float(no)], None
    values, inverse = torch.unique(no.detach().reshape(-1), return_inverse=True)
    if values.shape[0] == 1:
        return [float(values[0])], None
    return values.tolist(), inverse.to(device)
