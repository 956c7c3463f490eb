"""Fast Gray-QAM mapping and demapping, with the numbers of Sionna's blocks.

* :class:`BitMapper`: bits -> constellation points by a matmul with powers of two
  and a table lookup (Sionna's ``Mapper``: same labels, same points).
* :class:`SeparableDemapper`: Gray QAM bits depend on one real dimension each, so
  APP and max-log LLRs need ``sqrt(M)`` levels per bit, not ``M`` points (Sionna's
  ``Demapper``: same LLRs); max-log hard decisions by slicing at the midpoints.

Tested equal to Sionna's blocks in ``tests/test_fast.py``.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from sionna.phy import Block

from .bits import bits_to_index, index_to_bits
from .runtime import CompiledFunction

__all__ = ["SeparableDemapper", "BitMapper", "separable_plan"]


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
                 device: Optional[str] = None, compile: bool = False) -> None:
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
        self._log_floor = math.log(torch.finfo(self.dtype).tiny) + 1.0
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
        # Equally spaced levels (every QAM/PAM) slice by arithmetic instead of a search.
        self._uniform = {}
        for part, (levels, _, _) in plan.items():
            step = levels[1:] - levels[:-1]
            if levels.shape[0] > 1 and bool(torch.allclose(step, step[0], rtol=1e-6, atol=0.0)):
                self._uniform[part] = (float((levels[0] + levels[1]) / 2), float(1.0 / step[0]), levels.shape[0] - 1)
        # Bits of the point nearest to (re level i, im level j), in label order: [L_re * L_im, bits].
        (lev_re, ones_re, pos_re), (lev_im, ones_im, pos_im) = plan["re"], plan["im"]
        self._num_im_levels = lev_im.shape[0]
        table = torch.zeros(lev_re.shape[0], lev_im.shape[0], num_bits, dtype=self.dtype, device=self.device)
        if len(pos_re):
            table[:, :, pos_re] = ones_re.T[:, None, :].to(self.dtype)
        if len(pos_im):
            table[:, :, pos_im] = ones_im.T[None, :, :].to(self.dtype)
        self.register_buffer("_decision_bits", table.reshape(-1, num_bits), persistent=False)
        self.register_buffer("_decision_labels", bits_to_index(self._decision_bits).int(), persistent=False)
        self._compiled: Optional[CompiledFunction] = None
        if compile and all(p in self._uniform for p, (lev, _, _) in plan.items() if lev.shape[0] > 1):
            slicer = functools.partial(_slice_uniform, re=self._uniform.get("re"), im=self._uniform.get("im"),
                                       num_im_levels=self._num_im_levels)
            self._compiled = CompiledFunction(slicer, slicer, "the QAM slicer")
        # Bits come out as [re bits..., im bits...]; this puts them back in label order.
        self.register_buffer("_inverse_order", torch.argsort(torch.tensor(order, device=self.device)),
                             persistent=False)

    def _part_llr(self, y: torch.Tensor, neg_inv_no: torch.Tensor, part: str) -> torch.Tensor:
        """LLRs [bits_of_part, ..., n] of the bits carried by one real dimension.

        Level-major layout: the metrics ``-(y - s_l)^2 / no`` are slabs [L, ..., n], so
        every reduction over a bit's levels adds whole slabs (reductions over a short
        last dimension are several times slower on CPU).
        """
        levels = getattr(self, f"_{part}_levels")
        idx1, idx0 = getattr(self, f"_{part}_idx1"), getattr(self, f"_{part}_idx0")
        metric = (y.unsqueeze(0) - levels.reshape(-1, *([1] * y.dim()))).square_().mul_(neg_inv_no)
        shape = (*idx1.shape, *y.shape)  # [bits, L/2, ..., n]
        m1 = metric.index_select(0, idx1.reshape(-1)).reshape(shape)
        m0 = metric.index_select(0, idx0.reshape(-1)).reshape(shape)
        if self.method == "app":
            return self._logsumexp(m1).sub_(self._logsumexp(m0))
        return m1.amax(dim=1).sub_(m0.amax(dim=1))

    def _logsumexp(self, m: torch.Tensor) -> torch.Tensor:
        """``log sum_l exp(m_l)`` over dim 1, as ``torch.logsumexp`` (max + log of the
        shifted sum), with the shifted exponents floored at ``log(tiny) + 1``: on CPU,
        ``exp`` of arguments whose result underflows is tens of times slower, and a
        term below ``tiny * e`` cannot change a sum that holds the maximum's ``1``."""
        top = m.amax(dim=1, keepdim=True)
        if not bool(top.isfinite().all()):  # -inf metrics (no clamped to tiny): torch's handling
            return torch.logsumexp(m, dim=1)
        total = (m - top).clamp_min_(self._log_floor).exp_().sum(dim=1)
        return total.log_().add_(top.squeeze(1))

    def call(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        no = torch.as_tensor(no, dtype=self.dtype, device=y.device)
        neg_inv_no = torch.broadcast_to(no, y.shape).clamp_min(self._no_threshold).reciprocal().neg_()
        parts = [self._part_llr(comp, neg_inv_no, part) for part, comp in (("re", y.real), ("im", y.imag))
                 if getattr(self, f"_{part}_idx1") is not None]
        llr = torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]  # [bits, ..., n], [re..., im...]
        return llr.index_select(0, self._inverse_order).movedim(0, -1).flatten(-2)

    def decide(self, y: torch.Tensor) -> torch.Tensor:
        """Bits of the nearest constellation point, [..., n * num_bits_per_symbol].

        Per dimension, the nearest level by slicing at the midpoints. These
        are exactly the signs of the max-log LLRs (``1.`` where positive;
        ties, of probability zero, aside) without computing them; APP LLRs
        can decide differently at low SNR (bitwise MAP), so use
        ``call(...) > 0`` there.
        """
        return _lookup(self._decision_bits, self._nearest(y)).flatten(-2)

    def decide_labels(self, y: torch.Tensor) -> torch.Tensor:
        """Labels (symbol indices, int32) of the nearest constellation points, [..., n]:
        the bits of :meth:`decide` as one integer per symbol."""
        return _lookup(self._decision_labels, self._nearest(y))

    def _nearest(self, y: torch.Tensor) -> torch.Tensor:
        """Row ``i * L_im + j`` of the decision tables: nearest levels ``i`` (real), ``j`` (imaginary)."""
        if self._compiled is not None:
            return self._compiled(torch.view_as_real(y))
        i, j = self._level(y.real, "re"), self._level(y.imag, "im")
        return i.mul_(self._num_im_levels).add_(j).int()  # small integers: exact in floating point

    def _level(self, y: torch.Tensor, part: str) -> torch.Tensor:
        """Index of the nearest level of one dimension (as a float), as ``bucketize`` at the midpoints."""
        if part in self._uniform:  # mid_k = mid_0 + k step: y in (mid_{i-1}, mid_i] -> i
            mid0, inv_step, top = self._uniform[part]
            return (y - mid0).mul_(inv_step).ceil_().clamp_(0, top)
        return torch.bucketize(y.contiguous(), getattr(self, f"_{part}_mid")).to(y.dtype)


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
        return self.points_of(bits_to_index(bits.unflatten(-1, (-1, self.num_bits_per_symbol))))

    def points_of(self, labels: torch.Tensor) -> torch.Tensor:
        """Symbol labels [..., n] (integers, MSB-first bits) -> points [..., n], complex."""
        return _lookup(self._points, labels)


def _slice_uniform(y: torch.Tensor, re: Optional[tuple], im: Optional[tuple], num_im_levels: int) -> torch.Tensor:
    """:meth:`SeparableDemapper._nearest` for equally spaced levels, on a real view
    [..., 2] (for ``torch.compile``); ``re``/``im``: ``(mid_0, 1/step, L-1)`` or
    `None` for a dimension with one level."""
    index = torch.zeros(y.shape[:-1], dtype=y.dtype, device=y.device)
    for k, part, weight in ((0, re, num_im_levels), (1, im, 1)):
        if part is not None:
            mid0, inv_step, top = part
            index = index + weight * torch.ceil((y[..., k] - mid0) * inv_step).clamp(0, top)
    return index.int()


def _lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a small table [T, ...] and many indices [...]:
    ``index_select`` on the flat indices, several times faster than advanced
    indexing or ``embedding`` on CPU."""
    return table.index_select(0, index.reshape(-1)).reshape(*index.shape, *table.shape[1:])


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
