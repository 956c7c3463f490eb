"""Channel-realization bank: same statistics as fresh draws, reproducible,
cached on disk, used in training only."""

import torch
from tokenlink.bridge import TokenLink
from tokenlink.phy import OFDMLink, set_seed
from tokenlink.phy.bank import ChannelBank

TDL = {"channel": {"model": "tdl", "profile": "C", "delay_spread_s": 300e-9, "speed_mps": 30.0},
       "grid": {"fft_size": 24}}


def _stats(h: torch.Tensor) -> dict[str, float]:
    """Mean gain, time correlation at a lag of 4 OFDM symbols, frequency
    correlation at a lag of 12 subcarriers (normalized by the mean gain)."""
    h = h.reshape(h.shape[0], h.shape[-2], h.shape[-1])
    gain = h.abs().square().mean()
    corr_t = (h[:, 4:, :] * h[:, :-4, :].conj()).mean() / gain
    corr_f = (h[:, :, 12:] * h[:, :, :-12].conj()).mean() / gain
    return {"gain": float(gain), "|corr_t|": float(corr_t.abs()), "|corr_f|": float(corr_f.abs())}


def test_bank_samples_have_the_statistics_of_fresh_draws():
    link = OFDMLink(TDL)
    bank = ChannelBank(link, 4000)
    sampled, fresh = _stats(bank(4000)), _stats(link.generate_channel(4000))
    assert abs(sampled["gain"] - 1.0) < 0.08 and abs(fresh["gain"] - 1.0) < 0.08
    for key in ("|corr_t|", "|corr_f|"):
        assert abs(sampled[key] - fresh[key]) < 0.05, (key, sampled, fresh)
    # The lags chosen are informative: 30 m/s decorrelates in time, 300 ns in frequency.
    assert fresh["|corr_t|"] < 0.98 and fresh["|corr_f|"] < 0.95


def test_bank_rows_are_drawn_with_replacement_from_the_bank():
    link = OFDMLink(TDL)
    bank = ChannelBank(link, 16)
    drawn = bank(64).reshape(64, -1)
    rows = bank.h_freq.reshape(16, -1)
    match = (drawn[:, None, :] == rows[None, :, :]).all(dim=-1)
    assert bool(match.any(dim=1).all())
    assert int(match.any(dim=0).sum()) > 8  # many distinct rows are used


def test_bank_is_reproducible_and_cached_on_disk(tmp_path):
    link = OFDMLink(TDL)
    set_seed(3)
    first = ChannelBank(link, 32, cache_dir=tmp_path, seed=3)
    files = list(tmp_path.glob("channel-bank-*.pt"))
    assert len(files) == 1
    set_seed(99)  # a different random state: the cached bank is read, not redrawn
    assert torch.equal(ChannelBank(link, 32, cache_dir=tmp_path, seed=3).h_freq, first.h_freq)
    set_seed(3)
    assert torch.equal(ChannelBank(link, 32).h_freq, first.h_freq)  # same seed, same bank
    ChannelBank(link, 32, cache_dir=tmp_path, seed=4)
    assert len(list(tmp_path.glob("channel-bank-*.pt"))) == 2  # another key, another file


def test_token_link_trains_on_the_bank_and_evaluates_on_fresh_channels():
    link = TokenLink({"phy": TDL, "train_channel_bank_size": 8, "train_snr_db_range": (0.0, 10.0)})
    tokens = torch.randn(4, 6, 16)

    def in_bank(h):
        rows = link._bank.h_freq.reshape(8, -1)
        return (h.reshape(-1, rows.shape[1])[:, None, :] == rows[None]).all(dim=-1).any(dim=1)

    link.train()
    h_train = link.transmit(tokens, return_realization=True).realization.h_freq
    assert bool(in_bank(h_train).all())
    link.eval()
    h_eval = link.transmit(tokens, snr_db=5.0, return_realization=True).realization.h_freq
    assert not bool(in_bank(h_eval).any())
