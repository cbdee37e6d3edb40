"""Classifier backbones for OCT-teacher / fundus-student distillation (seed 002).

``build_classifier`` makes a MONAI classification network (DenseNet121, ResNet-18/34/50, EfficientNet-B0..B7) and
wraps it in a :class:`FeatureClassifier` that returns ``(logits, features)``, the pooled vector the classification
head sees, so that feature-level distillation losses (``ClassPrototypeLoss``) can use it. Weights never come from the
network: ``pretrained_path`` names a local file, read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import warnings

import torch
from monai.networks import nets
from torch import nn

from medtranslate.errors import InputError

__all__ = ["CLASSIFIERS", "FeatureClassifier", "build_classifier", "load_classifier_weights"]

# name -> (MONAI constructor name, attribute path of the final linear layer)
CLASSIFIERS: dict[str, tuple[str, str]] = {
    "densenet121": ("DenseNet121", "class_layers.out"),
    "resnet18": ("resnet18", "fc"),
    "resnet34": ("resnet34", "fc"),
    "resnet50": ("resnet50", "fc"),
    **{f"efficientnet-b{i}": ("EfficientNetBN", "_fc") for i in range(8)},
}


class FeatureClassifier(nn.Module):
    """A classification network that returns its logits and the features its final linear layer receives.

    The backbone stays a plain MONAI network (its state-dict keys are MONAI's, under ``backbone.``); the features are
    captured with a forward pre-hook on the final linear layer, i.e. after global pooling (and, for EfficientNet,
    after its dropout). An optional projection MLP (three linear layers with ReLU, as FDDM's alignment layer) maps the
    features to ``projection_dim``, e.g. the teacher's feature size for ``ClassPrototypeLoss``.

    Args:
        backbone: a MONAI classification network.
        head_name: dotted attribute path of the backbone's final ``nn.Linear``.
        projection_dim: output size of the projection MLP, or ``None`` for no projection.

    Raises:
        ValueError: when ``head_name`` does not name an ``nn.Linear`` of ``backbone``.
    """

    def __init__(self, backbone: nn.Module, head_name: str, projection_dim: int | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_name = head_name
        head = backbone.get_submodule(head_name)
        if not isinstance(head, nn.Linear):
            raise ValueError(f"{head_name!r} is a {type(head).__name__}, not the network's final nn.Linear")
        self.feature_dim = head.in_features
        self.num_classes = head.out_features
        self.projection: nn.Module | None = None
        if projection_dim is not None:
            d = self.feature_dim
            self.projection = nn.Sequential(
                nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, projection_dim)
            )
            self.feature_dim = projection_dim
        self._captured: list[torch.Tensor] = []
        head.register_forward_pre_hook(self._capture)

    def _capture(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self._captured.append(args[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classify ``x``.

        Args:
            x: images, shape ``(B, in_channels, *spatial)``.

        Returns:
            ``(logits, features)`` with shapes ``(B, num_classes)`` and ``(B, feature_dim)``.
        """
        self._captured.clear()
        logits = self.backbone(x)
        features = self._captured.pop()
        self._captured.clear()
        if self.projection is not None:
            features = self.projection(features)
        return logits, features


def build_classifier(
    name: str,
    spatial_dims: int = 2,
    in_channels: int = 3,
    num_classes: int = 2,
    pretrained_path: str | os.PathLike | None = None,
    projection_dim: int | None = None,
    **kwargs,
) -> FeatureClassifier:
    """Build a MONAI classifier wrapped to return ``(logits, features)``.

    Args:
        name: one of ``CLASSIFIERS``: ``"densenet121"``, ``"resnet18"``, ``"resnet34"``, ``"resnet50"``,
            ``"efficientnet-b0"`` ... ``"efficientnet-b7"``.
        spatial_dims: 2 or 3.
        in_channels: image channels (fundus: 3; OCT B-scans: 1).
        num_classes: number of classes.
        pretrained_path: a local state-dict file to load (see :func:`load_classifier_weights`); nothing is ever
            downloaded.
        projection_dim: add a projection MLP mapping the features to this size.
        kwargs: extra arguments for the MONAI constructor (ResNets default to ``conv1_t_stride=2``, the ImageNet
            stem, instead of MONAI's 1).

    Returns:
        The wrapped network.

    Raises:
        ValueError: on an unknown ``name``.
        InputError: when ``pretrained_path`` cannot be loaded.
    """
    key = name.lower()
    if key not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; choose one of {sorted(CLASSIFIERS)}")
    ctor_name, head_name = CLASSIFIERS[key]
    ctor = getattr(nets, ctor_name)
    if ctor_name == "DenseNet121":
        backbone = ctor(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes, **kwargs)
    elif ctor_name == "EfficientNetBN":
        backbone = ctor(
            key, pretrained=False, spatial_dims=spatial_dims, in_channels=in_channels, num_classes=num_classes, **kwargs
        )
    else:
        kwargs.setdefault("conv1_t_stride", 2)
        backbone = ctor(
            pretrained=False, spatial_dims=spatial_dims, n_input_channels=in_channels, num_classes=num_classes, **kwargs
        )
    model = FeatureClassifier(backbone, head_name, projection_dim=projection_dim)
    if pretrained_path is not None:
        load_classifier_weights(model, pretrained_path)
    return model


def load_classifier_weights(model: FeatureClassifier, path: str | os.PathLike) -> list[str]:
    """Load a local state dict into ``model``'s backbone (and projection, when the file has one).

    Accepted: a plain MONAI network state dict, a :class:`FeatureClassifier` state dict, either one under a
    ``"state_dict"``, ``"model"`` or ``"network"`` key, with or without DDP's ``module.`` prefix. When the file's
    classification head has another number of classes (e.g. ImageNet weights), the head keeps its fresh
    initialisation and a warning names the skipped keys; every other mismatch is an error.

    Args:
        model: the network to fill.
        path: the weights file (``torch.save`` output), read with ``weights_only=True``.

    Returns:
        The keys that were skipped because the head's shape differs.

    Raises:
        InputError: when the file is missing, unreadable, or its keys / shapes do not fit the network.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "pretrained weights file not found (weights are only read from local files)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means the same thing to the user
        raise InputError(path, f"cannot be read as a torch state dict ({type(e).__name__}: {e})") from e
    for k in ("state_dict", "model", "network"):
        if isinstance(obj, dict) and isinstance(obj.get(k), dict):
            obj = obj[k]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(path, "does not hold a state dict (a mapping of parameter names to tensors)")

    state = {}
    for k, v in obj.items():
        k = k.removeprefix("module.")
        if not k.startswith(("backbone.", "projection.")):
            k = "backbone." + k
        state[k] = v
    own = model.state_dict()
    head = f"backbone.{model.head_name}."
    skipped = [k for k, v in state.items() if k.startswith(head) and k in own and own[k].shape != v.shape]
    for k in skipped:
        state[k] = own[k]
    bad_shapes = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state and not k.startswith("projection.")]
    unexpected = [k for k in state if k not in own]
    if bad_shapes or missing or unexpected:
        parts = []
        for label, keys in (("shape mismatch", bad_shapes), ("missing", missing), ("unexpected", unexpected)):
            if keys:
                more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
                parts.append(f"{label}: {', '.join(keys[:5])}{more}")
        raise InputError(path, f"weights do not fit this network ({'; '.join(parts)})")
    model.load_state_dict(state, strict=False)
    if skipped:
        warnings.warn(
            f"{path}: classification head has another number of classes; kept a fresh head ({', '.join(skipped)})",
            stacklevel=2,
        )
    return skipped
