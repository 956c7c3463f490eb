"""The elementwise single-stream receiver equals Sionna's blocks: values,
effective noise variances, LLRs and gradients on identical inputs."""

import pytest
import torch
from tokenlink.phy import OFDMLink

GRIDS = {
    "14x76": {},
    "guards+dc+comb": {"fft_size": 64, "num_guard_carriers": (4, 3), "dc_null": True,
                       "pilot_subcarrier_step": 2, "pilot_ofdm_symbol_indices": (3,)},
}
RECEIVERS = [
    ("perfect", "linear"),
    ("ls", "nearest"),
    ("ls", "linear"),
    ("ls", "linear_time_avg"),
    ("lmmse", "f-t"),  # the second entry is the LMMSE filtering order
    ("lmmse", "t-f"),
]


def _pair(grid, estimator, interpolation, equalizer, precision="double"):
    rx = {"estimator": estimator, "equalizer": equalizer}
    rx.update({"lmmse_order": interpolation} if estimator == "lmmse" else {"interpolation": interpolation})
    cfg = {"modulation": "16qam", "grid": GRIDS[grid],
           "channel": {"model": "tdl", "max_speed_mps": 30.0},
           "receiver": rx}
    fast = OFDMLink(cfg, precision=precision)
    slow = OFDMLink({**cfg, "receiver": {**cfg["receiver"], "implementation": "sionna"}}, precision=precision)
    assert fast.metadata["receiver_implementation"] == "fast"
    assert slow.metadata["receiver_implementation"] == "sionna"
    return fast, slow


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("estimator, interpolation", RECEIVERS)
@pytest.mark.parametrize("equalizer", ["zf", "lmmse"])
def test_fast_receiver_equals_sionna_blocks(grid, estimator, interpolation, equalizer):
    fast, slow = _pair(grid, estimator, interpolation, equalizer)
    bits = fast.source(6)
    h = fast.generate_channel(6)
    no = torch.tensor([1e-3, 0.01, 0.1, 0.3, 1.0, 3.0], dtype=torch.float64)
    y = fast.apply_channel(fast.map_to_grid(fast.modulate(bits)), h, no)
    x_fast, no_fast = fast.equalize(y, no, h)
    x_slow, no_slow = slow.equalize(y, no, h)
    torch.testing.assert_close(x_fast, x_slow, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(no_fast, no_slow, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(fast.demap(x_fast, no_fast), slow.demap(x_slow, no_slow), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("estimator, interpolation", [("perfect", "linear"), ("ls", "linear")])
def test_fast_receiver_equals_sionna_in_single_precision_with_scalar_noise(estimator, interpolation):
    fast, slow = _pair("14x76", estimator, interpolation, "lmmse", precision="single")
    bits = fast.source(4)
    h = fast.generate_channel(4)
    y = fast.apply_channel(fast.map_to_grid(fast.modulate(bits)), h, 0.05)
    for a, b in zip(fast.equalize(y, 0.05, h), slow.equalize(y, 0.05, h), strict=True):
        torch.testing.assert_close(a, b, rtol=2e-5, atol=1e-6)


def test_fast_lmmse_in_single_precision_is_at_least_as_accurate_as_sionna():
    """The fast path solves the LMMSE filters in double precision (once per noise variance),
    Sionna's block in single: both are compared with Sionna's block in double precision."""
    fast, slow = _pair("14x76", "lmmse", "f-t", "lmmse", precision="single")
    ref = _pair("14x76", "lmmse", "f-t", "lmmse", precision="double")[1]
    bits = fast.source(4)
    h = fast.generate_channel(4)
    y = fast.apply_channel(fast.map_to_grid(fast.modulate(bits)), h, 0.05)
    x_ref, no_ref = ref.equalize(y.to(torch.complex128), 0.05, h.to(torch.complex128))
    (x_fast, no_fast), (x_slow, no_slow) = fast.equalize(y, 0.05, h), slow.equalize(y, 0.05, h)
    for got, other, want in ((x_fast, x_slow, x_ref), (no_fast, no_slow, no_ref)):
        err_fast = ((got.to(want.dtype) - want).abs() / want.abs()).max()
        err_slow = ((other.to(want.dtype) - want).abs() / want.abs()).max()
        assert err_fast <= err_slow * 1.01 + 1e-6 and err_fast < 1e-3, (float(err_fast), float(err_slow))


@pytest.mark.parametrize("estimator, interpolation", [("perfect", "linear"), ("ls", "linear")])
def test_fast_receiver_gradients_equal_sionna(estimator, interpolation):
    fast, slow = _pair("guards+dc+comb", estimator, interpolation, "lmmse")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, fast.num_data_symbols, dtype=torch.complex128, generator=gen)
    target = torch.randn(x.shape, dtype=torch.complex128, generator=gen)
    h = fast.generate_channel(3)
    noise = 0.1 * torch.randn(3, 1, 1, *h.shape[-2:], dtype=torch.complex128, generator=gen)
    grads = []
    for link in (fast, slow):
        xr = x.clone().requires_grad_(True)
        y = link.apply_channel(link.map_to_grid(xr), h, 0.0) + noise
        x_hat, no_eff = link.equalize(y, 0.01, h)
        ((x_hat - target).abs().square().sum() + no_eff.sum()).backward()
        grads.append(xr.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_lmmse_estimator_runs_on_the_fast_path_unless_sionna_is_asked_for():
    assert OFDMLink({"receiver": {"estimator": "lmmse"}}).metadata["receiver_implementation"] == "fast"
    slow = OFDMLink({"receiver": {"estimator": "lmmse", "implementation": "sionna"}})
    assert slow.metadata["receiver_implementation"] == "sionna"


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam", "64qam", "256qam"])
@pytest.mark.parametrize("method", ["app", "maxlog"])
def test_separable_demapper_equals_sionna_demapper(modulation, method):
    link = OFDMLink({"modulation": modulation, "demapping": method}, precision="double")
    assert link._fast_demapper is not None
    gen = torch.Generator().manual_seed(1)
    bits = link.source(4)
    x = link.modulate(bits)
    y = x + 0.3 * torch.randn(x.shape, dtype=x.dtype, generator=gen)
    no = 0.01 + 0.5 * torch.rand(x.shape, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(link.demap(y, no), link._demapper(y, no), rtol=1e-10, atol=1e-10)
    # Noiseless: no is clamped as in Sionna, and every bit is decided right.
    assert torch.equal(link.demap(x, torch.zeros_like(no), hard=True), bits)



@pytest.mark.parametrize("modulation", ["16qam", "256qam"])
def test_app_llrs_at_high_snr_equal_sionna_in_single_precision(modulation):
    """Small ``no``: most shifted exponents underflow (the fast path floors them at
    log(tiny) + 1). The LLRs stay Sionna's, to single-precision rounding of
    LLRs in the thousands, and both sit as close to the double-precision values."""
    from sionna.phy.mapping import Demapper

    link = OFDMLink({"modulation": modulation, "demapping": "app"})
    gen = torch.Generator().manual_seed(3)
    x = link.modulate(link.source(8))
    y = x + 0.02 * torch.randn(x.shape, dtype=x.dtype, generator=gen)
    no = 1e-4 + 1e-3 * torch.rand(x.shape, generator=gen)
    ours, sionna = link.demap(y, no), link._demapper(y, no)
    exact = Demapper("app", constellation=link.constellation, precision="double")(y.to(torch.complex128),
                                                                                no.double())
    assert float(exact.abs().max()) > 1e4  # the regime where the exponents underflow
    scale = exact.abs() + 1.0
    assert float(((ours.double() - exact).abs() / scale).max()) <= 2 * float(((sionna.double() - exact).abs()
                                                                             / scale).max()) + 1e-6
    torch.testing.assert_close(ours, sionna, rtol=1e-5, atol=1e-3)

def test_separable_plan_rejects_a_non_separable_labelling():
    from tokenlink.phy.qam import separable_plan

    points = torch.tensor([1 + 1j, -1 + 1j, -1 - 1j, 1 - 1j])
    labels = torch.tensor([[0, 0], [0, 1], [1, 1], [1, 0]])  # QPSK, Gray around the circle: separable
    assert separable_plan(points, labels) is not None
    labels = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])  # bit 1 depends on both parts
    assert separable_plan(points, labels) is None


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("estimator", ["perfect", "ls", "lmmse"])
def test_fast_transmit_equals_the_grid_path_with_the_same_noise(grid, estimator):
    """transmit_symbols without grids: same noise draw (same seed), same
    channel, same outputs and gradients as mapper -> ApplyOFDMChannel -> receiver."""
    from tokenlink.phy import set_seed

    fast, slow = _pair(grid, estimator, "f-t" if estimator == "lmmse" else "linear", "lmmse")
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, fast.num_data_symbols, dtype=torch.complex128, generator=gen)
    h = fast.generate_channel(4)
    no = torch.tensor([0.0, 0.01, 0.1, 1.0], dtype=torch.float64)
    outs, grads = [], []
    for link in (fast, slow):
        xr = x.clone().requires_grad_(True)
        set_seed(7)
        x_hat, no_eff, _ = link.transmit_symbols(xr, no, h)
        (x_hat.real.sum() + 2 * x_hat.imag.sum()).backward()
        outs.append((x_hat.detach(), no_eff))
        grads.append(xr.grad)
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam", "64qam", "256qam"])
def test_maxlog_hard_decisions_by_slicing_equal_the_llr_signs(modulation):
    link = OFDMLink({"modulation": modulation, "demapping": "maxlog"}, precision="double")
    gen = torch.Generator().manual_seed(3)
    x = link.modulate(link.source(8))
    y = x + 0.7 * torch.randn(x.shape, dtype=x.dtype, generator=gen)
    no = torch.full(x.shape, 0.1, dtype=torch.float64)
    decided = link.demap(y, no, hard=True)
    assert torch.equal(decided, (link._demapper(y, no) > 0).to(decided.dtype))
    assert 0.005 < float((decided != link.demap(x, no, hard=True)).float().mean()) < 0.5  # noise flips bits


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam", "64qam", "256qam"])
def test_bit_mapper_equals_sionna_mapper(modulation):
    link = OFDMLink({"modulation": modulation})
    assert link._fast_mapper is not None
    bits = link.source(5)
    assert torch.equal(link.modulate(bits), link._mapper(bits))


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam", "64qam", "256qam"])
def test_labels_map_and_decide_like_bits(modulation):
    """modulate_labels = modulate of the labels' bits; decide_labels = the bits
    of the max-log decisions; slicing by arithmetic = bucketize at the midpoints."""
    from tokenlink.phy.bits import bits_to_index

    link = OFDMLink({"modulation": modulation, "demapping": "maxlog"}, precision="double")
    bits = link.source(6)
    labels = bits_to_index(bits.unflatten(-1, (-1, link.num_bits_per_symbol)))
    assert torch.equal(link.modulate_labels(labels), link.modulate(bits))
    gen = torch.Generator().manual_seed(4)
    y = link.modulate(bits) + 0.4 * torch.randn(labels.shape, dtype=torch.complex128, generator=gen)
    decided = link.decide_labels(y)
    hard_bits = link.demap(y, None, hard=True).unflatten(-1, (-1, link.num_bits_per_symbol))
    assert torch.equal(decided, bits_to_index(hard_bits))
    demapper = link._fast_demapper
    for part, comp in (("re", y.real), ("im", y.imag)):
        mid = getattr(demapper, f"_{part}_mid")
        assert torch.equal(demapper._level(comp, part).long(), torch.bucketize(comp.contiguous(), mid))
    assert int((decided != labels).sum()) > 0  # noisy enough that slicing mattered


def test_decide_labels_needs_the_slicing_demapper():
    link = OFDMLink({"modulation": "16qam", "demapping": "app"})
    with pytest.raises(ValueError, match="max-log"):
        link.decide_labels(torch.zeros(2, link.num_data_symbols, dtype=torch.complex64))


def _compiled_pair(estimator):
    cfg = {"modulation": "16qam", "demapping": "maxlog", "channel": {"model": "tdl", "max_speed_mps": 30.0},
           "receiver": {"estimator": estimator, "interpolation": "linear"}}
    eager = OFDMLink(cfg)
    compiled = OFDMLink({**cfg, "receiver": {**cfg["receiver"], "compile": True}})
    return eager, compiled


@pytest.mark.parametrize("estimator", ["perfect", "ls"])
def test_compiled_fast_path_equals_eager(estimator):
    """receiver.compile: the same outputs, gradients and decisions as eager
    (two batch sizes: one compilation with a dynamic batch)."""
    from tokenlink.phy import set_seed

    eager, compiled = _compiled_pair(estimator)
    gen = torch.Generator().manual_seed(8)
    for batch in (5, 3):
        x = torch.randn(batch, eager.num_data_symbols, dtype=torch.complex64, generator=gen)
        h = eager.generate_channel(batch)
        no = torch.linspace(0.01, 0.5, batch)
        outs, grads = [], []
        for link in (eager, compiled):
            xr = x.clone().requires_grad_(True)
            set_seed(3)
            x_hat, no_eff, _ = link.transmit_symbols(xr, no, h)
            (x_hat.real.square().sum() + x_hat.imag.sum()).backward()
            outs.append((x_hat.detach(), no_eff, link.decide_labels(x_hat.detach())))
            grads.append(xr.grad)
        torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(outs[1][1], outs[0][1], rtol=1e-5, atol=1e-6)
        assert float((outs[1][2] != outs[0][2]).float().mean()) < 1e-3  # ties within rounding aside
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-5)
    assert compiled._fast._compiled.active and compiled._fast_demapper._compiled.active


