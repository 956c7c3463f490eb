"""Device encoders, log-mel front end, pretraining, weight cache, encode(), projection and receiver."""

import json

import numpy as np
import pytest
import torch

from tokenlink.semantic import encoders as enc_mod
from tokenlink.semantic.audio import LogMelSpectrogram, hz_to_mel, mel_filterbank
from tokenlink.semantic.encoders import (
    build_encoder,
    encode,
    pretrain_encoder,
    pretrained_encoder,
)
from tokenlink.semantic.receiver import MLPReceiver, ModalityProjection

# (kind, per-item shape, build options, expected tokens)
CASES = [
    ("image", (64, 64, 3), {}, 64),
    ("image", (28, 28, 1), {}, 49),
    ("frames", (8, 64, 64, 3), {}, 128),
    ("waveform", (16000,), {"sample_rate_hz": 16000}, 51),
    ("features", (10, 128), {}, 10),
    ("features", (6, 512), {}, 6),
]


def _raw_batch(kind, shape, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    if kind in ("image", "frames"):
        return torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=gen)
    if kind == "waveform":
        return torch.rand((batch, *shape), generator=gen) * 2 - 1
    return torch.randn((batch, *shape), generator=gen)


@pytest.mark.parametrize("kind,shape,options,num_tokens", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_encoder_output_shape_matches_its_sequence_length(kind, shape, options, num_tokens):
    encoder = build_encoder(kind, shape, width=32, **options)
    out = encoder(_raw_batch(kind, shape))
    assert out.shape == (2, num_tokens, 32)
    assert out.dtype == torch.float32
    assert encoder.sequence_length(shape) == num_tokens == encoder.sequence_length()
    assert (encoder.kind, encoder.out_dim) == (kind, 32)


def test_image_encoder_reads_uint8_as_float_in_zero_one():
    encoder = build_encoder("image", (28, 28, 1), width=16).eval()
    x = _raw_batch("image", (28, 28, 1))
    torch.testing.assert_close(encoder(x), encoder(x.float() / 255.0))


def test_features_encoder_without_projection_is_the_identity():
    encoder = build_encoder("features", (5, 128), project=False)
    x = torch.randn(3, 5, 128)
    assert encoder.out_dim == 128 and torch.equal(encoder(x), x)


def test_frames_encoder_keeps_the_tokens_of_each_frame_together_in_time_order():
    encoder = build_encoder("frames", (4, 32, 32, 3), width=16, spatial_grid=2).eval()
    x = _raw_batch("frames", (4, 32, 32, 3), batch=1)
    changed = x.clone()
    changed[:, 2] = 255 - changed[:, 2]          # only frame 2 changes
    a, b = encoder(x), encoder(changed)
    per_frame = 2 * 2
    differs = (a - b).abs().amax(dim=(0, 2)) > 0
    assert differs.tolist() == [False] * 2 * per_frame + [True] * per_frame + [False] * per_frame


def test_frames_tokens_go_column_by_column_inside_a_frame_unless_rows_are_asked_for():
    x = _raw_batch("frames", (2, 32, 32, 3), batch=2)
    torch.manual_seed(0)
    by_columns = build_encoder("frames", (2, 32, 32, 3), width=8, spatial_grid=2).eval()
    by_rows = build_encoder("frames", (2, 32, 32, 3), width=8, spatial_grid=2, token_order="rows").eval()
    by_rows.load_state_dict(by_columns.state_dict())
    assert by_columns.config["token_order"] == "columns" and by_rows.config["token_order"] == "rows"
    # frame t, (row, col) -> rows: t*4 + row*2 + col; columns: t*4 + col*2 + row
    to_rows = [t * 4 + col * 2 + row for t in range(2) for row in range(2) for col in range(2)]
    torch.testing.assert_close(by_columns(x)[:, to_rows], by_rows(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="semantic.encoder.token_order: got 'diagonal'; allowed: columns, rows"):
        build_encoder("frames", (2, 32, 32, 3), token_order="diagonal")


def test_frames_time_embedding_tells_identical_frames_apart():
    encoder = build_encoder("frames", (3, 16, 16, 3), width=16, spatial_grid=1).eval()
    x = _raw_batch("frames", (1, 16, 16, 3), batch=1).expand(1, 3, 16, 16, 3).contiguous()
    out = encoder(x)[0]                         # one token per frame, same picture
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


def test_unknown_media_kind_is_refused_with_the_allowed_kinds():
    with pytest.raises(ValueError, match="semantic.encoder: unknown media kind 'text'; "
                                         "allowed: image, frames, waveform, features"):
        build_encoder("text", (10,))


def test_waveform_encoder_needs_a_sample_rate():
    with pytest.raises(ValueError, match="semantic.encoder.sample_rate_hz"):
        build_encoder("waveform", (16000,))


def test_encoder_refuses_a_batch_of_the_wrong_item_shape():
    encoder = build_encoder("image", (28, 28, 1))
    with pytest.raises(ValueError, match=r"semantic.encoder.input: .*allowed: \[batch, 28, 28, 1\]"):
        encoder(torch.zeros(2, 28, 28, 3, dtype=torch.uint8))


# ------------------------------------------------------------------ log-mel
def test_mel_filterbank_shape_non_negative_and_every_filter_covers_a_bin():
    fbank = mel_filterbank(16000, 512, 64)
    assert fbank.shape == (64, 257)
    assert (fbank >= 0).all() and fbank.max() <= 1.0
    assert (fbank.sum(dim=1) > 0).all()
    assert hz_to_mel(torch.tensor(1000.0)).item() == pytest.approx(1000.0, abs=0.1)   # HTK: 1 kHz ~ 1000 mel


@pytest.mark.parametrize("freq_hz", [440.0, 1000.0, 3000.0, 6000.0])
def test_log_mel_of_a_pure_tone_peaks_in_the_band_holding_that_frequency(freq_hz):
    sample_rate_hz, n_fft = 16000, 512
    mel = LogMelSpectrogram(sample_rate_hz, n_fft=n_fft, n_mels=64)
    t = torch.arange(sample_rate_hz, dtype=torch.float32) / sample_rate_hz
    log_mel = mel(0.5 * torch.sin(2 * torch.pi * freq_hz * t)[None])
    assert log_mel.shape == (1, 64, 101)
    peak_band = int(log_mel[0].mean(dim=1).argmax())
    fft_bin = round(freq_hz * n_fft / sample_rate_hz)
    assert peak_band == int(mel.fbank[:, fft_bin].argmax())


# -------------------------------------------------------------- pretraining
COLOURS = np.array([[230, 30, 30], [30, 200, 30], [40, 40, 230], [220, 220, 40]], dtype=np.uint8)


def _coloured_squares(num_items, seed=0, size=16):
    """A square of one of 4 colours, small or big, on grey: attributes = one-hot colour + big."""
    rng = np.random.default_rng(seed)
    images = np.full((num_items, size, size, 3), 128, dtype=np.uint8)
    attributes = np.zeros((num_items, 5), dtype=np.float32)
    for i in range(num_items):
        colour, big = rng.integers(4), rng.integers(2)
        side = 10 if big else 4
        r, c = rng.integers(0, size - side + 1, size=2)
        images[i, r:r + side, c:c + side] = COLOURS[colour]
        attributes[i, colour] = 1.0
        attributes[i, 4] = big
    return images, attributes


def test_pretraining_lowers_the_loss_and_beats_chance_on_coloured_squares():
    images, attributes = _coloured_squares(512)
    torch.manual_seed(0)
    encoder = build_encoder("image", images.shape[1:], width=32, base_channels=16)
    history = pretrain_encoder(encoder, images, attributes, epochs=6, batch_size=32, lr=3e-3, seed=0)
    assert len(history["loss"]) == len(history["accuracy"]) == len(history["f1"]) == 6
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["majority_accuracy"] == pytest.approx(0.7, abs=0.05)     # chance: all-majority guesses
    assert history["accuracy"][-1] > 0.9
    assert history["f1"][-1] > 0.8


def test_pretraining_refuses_attributes_of_another_length():
    images, attributes = _coloured_squares(8)
    encoder = build_encoder("image", images.shape[1:], width=8)
    with pytest.raises(ValueError, match="semantic.encoder.attributes"):
        pretrain_encoder(encoder, images, attributes[:5], epochs=1)


def test_pretrained_encoder_comes_from_the_cache_the_second_time(monkeypatch):
    images, attributes = _coloured_squares(48, seed=1)
    calls = []
    real = enc_mod.pretrain_encoder

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(enc_mod, "pretrain_encoder", counting)
    options = dict(dataset_key="squares-test-1", width=16, epochs=1, seed=3, base_channels=8)
    first = pretrained_encoder("image", images.shape[1:], images, attributes, **options)
    assert len(calls) == 1
    entry = first.cache_path
    assert (entry / "encoder.safetensors").is_file()
    info = json.loads((entry / "encoder.json").read_text())
    assert info["config"]["dataset_key"] == "squares-test-1" and len(info["history"]["loss"]) == 1

    second = pretrained_encoder("image", images.shape[1:], images, attributes, **options)
    assert len(calls) == 1                                  # no training the second time
    assert second.cache_path == entry
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.from_numpy(images[:4])
    torch.testing.assert_close(first(x), second(x))

    def key(dataset_key="squares-test-1", width=16, epochs=1, seed=3, base_channels=8, **rest):
        config = enc_mod.encoder_cache_config(
            "image", images.shape[1:], dataset_key=dataset_key, width=width, epochs=epochs, seed=seed,
            sample_rate_hz=None, batch_size=64, lr=1e-3, num_items=48, num_attributes=5,
            options={"base_channels": base_channels},
        )
        return enc_mod.config_key(config)

    assert key() == entry.name
    for change in ({"epochs": 2}, {"seed": 4}, {"dataset_key": "squares-test-2"}, {"width": 8},
                   {"base_channels": 16}):
        assert key(**change) != entry.name, change


def test_pretrained_encoder_is_frozen_and_stays_in_eval_mode():
    images, attributes = _coloured_squares(32, seed=2)
    encoder = pretrained_encoder("image", images.shape[1:], images, attributes, dataset_key="squares-frozen",
                                 width=8, epochs=1, base_channels=8, cache=False)
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.training
    torch.nn.Sequential(encoder).train()                     # a parent module switching to training
    assert not any(m.training for m in encoder.modules())


def test_pretrained_encoder_is_the_same_for_the_same_seed_and_leaves_the_global_rng_alone():
    images, attributes = _coloured_squares(32, seed=5)
    options = dict(dataset_key="squares-seed", width=8, epochs=1, base_channels=8, cache=False, seed=7)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = pretrained_encoder("image", images.shape[1:], images, attributes, **options)
    assert torch.equal(torch.rand(1), before)
    b = pretrained_encoder("image", images.shape[1:], images, attributes, **options)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_encode_matches_the_eval_mode_forward_pass_in_any_batch_size():
    images, _ = _coloured_squares(20, seed=3)
    encoder = build_encoder("image", images.shape[1:], width=8, base_channels=8)
    encoder.train()
    out = encode(encoder, images, batch_size=7)
    assert out.shape == (20, 64, 8) and out.dtype == torch.float32 and not out.requires_grad
    assert encoder.training                                   # mode restored
    with torch.no_grad():
        ref = encoder.eval()(torch.from_numpy(images))
    torch.testing.assert_close(out, ref)
    half = encode(encoder, images, batch_size=32, dtype=torch.float16)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), ref, atol=1e-2, rtol=1e-2)


# -------------------------------------------------------- projection, receiver
def test_receiver_starts_as_the_identity_and_learns():
    rx = MLPReceiver(24)
    x = torch.randn(2, 5, 24)
    assert torch.equal(rx(x), x)
    rx(x).square().sum().backward()
    assert rx.fc2.weight.grad.abs().sum() > 0
    plain = MLPReceiver(24, hidden=10, residual=False)
    assert plain(x).shape == (2, 5, 24) and not torch.allclose(plain(x), x)


def test_projection_maps_encoder_tokens_to_the_foundation_width():
    proj = ModalityProjection(128)
    assert proj(torch.randn(2, 64, 128)).shape == (2, 64, 384)
    with pytest.raises(ValueError, match="semantic.projection.tokens"):
        proj(torch.randn(2, 64, 100))
