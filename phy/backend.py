"""The link of ``phy.backend``: :class:`~tokenlink.phy.link.OFDMLink` (``"torch"``, Sionna 2.x)
or :class:`~tokenlink.phy.tf_link.TFOFDMLink` (``"tensorflow"``, Sionna 1.x compiled with XLA).

Both modules are imported here, on demand, so that ``tokenlink.phy`` imports in
either environment: ``.venv`` (Sionna 2.x) has no TensorFlow, and ``.venv-tf``
(``make venv-tf``: TensorFlow, Sionna 1.x) cannot build the torch link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from .config import BACKENDS, PhyConfig

if TYPE_CHECKING:
    from .allocation import Allocation

__all__ = ["build_link", "TF_ENV_COMMAND"]

#: The one command that creates the TensorFlow backend's environment (.venv-tf).
TF_ENV_COMMAND = "make venv-tf"


def build_link(
    config: Union[PhyConfig, dict, None] = None,
    precision: Optional[str] = None,
    device: Optional[str] = None,
    allocation: Optional["Allocation"] = None,
) -> Any:
    """The OFDM link of ``config.backend``, built with the same arguments as
    :class:`~tokenlink.phy.link.OFDMLink` (both links have the same call
    signature and the same methods used by :mod:`tokenlink.bridge`).

    :raises ImportError: one line naming ``make venv-tf`` when the backend is
        ``"tensorflow"`` and TensorFlow or Sionna 1.x is not installed here.
    """
    if config is None:
        config = PhyConfig()
    elif isinstance(config, dict):
        config = PhyConfig(**config)
    if config.backend not in BACKENDS:  # unreachable through PhyConfig; kept for model_construct
        raise ValueError(f"phy.backend must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
    if config.backend == "tensorflow":
        try:
            from .tf_link import TFOFDMLink
        except ImportError as err:
            raise ImportError(
                f"phy.backend 'tensorflow' needs TensorFlow and Sionna 1.x, not installed here ({err}); "
                f"create their environment with `{TF_ENV_COMMAND}` and run with .venv-tf/bin/python"
            ) from None
        return TFOFDMLink(config, precision=precision, device=device, allocation=allocation)
    from .link import OFDMLink

    return OFDMLink(config, precision=precision, device=device, allocation=allocation)
