r"""SNR conventions of tokenlink, in one place.

**Es/N0 per resource element** (the SNR every link call takes, as ``no``):
complex baseband, constellations with unit average energy ``Es = 1``,
channels with unit average gain, ``no`` is the noise variance per complex
symbol (``no/2`` per real dimension). Hence ``no = 10**(-esno_db/10)``.

**Eb/N0**: ``Es/N0 = Eb/N0 * bits_per_symbol * coderate`` (``coderate = 1``:
our links are uncoded). Optionally the energy spent on pilots and the cyclic
prefix is charged to the data bits, exactly as Sionna's
:func:`~sionna.phy.utils.ebnodb2no` does when given a resource grid:
``Es_eff = num_ofdm_symbols (1 + cp/fft_size) num_effective_subcarriers /
num_data_symbols / num_streams_per_tx``, and ``Eb/N0 = Es/N0 / (Es_eff ...)``.

**Link-budget ("realistic") SNR**:

.. math::
    \mathrm{SNR_{dB}} = P_{tx} + G_{tx} + G_{rx} - PL - S - N_{th},\qquad
    N_{th} = -174 + 10\log_{10} B + NF

with transmit power ``P_tx`` [dBm], antenna gains [dBi], path loss ``PL``
[dB] (free space or 3GPP TR 38.901 UMa/UMi LOS/NLOS), log-normal shadowing
``S ~ N(0, sigma^2)`` [dB], bandwidth ``B`` [Hz] and noise figure ``NF``
[dB]. Shadowing is drawn per frame (one batch sample: a slot of the PHY, a
frame of tokens), from its own generator stream (:class:`Shadowing`); the
*mean* link-budget SNR is the one without it (``S = 0``). If the power is spread evenly over the occupied subcarriers and ``B``
is the occupied bandwidth ``num_effective_subcarriers * subcarrier_spacing``,
this SNR *is* Es/N0 per resource element: a subcarrier gets ``P/N_sc``
watts, an RE lasts ``1/Δf`` seconds (useful part), so ``Es/N0 = P/(N_sc Δf
N0) = P/(B N0)``.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Literal, Optional, Sequence, Union

import numpy as np
from pydantic import NonNegativeFloat, PositiveFloat, model_validator

from ..common.config import StrictConfig

if TYPE_CHECKING:
    import torch

__all__ = [
    "THERMAL_NOISE_DBM_PER_HZ",
    "PATH_LOSS_MODELS",
    "esno_db_to_no",
    "no_to_esno_db",
    "ebno_db_to_esno_db",
    "esno_db_to_ebno_db",
    "ebno_db_to_no",
    "thermal_noise_dbm",
    "path_loss_db",
    "default_shadowing_std_db",
    "SHADOWING_MODES",
    "Shadowing",
    "LinkBudget",
]

# torch is imported only to draw shadowing (LinkBudget.sample_snr_db): the
# scenario schema and the CLI use these conversions without loading it. A
# tensor argument means torch is loaded already (_is_tensor).
Scalar = Union[float, np.ndarray, "torch.Tensor"]

#: Thermal noise density used in link budgets. kT at 290 K is -173.98 dBm/Hz;
#: the conventional round value is used.
THERMAL_NOISE_DBM_PER_HZ = -174.0
SPEED_OF_LIGHT_MPS = 299_792_458.0

PathLossModel = Literal["free_space", "uma_los", "uma_nlos", "umi_los", "umi_nlos"]
PATH_LOSS_MODELS = ("free_space", "uma_los", "uma_nlos", "umi_los", "umi_nlos")
#: ``LinkBudget.shadowing``: draw ``S`` per frame, or use the mean SNR only.
SHADOWING_MODES = ("per_frame", "off")
ShadowingMode = Literal["per_frame", "off"]
_SHADOWING_STD_DB = {"free_space": 0.0, "uma_los": 4.0, "uma_nlos": 6.0, "umi_los": 4.0, "umi_nlos": 7.82}
_DEFAULT_H_BS_M = {"uma": 25.0, "umi": 10.0}


def _is_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _log10(x: Scalar) -> Scalar:
    return sys.modules["torch"].log10(x) if _is_tensor(x) else np.log10(x)


def esno_db_to_no(esno_db: Scalar) -> Scalar:
    """Noise variance per complex RE for unit-energy symbols: ``10**(-esno_db/10)``."""
    return 10.0 ** (-esno_db / 10.0)


def no_to_esno_db(no: Scalar) -> Scalar:
    """Es/N0 [dB] of a noise variance ``no`` (unit-energy symbols): ``-10 log10(no)``."""
    return -10.0 * _log10(no)


def _energy_per_symbol(resource_grid) -> float:
    """Transmitted energy per data symbol, counting pilots and the cyclic prefix."""
    if resource_grid is None:
        return 1.0
    cp_overhead = resource_grid.cyclic_prefix_length / resource_grid.fft_size
    num_syms = resource_grid.num_ofdm_symbols * (1 + cp_overhead) * resource_grid.num_effective_subcarriers
    return num_syms / resource_grid.num_data_symbols / resource_grid.num_streams_per_tx


def _esno_minus_ebno_db(num_bits_per_symbol: int, coderate: float, resource_grid) -> float:
    """``esno_db - ebno_db``: ``10 log10(bits_per_symbol * coderate / Es_eff)``."""
    if isinstance(num_bits_per_symbol, bool) or not isinstance(num_bits_per_symbol, int) or num_bits_per_symbol < 1:
        raise ValueError(f"num_bits_per_symbol must be a positive integer, got {num_bits_per_symbol!r}")
    if not 0 < coderate <= 1:
        raise ValueError(f"coderate must be in (0, 1], got {coderate}")
    return 10.0 * math.log10(num_bits_per_symbol * coderate / _energy_per_symbol(resource_grid))


def ebno_db_to_esno_db(
    ebno_db: Scalar, num_bits_per_symbol: int, coderate: float = 1.0, resource_grid=None
) -> Scalar:
    """Es/N0 per data RE [dB] from Eb/N0 [dB].

    :param ebno_db: Eb/N0 [dB].
    :param num_bits_per_symbol: Bits per constellation symbol.
    :param coderate: Code rate (1 for uncoded links).
    :param resource_grid: `None`, or a Sionna ``ResourceGrid`` whose pilot and
        cyclic-prefix energy is charged to the data bits.
    """
    return ebno_db + _esno_minus_ebno_db(num_bits_per_symbol, coderate, resource_grid)


def esno_db_to_ebno_db(
    esno_db: Scalar, num_bits_per_symbol: int, coderate: float = 1.0, resource_grid=None
) -> Scalar:
    """Inverse of :func:`ebno_db_to_esno_db`."""
    return esno_db - _esno_minus_ebno_db(num_bits_per_symbol, coderate, resource_grid)


def ebno_db_to_no(
    ebno_db: Scalar, num_bits_per_symbol: int, coderate: float = 1.0, resource_grid=None
) -> Scalar:
    """Noise variance per complex RE from Eb/N0 [dB]; equals Sionna's ``ebnodb2no``."""
    return esno_db_to_no(ebno_db_to_esno_db(ebno_db, num_bits_per_symbol, coderate, resource_grid))


