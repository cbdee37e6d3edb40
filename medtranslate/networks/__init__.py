"""Networks: generators, discriminators and the other models, one class for 2D and 3D (``spatial_dims`` first).

Import nothing above this layer: a network never knows about files, bundles or trainers.
"""

from __future__ import annotations

from medtranslate.networks.blocks import PaddedConv, PaddingLayer, ResidualBlock
from medtranslate.networks.classifiers import (
    CLASSIFIERS,
    FeatureClassifier,
    build_classifier,
    load_classifier_weights,
)
from medtranslate.networks.despeckle import DespeckleNet
from medtranslate.networks.discriminators import (
    PATCH_DISCRIMINATOR_PRESETS,
    PatchDiscriminator,
    WGANCritic,
    patch_discriminator_preset,
)
from medtranslate.networks.edsr import EDSR, EDSRResBlock
from medtranslate.networks.init import init_weights
from medtranslate.networks.resnet_generator import (
    RESNET_GENERATOR_PRESETS,
    ResNetGenerator,
    resnet_generator_preset,
)
from medtranslate.networks.unet_generator import UNetGenerator
from medtranslate.networks.utils import count_parameters, receptive_field
from medtranslate.networks.vae import ResidualVAE, ResidualVAEDecoder

__all__ = [
    "CLASSIFIERS",
    "DespeckleNet",
    "EDSR",
    "EDSRResBlock",
    "FeatureClassifier",
    "ResidualVAE",
    "ResidualVAEDecoder",
    "build_classifier",
    "load_classifier_weights",
    "PATCH_DISCRIMINATOR_PRESETS",
    "PaddedConv",
    "PatchDiscriminator",
    "RESNET_GENERATOR_PRESETS",
    "ResNetGenerator",
    "ResidualBlock",
    "PaddingLayer",
    "UNetGenerator",
    "WGANCritic",
    "count_parameters",
    "init_weights",
    "patch_discriminator_preset",
    "receptive_field",
    "resnet_generator_preset",
]
