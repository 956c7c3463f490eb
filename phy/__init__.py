"""tokenlink.phy: the uncoded (LDPC-free) single-stream OFDM link on Sionna.

Modules, in the order data flows through them:

* :mod:`~tokenlink.phy.config`   -- validated parameters (pydantic)
* :mod:`~tokenlink.phy.grid`     -- resource grid of one slot
* :mod:`~tokenlink.phy.allocation` -- OFDMA resource blocks of several users in one slot (NumPy only)
* :mod:`~tokenlink.phy.multiuser` -- OFDMA uplink: users on their allocations, each with its own channel and SNR
* :mod:`~tokenlink.phy.channels` -- AWGN, Rayleigh, Rician, TDL, CDL responses
* :mod:`~tokenlink.phy.receiver` -- perfect / LS / LMMSE CSI, ZF / LMMSE equalizer
* :mod:`~tokenlink.phy.fast`     -- the same for one stream (and N_r antennas), elementwise
* :mod:`~tokenlink.phy.lmmse`    -- Sionna's separable LMMSE estimator, filters cached per noise variance
* :mod:`~tokenlink.phy.tdl_response` -- TDL frequency responses from Sionna's draws, computed directly
* :mod:`~tokenlink.phy.cdl_rays` -- Sionna's CDL with the NLOS rays summed directly
* :mod:`~tokenlink.phy.gather`   -- fixed RE gathers as row selections (the fast receiver's reads)
* :mod:`~tokenlink.phy.qam`      -- fast Gray-QAM mapper and separable demapper
* :mod:`~tokenlink.phy.mimo`     -- MU-MIMO uplink: several users on every RE, ZF / LMMSE across antennas
* :mod:`~tokenlink.phy.bits`     -- integer indices <-> bits (MSB first), uniform random bits
* :mod:`~tokenlink.phy.bank`     -- a bank of channel realizations for training
* :mod:`~tokenlink.phy.link`     -- :class:`OFDMLink`, the whole chain (torch backend, Sionna 2.x)
* :mod:`~tokenlink.phy.tf_link`  -- :class:`TFOFDMLink`, the same chain on Sionna 1.x (TensorFlow, XLA)
* :mod:`~tokenlink.phy.backend`  -- :func:`build_link`: the link of ``phy.backend``
* :mod:`~tokenlink.phy.link_io`  -- :class:`LinkOutput` and the ``no`` checks both links share
* :mod:`~tokenlink.phy.snr`      -- Es/N0, Eb/N0 and link-budget SNR conventions, shadowing draws
* :mod:`~tokenlink.phy.limits`   -- the channel-estimation error floor of a configuration (closed form)
* :mod:`~tokenlink.phy.theory`   -- closed-form BER
* :mod:`~tokenlink.phy.ber`      -- batched Monte-Carlo BER sweeps
"""

from ..common.lazy import lazy_namespace

# Lazy: public name -> module. `import tokenlink.phy` (and its config
# modules) stays free of torch and Sionna until a name that needs them is used.
_EXPORTS = {
    "BERCurve": "ber",
    "simulate_ber": "ber",
    "ChannelConfig": "config",
    "GridConfig": "config",
    "PhyConfig": "config",
    "ReceiverConfig": "config",
    "BaseStationConfig": "config",
    "LinkOutput": "link_io",
    "build_link": "backend",
    "OFDMLink": "link",
    "resolve_device": "runtime",
    "set_seed": "runtime",
    "LinkBudget": "snr",
    "ebno_db_to_esno_db": "snr",
    "esno_db_to_ebno_db": "snr",
    "esno_db_to_no": "snr",
    "no_to_esno_db": "snr",
}
_SUBMODULES = ("allocation", "backend", "bank", "ber", "bits", "channels", "config", "fast", "grid", "limits", "link",
               "link_io", "mimo", "multiuser", "qam", "receiver", "runtime", "snr", "tf_link", "theory")

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, _SUBMODULES)
del lazy_namespace
