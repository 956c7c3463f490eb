"""The PHY's run-wide random state, for the layers above the bridge.

:mod:`tokenlink.semantic` reaches the channel only through the bridge; a
training loop that checkpoints and resumes needs the state of the generator
the link draws from (noise, channel realizations, SNR draws, bank sampling).
These are :func:`tokenlink.phy.runtime.rng_state` and
:func:`~tokenlink.phy.runtime.set_rng_state`, re-exported.
"""

from __future__ import annotations

from ..phy.runtime import rng_state, set_rng_state

__all__ = ["rng_state", "set_rng_state"]
