"""tokenlink.bridge: PyTorch tokens <-> channel symbols (analog and digital),
DLPack exchange, and the differentiable link layer.

Sits between :mod:`tokenlink.semantic` and :mod:`tokenlink.phy`; it knows
nothing about tasks or models. Modules, in the order data flows:

* :mod:`~tokenlink.bridge.config`       -- validated options (pydantic)
* :mod:`~tokenlink.bridge.analog`       -- token values <-> unit-power complex symbols
* :mod:`~tokenlink.bridge.quantization` -- scalar / vector quantizers, bits, soft decoding
* :mod:`~tokenlink.bridge.framing`      -- frames of symbols or bits onto OFDM slots
* :mod:`~tokenlink.bridge.layer`        -- :class:`TokenLink`, the ``nn.Module``
* :mod:`~tokenlink.bridge.network`      -- :class:`MultiUserTokenLink`, one token link per OFDMA device
* :mod:`~tokenlink.bridge.embedding_awgn` -- :class:`EmbeddingAWGN`, paper A's public-code channel (training only)
* :mod:`~tokenlink.bridge.metrics`      -- BER, token error rate, (N)MSE per sample
* :mod:`~tokenlink.bridge.resources`    -- channel uses, slots, airtime, spectral efficiency
* :mod:`~tokenlink.bridge.dlpack`       -- zero-copy PyTorch <-> NumPy (<-> TensorFlow)
* :mod:`~tokenlink.bridge.runtime`      -- the link's random state, saved and restored (from phy)
"""

from ..common.lazy import lazy_namespace

# Lazy: public name -> module. The config module imports without torch and
# Sionna; the link's modules load when a name that needs them is used.
_EXPORTS = {
    "AnalogMapper": "analog",
    "symbols_per_token": "analog",
    "AnalogConfig": "config",
    "DigitalConfig": "config",
    "EmbeddingAWGN": "embedding_awgn",
    "TokenLinkConfig": "config",
    "from_numpy": "dlpack",
    "shares_memory": "dlpack",
    "to_numpy": "dlpack",
    "Realization": "layer",
    "TokenLink": "layer",
    "TokenLinkOutput": "layer",
    "CodesOutput": "layer",
    "LinkMetrics": "metrics",
    "bit_error_rate": "metrics",
    "link_metrics": "metrics",
    "mse": "metrics",
    "MultiUserTokenLink": "network",
    "nmse": "metrics",
    "token_error_rate": "metrics",
    "ScalarQuantizer": "quantization",
    "VectorQuantizer": "quantization",
    "ResourceUsage": "resources",
    "rng_state": "runtime",
    "set_rng_state": "runtime",
}
_SUBMODULES = ("analog", "config", "dlpack", "embedding_awgn", "framing", "layer", "metrics", "network", "quantization", "resources", "runtime")

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, _SUBMODULES)
del lazy_namespace