def thermal_noise_dbm(bandwidth_hz: float, noise_figure_db: float = 0.0) -> float:
    """Noise power [dBm] in ``bandwidth_hz``: ``-174 + 10 log10(B) + NF``."""
    if not bandwidth_hz > 0:
        raise ValueError(f"bandwidth_hz must be > 0, got {bandwidth_hz}")
    return THERMAL_NOISE_DBM_PER_HZ + 10.0 * math.log10(bandwidth_hz) + noise_figure_db


def default_shadowing_std_db(model: str) -> float:
    """Shadow-fading standard deviation [dB] of TR 38.901 Table 7.4.1-1."""
    _check_model(model)
    return _SHADOWING_STD_DB[model]


def _check_model(model: str) -> None:
    if model not in PATH_LOSS_MODELS:
        raise ValueError(f"path_loss_model must be one of {', '.join(PATH_LOSS_MODELS)}; got {model!r}")


def path_loss_db(
    model: str,
    distance_m: Scalar,
    carrier_frequency_hz: float,
    h_bs_m: Optional[float] = None,
    h_ut_m: float = 1.5,
) -> Scalar:
    """Path loss [dB], free space or 3GPP TR 38.901 Table 7.4.1-1.

    ``distance_m`` is the 2-D ground distance ``d2D`` (vectorized: float,
    NumPy array or torch tensor); ``d3D = sqrt(d2D^2 + (h_bs - h_ut)^2)``.
    UMi is Street Canyon. The breakpoint distance uses an effective
    environment height ``h_E = 1 m`` (38.901 draws ``h_E`` for UMa; it is 1 m
    for UE heights below 13 m). NLOS is ``max(PL_LOS, PL'_NLOS)``.

    :param model: ``"free_space"``, ``"uma_los"``, ``"uma_nlos"``,
        ``"umi_los"`` or ``"umi_nlos"``.
    :param distance_m: 2-D distance [m]: 10..5000 m for the 3GPP models.
    :param carrier_frequency_hz: Carrier frequency [Hz]: 0.5..100 GHz for the 3GPP models.
    :param h_bs_m: Base-station height [m]; default 25 (UMa), 10 (UMi),
        ``h_ut_m`` (free space: ground distance is the link distance).
    :param h_ut_m: UE height [m], default 1.5.
    """
    _check_model(model)
    family = model.split("_")[0]
    if h_bs_m is None:
        h_bs_m = _DEFAULT_H_BS_M.get(family, h_ut_m)
    if not (h_bs_m > 0 and h_ut_m > 0):
        raise ValueError(f"h_bs_m and h_ut_m must be > 0, got h_bs_m={h_bs_m}, h_ut_m={h_ut_m}")
    d2d = distance_m
    d_lo = float(d2d.min()) if hasattr(d2d, "min") else float(d2d)
    d_hi = float(d2d.max()) if hasattr(d2d, "max") else float(d2d)
    if family == "free":
        if not d_lo > 0 or not carrier_frequency_hz > 0:
            raise ValueError("distance_m and carrier_frequency_hz must be > 0 for free_space")
    else:
        if d_lo < 10.0 or d_hi > 5000.0:
            raise ValueError(f"distance_m must be within 10..5000 m for {model} (TR 38.901), got {d_lo:g}..{d_hi:g}")
        if not 0.5e9 <= carrier_frequency_hz <= 100e9:
            raise ValueError(
                f"carrier_frequency_hz must be within 0.5..100 GHz for {model} (TR 38.901), "
                f"got {carrier_frequency_hz:g}"
            )
    d3d = (d2d**2 + (h_bs_m - h_ut_m) ** 2) ** 0.5
    fc_ghz = carrier_frequency_hz / 1e9
    if family == "free":
        return 20.0 * _log10(4 * math.pi * d3d * carrier_frequency_hz / SPEED_OF_LIGHT_MPS)

    d_bp = 4.0 * (h_bs_m - 1.0) * (h_ut_m - 1.0) * carrier_frequency_hz / SPEED_OF_LIGHT_MPS
    dh2 = (h_bs_m - h_ut_m) ** 2
    array_module = sys.modules["torch"] if _is_tensor(d2d) else np
    where, maximum = array_module.where, array_module.maximum
    if family == "uma":
        pl1 = 28.0 + 22.0 * _log10(d3d) + 20.0 * math.log10(fc_ghz)
        pl2 = 28.0 + 40.0 * _log10(d3d) + 20.0 * math.log10(fc_ghz) - 9.0 * math.log10(d_bp**2 + dh2)
    else:
        pl1 = 32.4 + 21.0 * _log10(d3d) + 20.0 * math.log10(fc_ghz)
        pl2 = 32.4 + 40.0 * _log10(d3d) + 20.0 * math.log10(fc_ghz) - 9.5 * math.log10(d_bp**2 + dh2)
    pl_los = where(d2d <= d_bp, pl1, pl2)
    if model.endswith("los") and not model.endswith("nlos"):
        return pl_los if hasattr(d2d, "shape") else float(pl_los)
    if family == "uma":
        pl_nlos = 13.54 + 39.08 * _log10(d3d) + 20.0 * math.log10(fc_ghz) - 0.6 * (h_ut_m - 1.5)
    else:
        pl_nlos = 35.3 * _log10(d3d) + 22.4 + 21.3 * math.log10(fc_ghz) - 0.3 * (h_ut_m - 1.5)
    out = maximum(pl_los, pl_nlos) if hasattr(d2d, "shape") else max(float(pl_los), float(pl_nlos))
    return out


