"""Log-mel spectrograms in PyTorch: the front end of :class:`~tokenlink.semantic.encoders.AudioEncoder`.

The mel scale is HTK's, ``mel(f) = 2595 log10(1 + f / 700)``, and the filters
are triangles of peak 1 on that scale (no area normalisation), the same
filters as ``torchaudio.functional.melscale_fbanks(..., norm=None,
mel_scale="htk")`` (transposed). Everything is plain ``torch``: it runs on CPU
and CUDA, in float32 or float64, and is differentiable.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

__all__ = ["hz_to_mel", "mel_to_hz", "mel_filterbank", "LogMelSpectrogram"]


def hz_to_mel(freq_hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``; ``freq_hz`` in Hz."""
    return 2595.0 * torch.log10(1.0 + freq_hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel` [Hz]."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate_hz: int,
    n_fft: int,
    n_mels: int,
    f_min_hz: float = 0.0,
    f_max_hz: Optional[float] = None,
    dtype: torch.dtype = torch.float32,
    device: Optional[torch.device | str] = None,
) -> torch.Tensor:
    """Triangular HTK-mel filters on the bins of a one-sided FFT.

    Filter ``m`` rises linearly from 0 at centre frequency ``m - 1`` to 1 at
    centre ``m`` and falls to 0 at centre ``m + 1``; the ``n_mels + 2`` edge and
    centre frequencies are equally spaced in mel from ``f_min_hz`` to
    ``f_max_hz``. FFT bin ``k`` sits at ``k * sample_rate_hz / n_fft`` Hz.

    :param sample_rate_hz: Sample rate [Hz].
    :param n_fft: FFT length [samples]; the filters cover its ``n_fft // 2 + 1`` bins.
    :param n_mels: Number of mel filters.
    :param f_min_hz: Lower edge of the first filter [Hz].
    :param f_max_hz: Upper edge of the last filter [Hz]; `None`: ``sample_rate_hz / 2``.
    :param dtype: Floating dtype of the result.
    :param device: Device of the result.

    :output fbank: [n_mels, n_fft // 2 + 1], ``dtype``. Non-negative filter
        weights, peak value at most 1; ``fbank @ power_spectrum`` is the mel
        power spectrum.
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"semantic.audio.sample_rate_hz: got {sample_rate_hz}; allowed: > 0")
    if n_fft < 2:
        raise ValueError(f"semantic.audio.n_fft: got {n_fft}; allowed: >= 2")
    if n_mels < 1:
        raise ValueError(f"semantic.audio.n_mels: got {n_mels}; allowed: >= 1")
    nyquist = sample_rate_hz / 2.0
    f_max = nyquist if f_max_hz is None else float(f_max_hz)
    if not 0.0 <= f_min_hz < f_max <= nyquist:
        raise ValueError(
            f"semantic.audio.f_min_hz/f_max_hz: got {f_min_hz}/{f_max} Hz; "
            f"allowed: 0 <= f_min_hz < f_max_hz <= {nyquist} (Nyquist)"
        )
    # Built in float64 on the CPU, then cast: the filters are made once.
    n_freqs = n_fft // 2 + 1
    freqs = torch.arange(n_freqs, dtype=torch.float64) * (sample_rate_hz / n_fft)
    mel_lo = hz_to_mel(torch.tensor(float(f_min_hz), dtype=torch.float64))
    mel_hi = hz_to_mel(torch.tensor(f_max, dtype=torch.float64))
    f_pts = mel_to_hz(torch.linspace(float(mel_lo), float(mel_hi), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = f_pts[:-2, None], f_pts[1:-1, None], f_pts[2:, None]   # [n_mels, 1]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    fbank = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return fbank.to(dtype=dtype, device=device)


class LogMelSpectrogram(nn.Module):
    r"""Log mel power spectrogram of a batch of waveforms.

    ``log(fbank @ |STFT(x)|^2 + eps)`` with a periodic Hann window, frames
    centred on ``t * hop_length`` (reflection padding, as ``torch.stft`` with
    ``center=True``), HTK-mel filters from :func:`mel_filterbank`.

    :param sample_rate_hz: Sample rate of the input [Hz].
    :param n_fft: FFT length [samples]; also the window length.
    :param hop_length: Frame advance [samples]; `None`: 10 ms
        (``sample_rate_hz // 100``), i.e. 101 frames per second of audio.
    :param n_mels: Number of mel bands.
    :param f_min_hz: Lowest frequency of the filterbank [Hz].
    :param f_max_hz: Highest frequency [Hz]; `None`: Nyquist.
    :param eps: Floor added to the mel power before the log (input units squared).

    :input waveform: [batch, num_samples], floating (float32 or float64),
        amplitude in [-1, 1] by convention; any device.

    :output log_mel: [batch, n_mels, num_frames], the input's dtype and device,
        ``num_frames = 1 + num_samples // hop_length``; natural log of the mel
        power (power = squared STFT magnitude, no scaling by the window).

    >>> mel = LogMelSpectrogram(16000, n_fft=512, n_mels=64)
    >>> mel(torch.zeros(2, 16000)).shape
    torch.Size([2, 64, 101])
    """

    def __init__(
        self,
        sample_rate_hz: int,
        n_fft: int = 512,
        hop_length: Optional[int] = None,
        n_mels: int = 64,
        f_min_hz: float = 0.0,
        f_max_hz: Optional[float] = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        hop = max(1, int(sample_rate_hz) // 100) if hop_length is None else int(hop_length)
        if hop < 1:
            raise ValueError(f"semantic.audio.hop_length: got {hop_length}; allowed: >= 1")
        self.sample_rate_hz = int(sample_rate_hz)
        self.n_fft = int(n_fft)
        self.hop_length = hop
        self.n_mels = int(n_mels)
        self.eps = float(eps)
        # Not persistent: rebuilt from the configuration, never stored in weights files.
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)
        self.register_buffer(
            "fbank", mel_filterbank(sample_rate_hz, n_fft, n_mels, f_min_hz, f_max_hz), persistent=False
        )

    def num_frames(self, num_samples: int) -> int:
        """Frames the spectrogram of ``num_samples`` samples has."""
        return 1 + int(num_samples) // self.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() != 2:
            raise ValueError(
                f"semantic.audio.waveform: got shape {list(waveform.shape)}; allowed: [batch, num_samples]"
            )
        if not waveform.is_floating_point():
            raise ValueError(f"semantic.audio.waveform: got dtype {waveform.dtype}; allowed: floating")
        if waveform.shape[-1] <= self.n_fft // 2:
            raise ValueError(
                f"semantic.audio.waveform: {waveform.shape[-1]} samples; allowed: more than n_fft/2 = "
                f"{self.n_fft // 2} (reflection padding)"
            )
        # stft wants float32/float64; half inputs are computed in float32.
        x = waveform if waveform.dtype in (torch.float32, torch.float64) else waveform.float()
        spec = torch.stft(
            x, self.n_fft, hop_length=self.hop_length, window=self.window.to(x.dtype),
            center=True, pad_mode="reflect", return_complex=True,
        )                                                        # [batch, n_fft//2+1, frames]
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.fbank.to(x.dtype), power)          # [batch, n_mels, frames]
        return torch.log(mel + self.eps).to(waveform.dtype)

    def extra_repr(self) -> str:
        return (f"sample_rate_hz={self.sample_rate_hz}, n_fft={self.n_fft}, "
                f"hop_length={self.hop_length}, n_mels={self.n_mels}")

