"""tokenlink.phy: the uncoded (LDPC-free) single-stream OFDM link on Sionna.

Modules, in the order data flows through them:

* :mod:`~tokenlink.phy.config`   -- validated parameters (pydantic)
* :mod:`~tokenlink.phy.grid`     -- resource grid of one slot
* :mod:`~tokenlink.phy.channels` -- AWGN, Rayleigh, Rician, TDL, CDL responses
* :mod:`~tokenlink.phy.receiver` -- perfect / LS / LMMSE CSI, ZF / LMMSE equalizer
* :mod:`~tokenlink.phy.fast`     -- the same for one stream, elementwise; fast mapper and demapper
* :mod:`~tokenlink.phy.bits`     -- integer indices <-> bits (MSB first)
* :mod:`~tokenlink.phy.bank`     -- a bank of channel realizations for training
* :mod:`~tokenlink.phy.link`     -- :class:`OFDMLink`, the whole chain
* :mod:`~tokenlink.phy.snr`      -- Es/N0, Eb/N0 and link-budget SNR conventions
* :mod:`~tokenlink.phy.theory`   -- closed-form BER
* :mod:`~tokenlink.phy.ber`      -- batched Monte-Carlo BER sweeps
"""

from .ber import BERCurve, simulate_ber
from .config import ChannelConfig, GridConfig, PhyConfig, ReceiverConfig
from .link import LinkOutput, OFDMLink
from .runtime import resolve_device, set_seed
from .snr import LinkBudget, ebno_db_to_esno_db, esno_db_to_ebno_db, esno_db_to_no, no_to_esno_db

__all__ = [
    "BERCurve",
    "ChannelConfig",
    "GridConfig",
    "LinkBudget",
    "LinkOutput",
    "OFDMLink",
    "PhyConfig",
    "ReceiverConfig",
    "ebno_db_to_esno_db",
    "esno_db_to_ebno_db",
    "esno_db_to_no",
    "no_to_esno_db",
    "resolve_device",
    "set_seed",
    "simulate_ber",
]