class Shadowing:
    """Log-normal shadowing drawn per frame: ``S ~ N(0, std_db^2)`` [dB], i.i.d.,
    from its own NumPy stream (``numpy.random.default_rng(seed)``), so it is the
    same on every device and leaves every other random stream (bits, channels,
    noise) as it is.

    Frames are drawn in order: the ``n``-th frame's ``S`` depends on ``seed``
    and ``n`` alone, not on how the frames are split into batches.

    :param std_db: standard deviation [dB], ``>= 0`` (``0``: no shadowing, ``S = 0``).
    :param seed: seed of the stream (an int, or a sequence of ints such as ``[seed, user]``).
    """

    def __init__(self, std_db: float, seed: Union[int, Sequence[int]]) -> None:
        if not (std_db >= 0 and math.isfinite(std_db)):
            raise ValueError(f"std_db must be a finite number >= 0, got {std_db}")
        self.std_db = float(std_db)
        self._rng = np.random.default_rng(seed)

    def draw_db(self, num_frames: int) -> np.ndarray:
        """``S`` of the next ``num_frames`` frames [dB], float64 ``[num_frames]``."""
        if self.std_db == 0:
            return np.zeros(num_frames)
        return self.std_db * self._rng.standard_normal(num_frames)

    def esno_db(self, mean_esno_db: float, num_frames: int) -> np.ndarray:
        """Es/N0 of the next ``num_frames`` frames [dB]: ``mean_esno_db - S``, float64 ``[num_frames]``."""
        return mean_esno_db - self.draw_db(num_frames)


