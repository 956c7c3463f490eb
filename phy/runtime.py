"""Device, precision and seed: the three run-wide settings of the PHY.

Sionna keeps its random generators in ``sionna.phy.config``; every block of
tokenlink draws from them (channel realizations, noise, bits), so one call
to :func:`set_seed` makes a run reproducible on a given device. The module
imports with both Sionna lines (2.x: PyTorch; 1.x: TensorFlow backend).
"""

from __future__ import annotations

import logging
import random
from typing import Callable, Optional

import numpy as np
import torch
from sionna.phy import config as sionna_config

__all__ = ["set_seed", "resolve_device", "rng_state", "set_rng_state", "torch_rng", "CompiledFunction"]

_log = logging.getLogger("tokenlink")

#: Torch generators per device where Sionna has none (Sionna 1.x, the TensorFlow
#: backend's environment): seeded by :func:`set_seed` like Sionna 2.x's own.
_TORCH_RNGS: dict[str, torch.Generator] = {}


def torch_rng(device: str) -> torch.Generator:
    """The torch generator the PHY and the bridge draw from on ``device``: Sionna 2.x's
    per-device generator, or with Sionna 1.x (TensorFlow backend) one of tokenlink's own,
    seeded from ``sionna.phy.config.seed`` (:func:`set_seed`)."""
    if hasattr(sionna_config, "torch_rng"):
        return sionna_config.torch_rng(device)
    if device not in _TORCH_RNGS:
        gen = torch.Generator(device=device)
        seed = sionna_config.seed
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed) % 2**63)
        _TORCH_RNGS[device] = gen
    return _TORCH_RNGS[device]


def set_seed(seed: int) -> None:
    """Seed Sionna's generators (per device), torch's global generator,
    NumPy's global generator and Python's ``random``.

    :param seed: Integer in ``[0, 2**64 - 1]``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sionna_config.seed = seed  # Sionna 1.x: resets its TensorFlow generator in place
    _TORCH_RNGS.clear()
    torch.manual_seed(seed % 2**63)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state(device: str) -> torch.Tensor:
    """State of the generator every PHY block draws from on ``device``
    (Sionna's per-device generator: channel realizations, noise, bits).

    Save it with a checkpoint and give it back to :func:`set_rng_state` to
    continue the same random stream.

    :param device: ``"cpu"`` or ``"cuda:N"``.
    :output state: [n], ``torch.uint8``, on the CPU.
    """
    return torch_rng(device).get_state()


def set_rng_state(state: torch.Tensor, device: str) -> None:
    """Restore a state returned by :func:`rng_state` for the same ``device``."""
    torch_rng(device).set_state(state)


def resolve_device(device: Optional[str] = None) -> str:
    """Torch device string from a user setting.

    :param device: `None` (Sionna's ``config.device``, which itself
        defaults to the first GPU when present, else the CPU), ``"auto"``
        (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` (first GPU) or
        ``"cuda:N"``.
    :output device: ``"cpu"`` or ``"cuda:N"``.
    """
    if device is None:
        return getattr(sionna_config, "device", "cpu")  # Sionna 1.x (TensorFlow backend): the CPU
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = "cuda:0"
    if device == "cpu":
        return device
    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available; use 'cpu'")
        if int(device[5:]) >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) present"
            )
        return device
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


class CompiledFunction:
    """``torch.compile(fn)`` that falls back to ``eager`` for good when
    compiling or running the compiled code fails, with a one-line notice on
    the ``tokenlink`` logger (e.g. no C++ compiler for inductor on CPU).

    Compilation happens at the first call (seconds to tens of seconds) and
    again for new dtypes or devices; batch sizes are dynamic. ``eager`` must
    compute the same outputs from the same inputs.
    """

    def __init__(self, fn: Callable, eager: Callable, name: str) -> None:
        self.name = name
        self._compiled: Optional[Callable] = torch.compile(fn, dynamic=True)
        self._eager = eager

    @property
    def active(self) -> bool:
        """`False` once the eager fallback has taken over."""
        return self._compiled is not None

    def __call__(self, *args):
        if self._compiled is not None:
            try:
                return self._compiled(*args)
            except Exception as err:  # any backend failure: run eager from now on
                self._compiled = None
                reason = " ".join(f"{type(err).__name__}: {err}".split())[:200]
                _log.warning("tokenlink: torch.compile of %s failed, running eager (%s)", self.name, reason)
        return self._eager(*args)
