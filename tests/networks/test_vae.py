"""ResidualVAE (seed 004): forward contract, residual stages, sampling, output activations, autocast; its decoder."""

from __future__ import annotations

import pytest
import torch
from monai.networks.blocks import ResidualUnit

from medtranslate.losses import VAELoss
from medtranslate.networks.vae import ResidualVAE, ResidualVAEDecoder


def _small(spatial_dims: int, **kw) -> ResidualVAE:
    return ResidualVAE(
        spatial_dims, image_size=8, latent_size=4, channels=(4, 8), strides=(2, 2), num_res_units=1, **kw
    )


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_forward_contract(spatial_dims):
    net = _small(spatial_dims)
    x = torch.rand(3, 1, *([8] * spatial_dims)) * 2 - 1
    rec, mu, logvar, z = net(x)
    assert rec.shape == x.shape
    assert mu.shape == logvar.shape == z.shape == (3, 4)
    assert rec.abs().max() <= 1.0  # tanh output for [-1, 1] images


def test_default_is_512_vessel_map_vae():
    net = ResidualVAE()
    assert net.latent_size == 256 and list(net.final_size) == [8, 8]
    assert any(isinstance(m, ResidualUnit) for m in net.encode.modules())
    assert any(isinstance(m, ResidualUnit) for m in net.decode.modules())
    with torch.no_grad():
        rec, mu, _, _ = net.eval()(torch.zeros(1, 1, 512, 512))
    assert rec.shape == (1, 1, 512, 512) and mu.shape == (1, 256)


def test_reparameterisation_train_vs_eval():
    net = _small(2)
    x = torch.rand(2, 1, 8, 8)
    net.eval()
    _, mu, _, z = net(x)
    torch.testing.assert_close(z, mu)  # eval: the posterior mean
    net.train()
    _, mu, _, z = net(x)
    assert not torch.allclose(z, mu)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_sample(spatial_dims):
    net = _small(spatial_dims).eval()
    with torch.no_grad():
        a = net.sample(5, generator=torch.Generator().manual_seed(1))
        b = net.sample(5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (5, 1, *([8] * spatial_dims))
    torch.testing.assert_close(a, b)
    assert a.abs().max() <= 1.0


def test_logit_output_for_bce():
    net = _small(2, output_activation=None).eval()
    with torch.no_grad():
        s = net.sample(4)
        rec, *_ = net(torch.rand(4, 1, 8, 8))
    assert s.min() >= 0 and s.max() <= 1  # samples are probabilities
    z = net.encode_forward(torch.rand(4, 1, 8, 8))[0]
    torch.testing.assert_close(net.decode_latent(z), net.decode_forward(z, use_sigmoid=False))


def test_sigmoid_output():
    net = _small(2, output_activation="sigmoid").eval()
    with torch.no_grad():
        rec, *_ = net(torch.rand(2, 1, 8, 8))
    assert rec.min() >= 0 and rec.max() <= 1


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_with_vae_loss(spatial_dims):
    net = _small(spatial_dims).train()
    x = torch.rand(2, 1, *([8] * spatial_dims)) * 2 - 1
    rec, mu, logvar, _ = net(x)
    VAELoss(beta=1.0)(rec, x, mu, logvar).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_bf16_autocast():
    net = _small(2).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        rec, mu, logvar, z = net(torch.rand(2, 1, 8, 8))
        s = net.sample(2)
    assert rec.shape == (2, 1, 8, 8) and torch.isfinite(rec.float()).all() and s.shape == (2, 1, 8, 8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="output_activation"):
        _small(2, output_activation="relu")
    with pytest.raises(ValueError, match="num_res_units"):
        ResidualVAE(image_size=8, channels=(4, 8), strides=(2, 2), num_res_units=0)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("activation", [None, "tanh", "sigmoid"])
def test_decoder_maps_latents_to_unit_range_and_scripts(spatial_dims, activation):
    """ResidualVAEDecoder loads a VAE's full state dict, keeps no encoder, and its TorchScript decodes the same."""
    vae = _small(spatial_dims, output_activation=activation).eval()
    decoder = ResidualVAEDecoder(
        spatial_dims,
        image_size=8,
        latent_size=4,
        channels=(4, 8),
        strides=(2, 2),
        num_res_units=1,
        output_activation=activation,
    )
    decoder.load_state_dict(vae.state_dict())  # strict: the encoder's entries are dropped, nothing else
    assert not any(n.startswith(("encode", "intermediate", "mu.", "logvar")) for n in decoder.state_dict())
    z = torch.randn(3, 4)
    with torch.no_grad():
        out = vae.decode_latent(z)
        expected = {None: torch.sigmoid(out), "tanh": (out + 1) / 2, "sigmoid": out}[activation]
        for net in (decoder.eval(), torch.jit.script(decoder), torch.jit.trace(decoder, torch.randn(1, 4))):
            torch.testing.assert_close(net(z), expected)
        assert decoder.sample(2).shape == (2, 1, *([8] * spatial_dims))
    with pytest.raises(RuntimeError, match="decodeL"):
        decoder.load_state_dict({k: v for k, v in vae.state_dict().items() if not k.startswith("decodeL")})
