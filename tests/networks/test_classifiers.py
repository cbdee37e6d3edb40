"""Classifier factory (seed 002): (logits, features) from MONAI backbones, local-only pretrained weights."""

from __future__ import annotations

import pytest
import torch

from medtranslate.errors import InputError
from medtranslate.networks.classifiers import CLASSIFIERS, build_classifier, load_classifier_weights

FEATURE_DIMS = {"densenet121": 1024, "resnet18": 512, "resnet34": 512, "resnet50": 2048, "efficientnet-b0": 1280}


@pytest.mark.parametrize(
    ("name", "spatial_dims"),
    [("densenet121", 2), ("densenet121", 3), ("resnet18", 2), ("resnet18", 3), ("resnet50", 2), ("efficientnet-b0", 2)],
)
def test_logits_and_features(name, spatial_dims):
    net = build_classifier(name, spatial_dims, in_channels=1, num_classes=3).eval()
    x = torch.rand(2, 1, *([32] * spatial_dims))
    with torch.no_grad():
        logits, features = net(x)
        plain = net.backbone(x)
    assert logits.shape == (2, 3) and features.shape == (2, FEATURE_DIMS[name])
    torch.testing.assert_close(logits, plain)  # the wrapper does not change what the MONAI network computes
    head = net.backbone.get_submodule(CLASSIFIERS[name][1])
    torch.testing.assert_close(head(features), logits)  # the features are what the head sees


def test_projection_head_and_gradients():
    net = build_classifier("resnet18", 2, in_channels=3, num_classes=4, projection_dim=16).train()
    logits, features = net(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 4) and features.shape == (2, 16) and net.feature_dim == 16
    (logits.sum() + features.sum()).backward()
    assert all(p.grad is not None for p in net.projection.parameters())
    assert net.backbone.conv1.weight.grad is not None


def test_bf16_autocast():
    net = build_classifier("densenet121", 2, in_channels=3, num_classes=2).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, features = net(torch.rand(1, 3, 32, 32))
    assert logits.shape == (1, 2) and torch.isfinite(logits.float()).all() and features.shape == (1, 1024)


@pytest.mark.parametrize("layout", ["monai", "wrapper", "nested-ddp"])
def test_pretrained_from_local_file(tmp_path, layout):
    src = build_classifier("resnet18", 2, in_channels=1, num_classes=3).eval()
    if layout == "monai":
        obj = src.backbone.state_dict()
    elif layout == "wrapper":
        obj = src.state_dict()
    else:
        obj = {"state_dict": {"module." + k: v for k, v in src.backbone.state_dict().items()}, "epoch": torch.tensor(3)}
    path = tmp_path / "weights.pt"
    torch.save(obj, path)
    dst = build_classifier("resnet18", 2, in_channels=1, num_classes=3, pretrained_path=path).eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dst(x)[0], src(x)[0])


def test_pretrained_with_other_head_keeps_fresh_head(tmp_path):
    src = build_classifier("densenet121", 2, in_channels=3, num_classes=10)
    path = tmp_path / "imagenet_like.pt"
    torch.save(src.backbone.state_dict(), path)
    dst = build_classifier("densenet121", 2, in_channels=3, num_classes=2)
    with pytest.warns(UserWarning, match="head"):
        skipped = load_classifier_weights(dst, path)
    assert skipped == ["backbone.class_layers.out.weight", "backbone.class_layers.out.bias"]
    torch.testing.assert_close(dst.backbone.features.conv0.weight, src.backbone.features.conv0.weight)


def test_pretrained_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(InputError, match="nope.pt: pretrained weights file not found"):
        build_classifier("resnet18", 2, 1, 2, pretrained_path=missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="garbage.pt: cannot be read"):
        build_classifier("resnet18", 2, 1, 2, pretrained_path=garbage)
    other = tmp_path / "other_arch.pt"
    torch.save(build_classifier("resnet18", 2, 1, 2).backbone.state_dict(), other)
    with pytest.raises(InputError, match="other_arch.pt: weights do not fit"):
        build_classifier("resnet34", 2, 1, 2, pretrained_path=other)
    not_a_dict = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(InputError, match="does not hold a state dict"):
        build_classifier("resnet18", 2, 1, 2, pretrained_path=not_a_dict)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown classifier"):
        build_classifier("vgg16", 2, 3, 2)
