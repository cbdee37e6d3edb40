"""Settings carried by checkpoints and written into a run's bundle: precedence, the keys behind a network, the configs.
(The end-to-end route, a real training run, is tests/bundles/test_trained_bundle.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medtranslate.cli.bundle_runner import with_checkpoint_settings
from medtranslate.errors import ConfigError
from medtranslate.modelio import checkpoint_settings, write_bundle_configs, write_bundle_weights
from medtranslate.modelio.bundle import network_config_keys, plain_settings

CT2MRI = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri"


def test_command_line_beats_checkpoint_beats_config(tmp_path):
    torch.save({"g_ab": {}, "settings": {"gen_channels": 8, "image_size": [32, 32], "unknown": 1}},
               tmp_path / "checkpoint_00000001.pt")  # fmt: skip
    config = CT2MRI / "configs" / "inference.json"
    got = with_checkpoint_settings(config, {"checkpoint": str(tmp_path), "image_size": [16, 16]})
    assert got == {"checkpoint": str(tmp_path), "image_size": [16, 16], "gen_channels": 8}  # unknown keys: not set
    assert with_checkpoint_settings(config, {"device": "cpu"}) == {"device": "cpu"}  # no checkpoint, nothing added
    torch.save({"g_ab": {}}, tmp_path / "old.pt")
    assert checkpoint_settings(tmp_path / "old.pt") == {}


def test_network_keys_and_plain_settings():
    config = json.loads((CT2MRI / "configs" / "inference.json").read_text())
    assert network_config_keys(config) == ["gen_channels", "gen_downsamplings", "gen_res_blocks", "upsample"]
    assert plain_settings({"a": (1, 2), "b": {"c": None}}) == {"a": [1, 2], "b": {"c": None}}
    with pytest.raises(ConfigError, match="plain values.*net"):
        plain_settings({"net": torch.nn.Linear(1, 1)})


def test_bundle_configs_and_weights(tmp_path):
    settings = {"gen_channels": 8, "image_size": [32, 32]}
    written = write_bundle_configs(CT2MRI, tmp_path, settings)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"configs/inference.json", "configs/evaluate.json", "configs/metadata.json", "docs/README.md"} <= names
    for name in ("inference.json", "evaluate.json"):
        config = json.loads((tmp_path / "configs" / name).read_text())
        assert config["gen_channels"] == 8 and config["image_size"] == [32, 32] and config["gen_res_blocks"] == 9
        assert config["checkpoint"] == "$@bundle_root + '/models/model.pt'" and config["bundle_root"] == "."
    card = (tmp_path / "docs" / "README.md").read_text()
    assert card.startswith((CT2MRI / "docs" / "README.md").read_text().rstrip()) and "| `gen_channels` | `8` |" in card
    meta = json.loads((tmp_path / "configs" / "metadata.json").read_text())
    assert meta["medtranslate_training"]["settings"] == settings
    path = write_bundle_weights(tmp_path, {"g_ab": {"w": torch.ones(2)}}, settings)
    assert checkpoint_settings(path) == settings
    assert torch.equal(torch.load(path, weights_only=True)["g_ab"]["w"], torch.ones(2))
