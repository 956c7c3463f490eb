"""Zero-copy exchange of tensors between PyTorch, NumPy and TensorFlow (DLPack).

Tokens, symbols, channel frequency responses and LLRs live in PyTorch (Sionna
2.x is PyTorch-native). Traces need NumPy arrays (h5py); a TensorFlow model
of a user's own can take them too. DLPack hands over the buffer itself:

* CPU tensor -> NumPy, NumPy -> CPU tensor: views, no copy, for every dtype
  tokenlink uses (float32/64, complex64/128, int64, bool), any rank, and
  strided (transposed, step-sliced) tensors.
* ``requires_grad`` tensors are detached first: still a view.
* A copy is unavoidable for: conjugate views (``x.conj()`` sets a lazy
  conjugate bit that DLPack cannot express: ``resolve_conj`` materializes
  it), negative views (``resolve_neg``), CUDA tensors to NumPy (device ->
  host), NumPy to a CUDA device, and read-only NumPy arrays to PyTorch
  (PyTorch tensors are writable; we copy rather than alias read-only memory).
* Formats without complex numbers can take ``torch.view_as_real(x)`` (a
  view: ``[..., 2]`` float pairs); h5py stores complex natively.

``shares_memory`` compares the start of the data buffers (data pointers).
See docs/dlpack.md.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import torch

__all__ = ["prepare_for_export", "to_numpy", "from_numpy", "to_tensorflow", "from_tensorflow", "shares_memory"]

_TF_MISSING = (
    "{fn} needs TensorFlow, which is not installed (it cannot share an environment with "
    "Sionna 2.x: both Sionna lines import as 'sionna'); use it from a process of your own"
)


def prepare_for_export(t: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A tensor DLPack can export, and whether a copy was needed.

    ``requires_grad`` -> ``detach()`` (view); conjugate bit -> ``resolve_conj()``
    (copy); negative bit -> ``resolve_neg()`` (copy). Strided tensors stay views.
    """
    copied = False
    t = t.detach()
    if t.is_conj():
        t, copied = t.resolve_conj(), True
    if t.is_neg():
        t, copied = t.resolve_neg(), True
    return t, copied


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """PyTorch -> NumPy; a view on CPU (see the module doc for the copies)."""
    t, _ = prepare_for_export(t)
    if t.device.type != "cpu":
        t = t.cpu()  # device -> host: a copy
    return np.from_dlpack(t)


def from_numpy(a: np.ndarray, device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """NumPy -> PyTorch; a view on CPU. Read-only arrays and other devices copy."""
    if not a.flags.writeable:
        a = a.copy()
    t = torch.from_dlpack(a)
    return t if device is None else t.to(device)


def to_tensorflow(t: torch.Tensor) -> Any:
    """PyTorch -> TensorFlow through DLPack (a view on CPU, same copy rules)."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ImportError(_TF_MISSING.format(fn="to_tensorflow")) from err
    t, _ = prepare_for_export(t)
    return tf.experimental.dlpack.from_dlpack(t.contiguous().__dlpack__())


def from_tensorflow(x: Any) -> torch.Tensor:
    """TensorFlow -> PyTorch through DLPack (a view on the same device)."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ImportError(_TF_MISSING.format(fn="from_tensorflow")) from err
    return torch.from_dlpack(tf.experimental.dlpack.to_dlpack(x))


def _data_ptr(x: Any) -> Optional[int]:
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    if isinstance(x, np.ndarray):
        return x.__array_interface__["data"][0]
    raise TypeError(f"shares_memory takes torch tensors or numpy arrays, got {type(x).__name__}")


def shares_memory(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` (tensors or arrays) start at the same data address."""
    return _data_ptr(a) == _data_ptr(b)
