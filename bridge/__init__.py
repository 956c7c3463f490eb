"""tokenlink.bridge: PyTorch tokens <-> channel symbols (analog and digital),
DLPack exchange, and the differentiable link layer.

Sits between :mod:`tokenlink.semantic` and :mod:`tokenlink.phy`; it knows
nothing about tasks or models. Modules, in the order data flows:

* :mod:`~tokenlink.bridge.config`       -- validated options (pydantic)
* :mod:`~tokenlink.bridge.analog`       -- token values <-> unit-power complex symbols
* :mod:`~tokenlink.bridge.quantization` -- scalar / vector quantizers, bits, soft decoding
* :mod:`~tokenlink.bridge.framing`      -- frames of symbols or bits onto OFDM slots
* :mod:`~tokenlink.bridge.layer`        -- :class:`TokenLink`, the ``nn.Module``
* :mod:`~tokenlink.bridge.metrics`      -- BER, token error rate, (N)MSE per sample
* :mod:`~tokenlink.bridge.resources`    -- channel uses, slots, airtime, spectral efficiency
* :mod:`~tokenlink.bridge.dlpack`       -- zero-copy PyTorch <-> NumPy (<-> TensorFlow)
* :mod:`~tokenlink.bridge.runtime`      -- the link's random state, saved and restored (from phy)
"""

from .analog import AnalogMapper, symbols_per_token
from .config import AnalogConfig, DigitalConfig, TokenLinkConfig
from .dlpack import from_numpy, shares_memory, to_numpy
from .layer import Realization, TokenLink, TokenLinkOutput
from .metrics import LinkMetrics, bit_error_rate, link_metrics, mse, nmse, token_error_rate
from .quantization import ScalarQuantizer, VectorQuantizer
from .resources import ResourceUsage
from .runtime import rng_state, set_rng_state

__all__ = [
    "AnalogConfig",
    "AnalogMapper",
    "DigitalConfig",
    "LinkMetrics",
    "Realization",
    "ResourceUsage",
    "ScalarQuantizer",
    "TokenLink",
    "TokenLinkConfig",
    "TokenLinkOutput",
    "VectorQuantizer",
    "bit_error_rate",
    "from_numpy",
    "link_metrics",
    "mse",
    "nmse",
    "rng_state",
    "set_rng_state",
    "shares_memory",
    "symbols_per_token",
    "to_numpy",
    "token_error_rate",
]
