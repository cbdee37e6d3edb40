"""Deep residual variational auto-encoder for retinal vessel maps (seed 004, Sengupta et al.)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.layers.factories import Act, Norm
from monai.networks.nets import VarAutoEncoder
from monai.utils import ensure_tuple_rep
from torch import nn
from torch.nn import functional as F

__all__ = ["ResidualVAE", "ResidualVAEDecoder"]

_OUTPUT_ACTIVATIONS = ("tanh", "sigmoid", None)


class ResidualVAE(VarAutoEncoder):
    """Residual VAE that generates vessel maps from N(0, I); one class for 2D and 3D.

    Built on MONAI's ``VarAutoEncoder`` with ``num_res_units > 0``, so every encoder stage is a strided MONAI
    ``ResidualUnit`` and every decoder stage a transposed convolution followed by a ``ResidualUnit`` (the residual
    layers seed 004 adds against VAE blurriness). The defaults take a 512x512 single-channel vessel map through six
    stride-2 stages to 8x8x256 features and a ``latent_size``-dimensional Gaussian latent. Seed 004 gives neither the
    stage widths nor the latent size; the defaults here are this project's choice.

    Differences from ``VarAutoEncoder``: the posterior mean is the latent code in eval mode (MONAI returns
    ``mu + std`` there unless told otherwise), and the output activation is chosen by ``output_activation``:
    ``"tanh"`` for images in [-1, 1] trained with MSE (the seed's L2 loss; the default), ``"sigmoid"`` for [0, 1]
    targets with MSE/L1, ``None`` for raw logits trained with BCE-with-logits (``VAELoss(reconstruction="bce")``).

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        image_size: spatial size of the (fixed-size) input, an int or one value per axis.
        latent_size: dimension of the latent Gaussian.
        channels: encoder stage widths, top first.
        strides: encoder stage strides (same length as ``channels``).
        num_res_units: sub-units per encoder ``ResidualUnit`` (must be > 0: the network is residual).
        kernel_size: convolution kernel size.
        act: activation, a MONAI ``Act`` spec.
        norm: normalisation, a MONAI ``Norm`` spec.
        dropout: dropout, a MONAI ``Dropout`` spec or probability.
        output_activation: ``"tanh"``, ``"sigmoid"`` or ``None`` (logits).
        output_bias: initial bias of the decoder's last convolution. MONAI's decoder ends in an instance-normed
            layer plus a residual convolution, so its raw output starts with zero mean per image; sparse targets
            (vessel maps cover ~10 % of the image) need a large shift that Adam makes only slowly. Setting the bias to
            the logit of the foreground fraction (about -2.4 for 8 %) starts at the right density (the prior-bias
            initialisation of Lin et al., focal loss). Default 0 (MONAI's initialisation).

    Raises:
        ValueError: on an unknown ``output_activation`` or ``num_res_units < 1``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        image_size: Sequence[int] | int = 512,
        latent_size: int = 256,
        channels: Sequence[int] = (16, 32, 64, 128, 256, 256),
        strides: Sequence[int] = (2, 2, 2, 2, 2, 2),
        num_res_units: int = 2,
        kernel_size: Sequence[int] | int = 3,
        act: tuple | str | None = Act.PRELU,
        norm: tuple | str = Norm.INSTANCE,
        dropout: tuple | str | float | None = None,
        output_activation: str | None = "tanh",
        output_bias: float = 0.0,
    ) -> None:
        if output_activation not in _OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {_OUTPUT_ACTIVATIONS}, got {output_activation!r}")
        if num_res_units < 1:
            raise ValueError(f"num_res_units must be >= 1 for a residual VAE, got {num_res_units}")
        super().__init__(
            spatial_dims=spatial_dims,
            in_shape=(in_channels, *ensure_tuple_rep(image_size, spatial_dims)),
            out_channels=out_channels,
            latent_size=latent_size,
            channels=channels,
            strides=strides,
            kernel_size=kernel_size,
            up_kernel_size=kernel_size,
            num_res_units=num_res_units,
            act=act,
            norm=norm,
            dropout=dropout,
            use_sigmoid=False,
        )
        self.output_activation = output_activation
        if output_bias:
            last = [m for m in self.decode.modules() if isinstance(m, nn.modules.conv._ConvNd)][-1]
            if last.bias is not None:
                nn.init.constant_(last.bias, float(output_bias))

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Draw ``z = mu + eps * exp(logvar / 2)`` in training mode; return ``mu`` in eval mode.

        Args:
            mu: posterior mean, shape ``(B, latent_size)``.
            logvar: posterior log-variance, same shape.

        Returns:
            The latent code, shape ``(B, latent_size)``.
        """
        if not self.training:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latent codes and apply ``output_activation``.

        Args:
            z: latent codes, shape ``(B, latent_size)``.

        Returns:
            Images (or logits when ``output_activation`` is ``None``), shape ``(B, out_channels, *image_size)``.
        """
        x = self.decode_forward(z, use_sigmoid=False)
        if self.output_activation == "tanh":
            return torch.tanh(x)
        if self.output_activation == "sigmoid":
            return torch.sigmoid(x)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample and decode, like MONAI's ``VarAutoEncoder``.

        Args:
            x: images, shape ``(B, in_channels, *image_size)``.

        Returns:
            ``(reconstruction, mu, logvar, z)``; the reconstruction is logits when ``output_activation`` is ``None``.
        """
        mu, logvar = self.encode_forward(x)
        z = self.reparameterize(mu, logvar)
        return self.decode_latent(z), mu, logvar, z

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Generate ``n`` new images by decoding ``z ~ N(0, I)``.

        Samples are always images: with ``output_activation=None`` (a BCE-trained model) the sigmoid of the logits is
        returned. Call under ``torch.no_grad()`` and in eval mode for generation.

        Args:
            n: number of images.
            generator: optional random generator, for reproducible samples.

        Returns:
            Images, shape ``(n, out_channels, *image_size)``.
        """
        weight = self.decodeL.weight
        z = torch.randn(n, self.latent_size, generator=generator, device=weight.device, dtype=weight.dtype)
        out = self.decode_latent(z)
        return torch.sigmoid(out) if self.output_activation is None else out


class ResidualVAEDecoder(ResidualVAE):
    """The generating half of a :class:`ResidualVAE`: latent codes in, vessel maps in [0, 1] out.

    What a user needs to sample vessel maps, as one module with no randomness: draw ``z ~ N(0, I)`` (shape
    ``(B, latent_size)``) outside and pass it in. It takes the same arguments as the ``ResidualVAE`` it decodes for, and
    loads that VAE's full state dict (the encoder's entries are dropped), so ``python -m monai.bundle ckpt_export``
    exports it from a VAE checkpoint; it is traceable and scriptable. The output is the VAE's decoded image mapped to
    [0, 1] as the synthesis pipeline does: the sigmoid of the logits (``output_activation=None``), ``(x + 1) / 2`` for
    ``"tanh"``, the output itself for ``"sigmoid"``.

    Args:
        args: the arguments of :class:`ResidualVAE` (``spatial_dims``, ``in_channels``, ``out_channels``,
            ``image_size`` ...).
        kwargs: the same, by name.
    """

    #: the ``ResidualVAE`` submodules that only encode (absent here; their weights are ignored on loading).
    ENCODER_MODULES = ("encode", "intermediate", "mu", "logvar")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.ENCODER_MODULES:
            delattr(self, name)
        self.decoded_shape = [int(self.channels[-1]), *(int(s) for s in self.final_size)]
        self.tanh_output = self.output_activation == "tanh"
        self._register_load_state_dict_pre_hook(self._drop_encoder_weights)

    def _drop_encoder_weights(self, state_dict: dict, prefix: str, *args) -> None:
        for key in [
            k for k in state_dict if k.startswith(prefix) and k[len(prefix) :].split(".")[0] in self.ENCODER_MODULES
        ]:
            del state_dict[key]

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Decode latent codes to vessel maps in [0, 1].

        Args:
            z: latent codes, shape ``(B, latent_size)``.

        Returns:
            Vessel maps, shape ``(B, out_channels, *image_size)``.
        """
        x = F.relu(self.decodeL(z))
        x = self.decode(x.view([x.shape[0]] + self.decoded_shape))
        if self.tanh_output:
            return (torch.tanh(x) + 1) / 2
        return torch.sigmoid(x)  # the logits' probabilities, or the "sigmoid" output itself
