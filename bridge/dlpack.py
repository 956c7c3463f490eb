"""Zero-copy exchange of tensors between PyTorch, NumPy and TensorFlow (DLPack).

Tokens, symbols, channel frequency responses and LLRs live in PyTorch (Sionna
2.x is PyTorch-native). Traces need NumPy arrays (h5py); a TensorFlow model
of a user's own can take them too. DLPack hands over the buffer itself, so
the result is a *view*: same memory, and a write on one side shows on the
other.

Views (no copy), checked with torch 2.13 / NumPy 2.4 in ``tests/test_dlpack.py``:

* CPU tensor -> NumPy and NumPy -> CPU tensor, for float32/64, complex64/128,
  int64 and bool, any rank (0-d too), including strided tensors and arrays
  (transposed, permuted, step-sliced, offset slices, Fortran order,
  broadcast with stride 0): DLPack carries the strides.
* ``requires_grad`` tensors: ``detach()`` shares the memory.
* ``torch.view_as_real(x)``: complex ``[...]`` as float ``[..., 2]`` (re, im)
  pairs, the zero-copy way to feed a format without complex numbers
  (h5py stores complex64/128 natively and needs none of it).

A copy is unavoidable for:

* conjugate views (``x.conj()`` of a complex tensor sets a lazy conjugate
  bit; DLPack has no such flag and ``__dlpack__`` refuses the tensor):
  ``resolve_conj()``;
* negative views (e.g. ``x.conj().imag``): ``resolve_neg()``. Without it
  ``__dlpack__`` (torch 2.13) exports the *un-negated* memory, silently
  flipping the sign;
* CUDA tensors to NumPy (device -> host) and NumPy to a CUDA device
  (host -> device);
* NumPy -> PyTorch for arrays PyTorch cannot alias safely: read-only arrays
  (NumPy exports them with DLPack 1.x's read-only flag, torch 2.13 ignores
  the flag and returns a writable tensor over memory nobody may write),
  negative strides (``a[::-1]``: PyTorch has none, and ``torch.from_dlpack``
  aborts the process instead of raising) and non-native byte order
  (``">f4"``, which DLPack cannot express);
* PyTorch -> TensorFlow for strided tensors: TensorFlow imports only compact
  row-major buffers ("Invalid strides array from DLPack"), so
  :func:`to_tensorflow` makes them contiguous first;
* dtype changes other than ``view_as_real`` / ``view_as_complex``.
  ``bfloat16`` and ``complex32`` have no NumPy dtype and fail to export.

:func:`shares_memory` compares the start addresses of the data buffers.
See ``docs/dlpack.md``.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import torch

__all__ = ["prepare_for_export", "to_numpy", "from_numpy", "to_tensorflow", "from_tensorflow", "shares_memory"]

_TF_MISSING = (
    "{fn} needs TensorFlow, which cannot share an environment with Sionna 2.x: both Sionna "
    "lines import as 'sionna', and TensorFlow 2.19 needs numpy<2.2 (Sionna 2.2: numpy>=2.2.6); "
    "run in the TensorFlow environment (`make venv-tf`, .venv-tf/bin/python) or hand arrays over "
    "through NumPy (to_numpy) or HDF5"
)


def prepare_for_export(t: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A tensor that DLPack can export, and whether a copy was needed.

    :input t: Any shape and dtype, `torch.Tensor`.

    :output t: Same shape, dtype and device. ``t.detach()`` (a view) if
        ``t`` requires grad; ``resolve_conj()`` / ``resolve_neg()`` (copies)
        if it is a conjugate / negative view. Strided tensors stay views.
    :output copied: `bool`. `True` if the data were copied.
    """
    copied = False
    t = t.detach()
    if t.is_conj():
        t, copied = t.resolve_conj(), True
    if t.is_neg():
        t, copied = t.resolve_neg(), True
    return t, copied


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """PyTorch -> NumPy through DLPack.

    :input t: Any shape, `torch.Tensor` of a dtype NumPy has (float, complex,
        int, bool).

    :output a: Same shape and strides, `np.ndarray`. A view of ``t`` on CPU
        (writable), a copy if ``t`` is a conjugate or negative view
        (:func:`prepare_for_export`) or not on the CPU (``.cpu()``,
        device -> host).
    """
    t, _ = prepare_for_export(t)
    if t.device.type != "cpu":
        t = t.cpu()  # device -> host: a copy
    return np.from_dlpack(t)


def from_numpy(a: np.ndarray, device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """NumPy -> PyTorch through DLPack.

    :param device: `None` (default) | ``"cpu"`` | ``"cuda"`` | ``"cuda:N"`` |
        `torch.device`. `None` keeps the array on the CPU.

    :input a: Any shape, `np.ndarray` of a numeric or bool dtype.

    :output t: Same shape and dtype, `torch.Tensor`. A view of ``a`` on the
        CPU (strides kept), a copy if ``a`` is read-only, has a negative
        stride or a non-native byte order (see the module doc), or if
        ``device`` is not the CPU (host -> device).
    """
    if not a.flags.writeable or any(s < 0 for s in a.strides) or not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="), order="C")  # a copy: native, C order, writable
    t = torch.from_dlpack(a)
    return t if device is None else t.to(device)


def to_tensorflow(t: torch.Tensor) -> Any:
    """PyTorch -> TensorFlow through DLPack (TensorFlow imported lazily).

    :input t: Any shape, `torch.Tensor`.

    :output x: Same shape, dtype and device, `tf.Tensor`. A view of ``t``
        if it is contiguous; conjugate / negative views and strided tensors
        are copied first (TensorFlow takes only compact row-major buffers).
    """
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ImportError(_TF_MISSING.format(fn="to_tensorflow")) from err
    prepared, _ = prepare_for_export(t)
    prepared = prepared.contiguous()  # no-op (a view) unless strided
    return tf.experimental.dlpack.from_dlpack(prepared.__dlpack__())


def from_tensorflow(x: Any) -> torch.Tensor:
    """TensorFlow -> PyTorch through DLPack (TensorFlow imported lazily).

    :input x: Any shape, `tf.Tensor`.

    :output t: Same shape, dtype and device, `torch.Tensor`, a view of ``x``.
    """
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ImportError(_TF_MISSING.format(fn="from_tensorflow")) from err
    return torch.from_dlpack(tf.experimental.dlpack.to_dlpack(x))


def _data_ptr(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    if isinstance(x, np.ndarray):
        return x.__array_interface__["data"][0]
    raise TypeError(f"shares_memory takes torch tensors or numpy arrays, got {type(x).__name__}")


def shares_memory(a: Any, b: Any) -> bool:
    """Whether two tensors / arrays (any combination) start at the same address.

    Compares start pointers (``Tensor.data_ptr()``, the array interface's
    data address), so a view starting elsewhere in the buffer (``t[1:]``)
    counts as not shared; use ``np.shares_memory`` for overlap.

    :input a: `torch.Tensor` | `np.ndarray`.
    :input b: `torch.Tensor` | `np.ndarray`.

    :output shared: `bool`.
    """
    return _data_ptr(a) == _data_ptr(b)
