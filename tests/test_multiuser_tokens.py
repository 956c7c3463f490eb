"""Tokens of several devices over one OFDMA uplink (bridge.network.MultiUserTokenLink)."""

import pytest
import torch

from tokenlink.bridge import TokenLink
from tokenlink.bridge.network import MultiUserTokenLink
from tokenlink.phy import set_seed

PHY = {"channel": {"model": "tdl", "max_speed_mps": 3.0}, "receiver": {"estimator": "ls"}}


@pytest.mark.parametrize("mode", ["analog", "digital"])
def test_one_device_with_the_whole_grid_is_the_token_link_bit_for_bit(mode):
    cfg = {"mode": mode, "phy": {**PHY, "grid": {"fft_size": 72}}, "digital": {"clip": (-3.0, 3.0)}}
    tokens = torch.randn(4, 16, 32, generator=torch.Generator().manual_seed(0))
    set_seed(2)
    single = TokenLink(cfg).transmit(tokens, 5.0, return_metrics=True)
    set_seed(2)
    (multi,) = MultiUserTokenLink(cfg, {"users": [{}]}).transmit([tokens], [5.0], return_metrics=True)
    assert torch.equal(multi.tokens, single.tokens) and torch.equal(multi.metrics.nmse, single.metrics.nmse)


def test_devices_are_separate_differentiable_links_at_their_own_snr():
    network = {"users": [{"link_budget": {"distance_m": 100.0, "shadowing": "off"}},
                         {"link_budget": {"distance_m": 400.0, "shadowing": "off"}}], "shares": [0.5, 0.5]}
    link = MultiUserTokenLink({"mode": "analog", "phy": PHY}, network)
    near, far = link.mean_esno_db()
    assert near > far + 15
    gen = torch.Generator().manual_seed(1)
    tokens = [torch.randn(8, 16, 32, generator=gen, requires_grad=True), torch.randn(8, 8, 24, generator=gen)]
    set_seed(3)
    out = link.transmit(tokens, return_metrics=True)
    assert out[0].tokens.shape == (8, 16, 32) and out[1].tokens.shape == (8, 8, 24)
    # medians: one deep TDL fade dominates a mean of 8 frames
    assert float(out[0].metrics.nmse.median()) < 0.1 * float(out[1].metrics.nmse.median())
    out[0].tokens.square().sum().backward()
    assert tokens[0].grad is not None and bool(tokens[0].grad.abs().sum() > 0)
    # device 0's received tokens do not depend on what device 1 sends (disjoint REs, device 0 draws first)
    set_seed(3)
    again = link.transmit([tokens[0].detach(), 5 * tokens[1]])
    assert torch.equal(again[0].tokens, out[0].tokens.detach())


def test_fewer_resource_blocks_need_more_slots_for_the_same_tokens():
    link = MultiUserTokenLink({"mode": "analog", "phy": PHY}, {"users": [{}, {}], "shares": [0.75, 0.25]})
    wide, narrow = link.frame_sizes([(64, 64), (64, 64)])
    assert [len(a.resource_blocks) for a in link.allocations] == [5, 1]  # 4.5 : 1.5 of 6 RBs, tie to user 0
    assert wide["channel_uses"] == narrow["channel_uses"] and narrow["num_slots"] > wide["num_slots"]


def test_mu_mimo_tokens_and_a_wrong_number_of_devices_are_refused():
    with pytest.raises(ValueError, match="token links are built for 'ofdma' only"):
        MultiUserTokenLink({}, {"users": [{}, {}], "sharing": "mu_mimo"})
    link = MultiUserTokenLink({"mode": "analog"}, {"users": [{"esno_db": 3.0}, {"esno_db": 9.0}]})
    with pytest.raises(ValueError, match="tokens needs one entry per device \\(2\\), got 1"):
        link.transmit([torch.zeros(2, 4, 8)])
