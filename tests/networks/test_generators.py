"""ResNet and U-Net generators: parameter counts of the references, shapes in 2D and 3D, errors, gradients, autocast,
bundle instantiation and weight initialisation. Full-size networks are only counted (on the meta device)."""

from __future__ import annotations

import pytest
import torch

from medtranslate.networks import (
    ResNetGenerator,
    UNetGenerator,
    count_parameters,
    init_weights,
    resnet_generator_preset,
)
from medtranslate.networks.utils import per_item, same_padding


def _count(factory, *args, **kwargs) -> int:
    with torch.device("meta"):
        return count_parameters(factory(*args, **kwargs))


@pytest.mark.parametrize(
    "in_ch,out_ch,expected", [(3, 3, 11_378_179), (1, 1, 11_365_633), (1, 3, 11_371_907)], ids=["3-3", "1-1", "1-3"]
)
def test_resnet_9blocks_parameter_count(in_ch, out_ch, expected):
    assert _count(ResNetGenerator, 2, in_ch, out_ch) == expected
    assert _count(resnet_generator_preset, "resnet_9blocks", in_ch, out_ch) == expected


def test_resnet_3d_parameter_counts():
    # plain 3D port of resnet_9blocks, 3 downsamplings: the 137 M of seed 000's generator (REFERENCES.md)
    assert _count(ResNetGenerator, 3, 1, 3, num_downsamplings=3) == 136_790_147
    # with the authors' anisotropic kernels (stem 9x7x7, residual 2x5x5 + 3x3x3, final 8x7x7)
    assert _count(resnet_generator_preset, "oct2confocal_cyclegan3", 1, 3) == 191_069_635
    assert _count(resnet_generator_preset, "oct2confocal_cyclegan2", 1, 3) == 47_737_027


@pytest.mark.parametrize(
    "in_ch,out_ch,num_downs,expected",
    [(3, 3, 8, 54_413_955), (1, 1, 8, 54_407_809), (1, 3, 8, 54_411_907), (3, 3, 7, 41_828_995)],
    ids=["unet_256-3-3", "unet_256-1-1", "unet_256-1-3", "unet_128-3-3"],
)
def test_unet_parameter_count(in_ch, out_ch, num_downs, expected):
    assert _count(UNetGenerator, 2, in_ch, out_ch, num_downs=num_downs) == expected


def _tiny_resnet(spatial_dims: int, **kw) -> ResNetGenerator:
    kw.setdefault("channels", 4)
    kw.setdefault("num_res_blocks", 2)
    return ResNetGenerator(spatial_dims, kw.pop("in_channels", 1), kw.pop("out_channels", 3), **kw)


RESNET_SHAPE_CASES = [
    ("2d-square", 2, {}, (32, 32)),
    ("2d-36x20", 2, {}, (36, 20)),  # 36 and 20 are multiples of 4 but not of 8
    (
        "2d-3down-even-kernels",
        2,
        {"num_downsamplings": 3, "stem_kernel_size": 8, "final_kernel_size": (6, 4)},
        (24, 40),
    ),
    ("3d-iso", 3, {}, (8, 12, 16)),
    ("3d-9slices-depth-stride-1", 3, {"strides": (1, 2, 2)}, (9, 12, 16)),
    ("3d-per-downsampling-strides", 3, {"strides": [(1, 2, 2), (2, 2, 2)]}, (6, 12, 8)),
    (
        "3d-oct2confocal-kernels",
        3,
        {
            "num_downsamplings": 3,
            "strides": (1, 2, 2),
            "stem_kernel_size": (9, 7, 7),
            "res_kernel_size": ((2, 5, 5), (3, 3, 3)),
            "final_kernel_size": (8, 7, 7),
        },
        (9, 24, 32),
    ),
]


@pytest.mark.parametrize(
    "spatial_dims,kwargs,size", [c[1:] for c in RESNET_SHAPE_CASES], ids=[c[0] for c in RESNET_SHAPE_CASES]
)
def test_resnet_output_shape_equals_input_shape(spatial_dims, kwargs, size):
    net = _tiny_resnet(spatial_dims, **kwargs)
    out = net(torch.randn(2, 1, *size))
    assert out.shape == (2, 3, *size)
    assert out.abs().max() <= 1.0  # tanh