def test_failed_compilation_falls_back_to_eager_with_one_line(monkeypatch, caplog):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager, compiled = _compiled_pair("ls")
    x = torch.randn(2, eager.num_data_symbols, dtype=torch.complex64)
    h = eager.generate_channel(2)
    with caplog.at_level("WARNING", logger="tokenlink"):
        for _ in range(2):
            got = compiled.transmit_symbols(x, 0.0, h)[0]
    torch.testing.assert_close(got, eager.transmit_symbols(x, 0.0, h)[0], rtol=1e-5, atol=1e-5)
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and "\n" not in notices[0]
    assert "torch.compile of the ls receiver failed, running eager" in notices[0] and "no C++ compiler" in notices[0]
    assert not compiled._fast._compiled.active


def test_fast_lmmse_groups_samples_that_share_a_noise_variance():
    """A BER sweep's batch holds few distinct noise variances, many slots each: the samples are
    grouped by value (one product per value) and equal Sionna's block as the per-sample path does."""
    fast, slow = _pair("14x76", "lmmse", "f-t", "lmmse")
    no = torch.tensor([0.02] * 9 + [0.5] * 7, dtype=torch.float64)[torch.randperm(16)]
    h = fast.generate_channel(16)
    y = fast.apply_channel(fast.map_to_grid(fast.modulate(fast.source(16))), h, no)
    for a, b in zip(fast.equalize(y, no, h), slow.equalize(y, no, h), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert len(fast._fast._lmmse._cache) >= 2  # both values' filters solved once and kept
