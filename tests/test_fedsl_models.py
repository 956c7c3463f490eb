"""VGG layouts, the client/server split at the cut layer, and the FLOP count (tokenlink.semantic.fedsl.models)."""

import pytest
import torch

from tokenlink.semantic.fedsl.models import VGG, count_flops, total_flops
from tokenlink.semantic.fedsl.prune import MagnitudePruner


@pytest.mark.parametrize("layout, num_convs", [("vgg11", 8), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_layouts_have_the_standard_number_of_conv_layers(layout, num_convs):
    model = VGG(layout, num_classes=10, width=1 / 16)
    assert model.num_conv_layers == num_convs
    assert model.channels[0] == 4 and max(model.channels) == 32  # 64/16 .. 512/16
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("cut_layer", [1, 2, 5, 8])
def test_client_then_server_equals_the_full_model(cut_layer):
    model = VGG("vgg11", width=1 / 8).eval()
    x = torch.rand(3, 3, 32, 32)
    a = model.client_model(cut_layer)(x)
    assert tuple(a.shape[1:]) == model.cut_shape(cut_layer)
    torch.testing.assert_close(model.server_model(cut_layer)(a), model(x), rtol=0, atol=0)


def test_dense_flops_of_a_tiny_model_match_the_hand_count():
    model = VGG([4, "M", 8], num_classes=10, width=1.0)
    layers = count_flops(model, (3, 32, 32))
    conv1 = 2 * 4 * 32 * 32 * 3 * 9          # C_out * H * W * C_in * k*k MACs, x2
    conv2 = 2 * 8 * 16 * 16 * 4 * 9
    linear = 2 * (8 * 16 * 16) * 10
    assert [r.dense for r in layers] == [conv1, conv2, linear]
    assert [r.kind for r in layers] == ["conv", "conv", "linear"]
    assert total_flops(model, (3, 32, 32)) == (conv1 + conv2 + linear,) * 2


def test_unstructured_pruning_lowers_nonzero_flops_but_not_dense_flops():
    model = VGG([4, "M", 8], num_classes=10)
    dense_before, _ = total_flops(model, (3, 32, 32))
    MagnitudePruner(0.5, scope="layer")(model)
    dense_after, nonzero_after = total_flops(model, (3, 32, 32))
    assert dense_after == dense_before
    # per layer exactly half the weights (all counts even) -> exactly half the FLOPs
    assert nonzero_after == dense_before // 2


def test_flop_count_honours_masks_passed_in():
    model = VGG([4, "M", 8], num_classes=10)
    masks = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in model.named_parameters()
             if name == "features.0.0.weight"}
    layers = count_flops(model, (3, 32, 32), masks)
    assert layers[0].nonzero == 0 and layers[0].dense > 0 and layers[1].nonzero == layers[1].dense


@pytest.mark.parametrize("cut_layer", [0, 9, -1])
def test_cut_layer_past_the_model_raises_naming_cut_layer(cut_layer):
    model = VGG("vgg11", width=1 / 8)
    with pytest.raises(ValueError, match=r"fedsl\.cut_layer.*allowed: 1\.\.8"):
        model.client_model(cut_layer)