def test_resnet_preset_keeps_a_9_slice_stack():
    net = resnet_generator_preset("oct2confocal_cyclegan3", 1, 3, channels=2, num_res_blocks=1)
    assert net.downsample_factor == (1, 8, 8)
    assert net(torch.randn(1, 1, 9, 24, 24)).shape == (1, 3, 9, 24, 24)


@pytest.mark.parametrize(
    "spatial_dims,kwargs,size,match",
    [
        (2, {}, (37, 36), r"input size 37 on axis H .* not divisible by 4"),
        (2, {}, (36, 38), r"input size 38 on axis W .* not divisible by 4, .*\(e\.g\. 36 or 40\)"),
        (3, {}, (9, 16, 16), r"input size 9 on axis D .* not divisible by 4"),
        (3, {"num_downsamplings": 3, "strides": [(2, 2, 2), (1, 2, 2), (1, 2, 2)]}, (9, 16, 16), r"axis D .* by 2"),
        (2, {}, (4, 8), r"input size 4 on axis H .* too small; .* at least 8"),
    ],
    ids=["2d-H", "2d-W", "3d-depth", "3d-depth-one-stride", "2d-too-small"],
)
def test_resnet_clear_error_for_bad_sizes(spatial_dims, kwargs, size, match):
    net = _tiny_resnet(spatial_dims, **kwargs)
    with pytest.raises(ValueError, match=match):
        net(torch.randn(1, 1, *size))


def test_generators_reject_wrong_rank_and_channels():
    net = _tiny_resnet(2)
    with pytest.raises(ValueError, match="expects 1 input channels, got 3"):
        net(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="4-D tensor"):
        net(torch.randn(1, 1, 8, 8, 8))
    with pytest.raises(ValueError, match="strides must be 1 or 2"):
        ResNetGenerator(2, 1, 1, strides=3)
    with pytest.raises(ValueError, match=r"stem_kernel_size must be an int or 3 ints"):
        ResNetGenerator(3, 1, 1, stem_kernel_size=(7, 7))
    with pytest.raises(ValueError, match=r"unknown ResNetGenerator preset"):
        resnet_generator_preset("resnet_12blocks", 1, 1)


@pytest.mark.parametrize(
    "spatial_dims,kwargs,size",
    [
        (2, {"num_downs": 5}, (32, 64)),
        (3, {"num_downs": 3, "strides": (1, 2, 2)}, (9, 16, 8)),
        (3, {"num_downs": 2}, (8, 4, 12)),
    ],
    ids=["2d", "3d-9slices", "3d-iso"],
)
def test_unet_output_shape(spatial_dims, kwargs, size):
    net = UNetGenerator(spatial_dims, 2, 3, channels=4, **kwargs)
    out = net(torch.randn(2, 2, *size))
    assert out.shape == (2, 3, *size)


def test_unet_clear_error_and_dropout_placement():
    net = UNetGenerator(2, 1, 1, channels=2, num_downs=7)
    with pytest.raises(ValueError, match=r"input size 100 on axis H .* not divisible by 128"):
        net(torch.randn(1, 1, 100, 128))
    # pix2pix: dropout on the num_downs - 5 middle 8x-channel decoder levels only
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 2
    assert sum(isinstance(m, torch.nn.Dropout) for m in UNetGenerator(2, 1, 1, dropout=0.0).modules()) == 0