class LinkBudget(StrictConfig):
    """SNR from transmit power, path loss, shadowing and receiver noise.

    All powers in dBm, gains in dBi, losses and noise figure in dB. With
    ``bandwidth_hz`` equal to the grid's occupied bandwidth, the SNR is Es/N0
    per resource element (module docstring). The default bandwidth is that of
    the default grid: 76 subcarriers x 30 kHz = 2.28 MHz.

    ``shadowing``: ``"per_frame"`` draws log-normal shadowing with standard
    deviation ``shadowing_std_db`` (`None`: the path-loss model's, TR 38.901)
    for every frame; ``"off"`` uses the mean SNR alone.
    """

    tx_power_dbm: float = 23.0
    carrier_frequency_hz: PositiveFloat = 3.5e9
    distance_m: PositiveFloat = 100.0
    path_loss_model: PathLossModel = "uma_nlos"
    h_bs_m: Optional[PositiveFloat] = None
    h_ut_m: PositiveFloat = 1.5
    shadowing_std_db: Optional[NonNegativeFloat] = None
    shadowing: ShadowingMode = "per_frame"
    tx_antenna_gain_dbi: float = 0.0
    rx_antenna_gain_dbi: float = 0.0
    noise_figure_db: float = 7.0
    bandwidth_hz: PositiveFloat = 2.28e6

    @model_validator(mode="after")
    def _check_validity_range(self) -> "LinkBudget":
        self.path_loss_db()  # distance and frequency within the model's range
        return self

    def path_loss_db(self) -> float:
        """Path loss [dB] of the configured model at ``distance_m``."""
        return float(path_loss_db(self.path_loss_model, self.distance_m, self.carrier_frequency_hz,
                                  self.h_bs_m, self.h_ut_m))

    def noise_power_dbm(self) -> float:
        """Receiver noise power [dBm] in ``bandwidth_hz`` with ``noise_figure_db``."""
        return thermal_noise_dbm(self.bandwidth_hz, self.noise_figure_db)

    @property
    def shadowing_sigma_db(self) -> float:
        """Shadowing standard deviation in use [dB] (model default if not set)."""
        if self.shadowing_std_db is not None:
            return self.shadowing_std_db
        return default_shadowing_std_db(self.path_loss_model)

    @property
    def frame_shadowing_std_db(self) -> float:
        """Standard deviation of the shadowing drawn per frame [dB]: :attr:`shadowing_sigma_db`,
        or 0 with ``shadowing: off``."""
        return self.shadowing_sigma_db if self.shadowing == "per_frame" else 0.0

    def mean_snr_db(self) -> float:
        """SNR [dB] without shadowing."""
        return (self.tx_power_dbm + self.tx_antenna_gain_dbi + self.rx_antenna_gain_dbi
                - self.path_loss_db() - self.noise_power_dbm())

    def sample_snr_db(
        self,
        batch_size: int,
        generator: Optional[torch.Generator] = None,
        dtype: Optional[torch.dtype] = None,
        device: str = "cpu",
    ) -> torch.Tensor:
        """One SNR [dB] per batch sample with i.i.d. log-normal shadowing (from a torch
        generator; the runner draws with :class:`Shadowing` instead).

        :param dtype: of the output; `None` is ``torch.float32``
        :output snr_db: [batch_size], ``mean_snr_db() - S``, ``S ~ N(0, sigma^2)`` dB,
            ``sigma`` = :attr:`frame_shadowing_std_db`.
        """
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        shadow = torch.randn(batch_size, generator=generator, dtype=torch.float32 if dtype is None else dtype,
                             device=device)
        return self.mean_snr_db() - self.frame_shadowing_std_db * shadow

    def summary(self) -> dict:
        """Every term of the budget, for logs and traces."""
        return {
            **self.model_dump(mode="json"),
            "path_loss_db": self.path_loss_db(),
            "noise_power_dbm": self.noise_power_dbm(),
            "shadowing_sigma_db": self.shadowing_sigma_db,
            "frame_shadowing_std_db": self.frame_shadowing_std_db,
            "mean_snr_db": self.mean_snr_db(),
        }
