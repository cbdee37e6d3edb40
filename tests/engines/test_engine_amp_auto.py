"""``amp="auto"`` in a trainer and in the sliding-window translator decides on the device they run on."""

from __future__ import annotations

import torch
from _engine_nets import lsgan, make_cyclegan_parts

from medtranslate.engines import CycleGANTrainer
from medtranslate.inferers import ResizeNetwork, VolumeTranslator
from medtranslate.utils import amp as amp_mod


def test_trainer_and_translator_decide_on_their_device(monkeypatch):
    monkeypatch.setattr(amp_mod, "native_bf16", lambda device: torch.device(device).type == "cpu")
    parts = make_cyclegan_parts(2)
    batch = {"A": torch.zeros(1, 1, 8, 8), "B": torch.zeros(1, 1, 8, 8)}
    assert CycleGANTrainer("cpu", 1, [batch], **parts, adversarial_loss=lsgan, amp="auto").amp_dtype == torch.bfloat16
    assert CycleGANTrainer("cpu", 1, [batch], **parts, adversarial_loss=lsgan, amp="fp32").amp_dtype is None
    seen = []
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    net.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = VolumeTranslator((8, 8), amp="auto")(net, torch.zeros(1, 16, 16))
    assert seen and set(seen) == {torch.bfloat16} and out.dtype == torch.float32
    monkeypatch.setattr(amp_mod, "native_bf16", lambda device: False)
    seen.clear()
    VolumeTranslator((8, 8), amp="auto")(net, torch.zeros(1, 16, 16))
    assert set(seen) == {torch.float32}


def test_resized_network_under_bf16_autocast():
    net = ResizeNetwork(torch.nn.Conv2d(1, 1, 3, padding=1), (16, 16))  # the bf16 output is downsized
    out = VolumeTranslator((12, 12), amp="bf16")(net, torch.rand(1, 12, 12))
    assert out.shape == (1, 12, 12) and out.dtype == torch.float32
