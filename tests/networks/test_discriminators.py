"""PatchGAN discriminator and WGAN-GP critic: reference parameter counts, output maps, receptive fields (70x70 in 2D,
at least 70x70x9 in 3D, measured by back-propagation with normalisation disabled), gradients, autocast, bundles."""

from __future__ import annotations

import pytest
import torch

from medtranslate.networks import (
    PatchDiscriminator,
    ResNetGenerator,
    WGANCritic,
    count_parameters,
    patch_discriminator_preset,
    receptive_field,
)


@pytest.mark.parametrize("in_ch,expected", [(3, 2_764_737), (1, 2_762_689)])
def test_70x70_patchgan_parameter_count(in_ch, expected):
    with torch.device("meta"):
        assert count_parameters(PatchDiscriminator(2, in_ch)) == expected
        assert count_parameters(patch_discriminator_preset("patchgan_70", in_ch)) == expected
        assert count_parameters(patch_discriminator_preset("patchgan_70x70x9", 3)) == 8_292_289


def test_channels_are_capped():
    with torch.device("meta"):
        net = PatchDiscriminator(2, 1, channels=2, num_layers=5)
    widths = [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [2, 4, 8, 16, 16, 16, 1]


@pytest.mark.parametrize(
    "spatial_dims,kwargs,size,out_size",
    [
        (2, {}, (256, 256), (30, 30)),  # the reference's 30x30 patch map for 256x256 images
        (2, {}, (64, 40), (6, 3)),
        (3, {"kernel_size": (3, 4, 4), "strides": (1, 2, 2)}, (9, 70, 70), (9, 6, 6)),
        (3, {}, (32, 32, 32), (2, 2, 2)),
    ],
    ids=["2d-256", "2d-64x40", "3d-9slices", "3d-iso"],
)
def test_output_is_a_logit_map(spatial_dims, kwargs, size, out_size):
    net = PatchDiscriminator(spatial_dims, 2, channels=2, **kwargs)
    out = net(torch.randn(1, 2, *size))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1, *out_size)
    assert net.output_size(size) == out_size
    with torch.no_grad():  # logits, no sigmoid: a shifted final bias shows through unbounded
        net.layers[-1].conv.bias.fill_(-10.0)
        assert (net(torch.randn(1, 2, *size)) < -5).all()


def test_too_small_input_is_a_clear_error():
    net = PatchDiscriminator(2, 1, channels=2)
    assert net.min_size == (24, 24)
    with pytest.raises(ValueError, match=r"input size 16 on axis H .* too small; .* at least 24"):
        net(torch.randn(1, 1, 16, 32))


@pytest.mark.parametrize(
    "spatial_dims,kwargs,size,expected",
    [(2, {}, (96, 96), (70, 70)), (3, {"kernel_size": (3, 4, 4), "strides": (1, 2, 2)}, (16, 80, 80), (11, 70, 70))],
    ids=["2d", "3d"],
)
def test_receptive_field(spatial_dims, kwargs, size, expected):
    net = PatchDiscriminator(spatial_dims, 1, channels=2, norm=None, **kwargs)
    assert receptive_field(net, spatial_dims, 1, size) == expected
    assert net.receptive_field == expected
    # same field with its own random weights and activations, and with the norm present (the helper drops it)
    normed = PatchDiscriminator(spatial_dims, 1, channels=2, norm="instance", **kwargs)
    assert receptive_field(normed, spatial_dims, 1, size, uniform_weights=False) == expected
    if spatial_dims == 3:
        assert all(r >= t for r, t in zip(expected, (9, 70, 70)))


def test_3d_preset_covers_70x70x9_and_keeps_depth():
    net = patch_discriminator_preset("patchgan_70x70x9", 1, channels=2)
    assert net.receptive_field == (11, 70, 70)
    assert net(torch.randn(1, 1, 9, 70, 70)).shape == (1, 1, 9, 6, 6)


def test_receptive_field_helper_on_a_generator():
    # stem 7 + two stride-2 3x3 + nine residual blocks at 1/4 scale + two transposed 3x3 + final 7
    net = ResNetGenerator(2, 1, 1, channels=1)
    rf = receptive_field(net, 2, 1, 256)
    assert 160 <= rf[0] <= 170 and rf[0] == rf[1]


DISC_CASES = [
    ("patch-2d", lambda: PatchDiscriminator(2, 3, channels=4), (2, 3, 32, 32)),
    (
        "patch-3d",
        lambda: PatchDiscriminator(3, 1, channels=4, kernel_size=(3, 4, 4), strides=(1, 2, 2)),
        (2, 1, 3, 24, 24),
    ),
    ("patch-2d-batch", lambda: PatchDiscriminator(2, 2, channels=4, norm="batch"), (2, 2, 32, 32)),
    ("critic-2d", lambda: WGANCritic(2, 3, channels=4), (2, 3, 32, 32)),
    ("critic-3d", lambda: WGANCritic(3, 1, channels=4, strides=[(1, 2, 2), 2, 2]), (2, 1, 16, 24, 24)),
]


@pytest.mark.parametrize("factory,shape", [c[1:] for c in DISC_CASES], ids=[c[0] for c in DISC_CASES])
def test_gradients_reach_every_parameter(factory, shape, assert_grads_reach_every_parameter):
    assert_grads_reach_every_parameter(factory(), torch.randn(*shape))


@pytest.mark.parametrize("factory,shape", [c[1:] for c in DISC_CASES], ids=[c[0] for c in DISC_CASES])
def test_forward_under_bf16_autocast(factory, shape, assert_runs_under_bf16_autocast):
    assert assert_runs_under_bf16_autocast(factory(), torch.randn(*shape)).shape[1] == 1


def test_wgan_critic_has_no_batch_coupling():
    with pytest.raises(ValueError, match="batch statistics break the per-sample gradient penalty"):
        WGANCritic(2, 1, norm="batch")
    critic = WGANCritic(2, 1, channels=4).train()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 1 for m in critic.modules())  # layer norm
    x = torch.randn(2, 1, 32, 32)
    y = x.clone()
    y[1] = torch.randn(1, 32, 32)
    torch.testing.assert_close(critic(x)[0], critic(y)[0])  # sample 0's score ignores sample 1
    assert count_parameters(WGANCritic(2, 1, channels=4, norm=None)) > 0


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_instantiation_from_bundle_config(spatial_dims):
    from monai.bundle import ConfigParser

    parser = ConfigParser(
        {
            "d": {
                "_target_": "medtranslate.networks.PatchDiscriminator",
                "spatial_dims": spatial_dims,
                "in_channels": 3,
                "channels": 4,
                "kernel_size": [3, 4, 4][3 - spatial_dims :],
                "strides": [[1, 2, 2][3 - spatial_dims :], 2, 2],
            },
            "critic": {"_target_": "medtranslate.networks.WGANCritic", "spatial_dims": spatial_dims, "in_channels": 3},
        }
    )
    net = parser.get_parsed_content("d")
    assert isinstance(net, PatchDiscriminator) and isinstance(parser.get_parsed_content("critic"), WGANCritic)
    size = (4, 32, 32)[3 - spatial_dims :]
    assert net(torch.randn(1, 3, *size)).shape[:2] == (1, 1)