GRAD_CASES = [
    ("resnet-2d", lambda: _tiny_resnet(2, dropout=0.5), (1, 1, 16, 16)),
    ("resnet-3d", lambda: _tiny_resnet(3, strides=(1, 2, 2), res_kernel_size=((2, 3, 3), 3)), (1, 1, 5, 8, 8)),
    ("unet-2d", lambda: UNetGenerator(2, 1, 3, channels=4, num_downs=5), (2, 1, 64, 64)),
    ("unet-3d", lambda: UNetGenerator(3, 1, 3, channels=4, num_downs=3, strides=(1, 2, 2)), (2, 1, 3, 16, 16)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradients_reach_every_parameter(factory, shape, assert_grads_reach_every_parameter):
    assert_grads_reach_every_parameter(factory(), torch.randn(*shape))


@pytest.mark.parametrize("factory,shape", [c[1:] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_forward_under_bf16_autocast(factory, shape, assert_runs_under_bf16_autocast):
    out = assert_runs_under_bf16_autocast(factory(), torch.randn(*shape))
    assert out.shape[1] == 3


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_instantiation_from_bundle_config(spatial_dims):
    from monai.bundle import ConfigParser

    config = {
        "network_def": {
            "_target_": "medtranslate.networks.ResNetGenerator",
            "spatial_dims": spatial_dims,
            "in_channels": 1,
            "out_channels": 3,
            "channels": 4,
            "num_res_blocks": 1,
            "strides": [1, 2, 2][3 - spatial_dims :],
            "res_kernel_size": [[2, 3, 3][3 - spatial_dims :], 3],
            "norm": ["group", {"num_groups": 2}],
            "final_act": None,
        },
        "unet": {
            "_target_": "medtranslate.networks.UNetGenerator",
            "spatial_dims": spatial_dims,
            "in_channels": 1,
            "out_channels": 1,
            "channels": 4,
            "num_downs": 2,
        },
    }
    parser = ConfigParser(config)
    net = parser.get_parsed_content("network_def")
    assert isinstance(net, ResNetGenerator)
    assert isinstance(parser.get_parsed_content("unet"), UNetGenerator)
    size = (4, 8, 8)[3 - spatial_dims :]
    assert net(torch.randn(1, 1, *size)).shape == (1, 3, *size)


def test_init_weights_matches_the_reference_scheme():
    net = init_weights(UNetGenerator(2, 1, 1, channels=16, num_downs=5), "normal", 0.02)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.02) < 0.002 and abs(weights.mean().item()) < 0.002
    assert all(m.bias is None or (m.bias == 0).all() for m in convs)
    bn = torch.cat([m.weight for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.01
    for kind in ("xavier", "kaiming", "orthogonal"):
        init_weights(net, kind)
    with pytest.raises(ValueError, match="init_type"):
        init_weights(net, "uniform")


def test_argument_helpers():
    assert same_padding((2, 5, 8)) == ((0, 1), (2, 2), (3, 4))
    assert per_item(2, 3, 2, "s") == ((2, 2),) * 3
    assert per_item((1, 2, 2), 2, 3, "s") == ((1, 2, 2),) * 2
    assert per_item([(1, 2, 2), 2], 2, 3, "s") == ((1, 2, 2), (2, 2, 2))
    with pytest.raises(ValueError, match="one per layer"):
        per_item([(1, 2, 2)], 2, 3, "s")


@pytest.mark.parametrize("spatial_dims,strides,shape", [(2, 2, (1, 1, 32, 32)), (3, (1, 2, 2), (1, 1, 9, 32, 32))])
def test_resnet_resize_upsampling_has_no_checkerboard(spatial_dims, strides, shape):
    kwargs = {"channels": 4, "num_downsamplings": 2, "num_res_blocks": 1, "strides": strides, "norm": None}
    low = (1, 16, *shape[2:-2], 8, 8)  # what the upsampling path receives: 4 * 2**2 channels, a quarter in-plane

    def interior_variation(net: ResNetGenerator) -> float:
        # all-ones weights on a constant input: a stride-2, 3-wide transposed conv answers with a periodic
        # (checkerboard) pattern; nearest resize + conv stays constant away from the borders
        with torch.no_grad():
            for m in net.up.modules():
                if hasattr(m, "weight") and m.weight is not None:
                    m.weight.fill_(1.0)
                    if m.bias is not None:
                        m.bias.zero_()
            y = net.up(torch.ones(low))
        inner = y[..., 4:-4, 4:-4] if spatial_dims == 2 else y[..., 2:-2, 4:-4, 4:-4]
        return float(inner.std() / inner.mean())

    resize = ResNetGenerator(spatial_dims, 1, 1, upsample="resize", **kwargs)
    assert resize(torch.randn(shape)).shape == shape
    assert not any(isinstance(m, torch.nn.modules.conv._ConvTransposeNd) for m in resize.modules())
    transposed = ResNetGenerator(spatial_dims, 1, 1, upsample="transposed", **kwargs)
    assert interior_variation(resize) < 1e-6 < 0.1 < interior_variation(transposed)
    with pytest.raises(ValueError, match="upsample must be one of"):
        ResNetGenerator(spatial_dims, 1, 1, upsample="pixelshuffle", **kwargs)
