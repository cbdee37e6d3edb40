"""Settings carried by checkpoints and written into a run's bundle: precedence, the keys behind a network, the configs.
(The end-to-end route, a real training run, is tests/bundles/test_trained_bundle.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medtranslate.cli.bundle_runner import with_checkpoint_settings
from medtranslate.errors import ConfigError
from medtranslate.modelio import checkpoint_settings, stage_settings, write_bundle_configs, write_bundle_weights
from medtranslate.modelio.bundle import network_config_keys, plain_settings

CT2MRI = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri"
FUNDUS = Path(__file__).resolve().parents[2] / "bundles" / "fundus_synthesis"


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
    fundus = json.loads((FUNDUS / "configs" / "inference.json").read_text())  # edsr_def, generator_def
    keys = network_config_keys(fundus)
    assert {"edsr_channels", "edsr_res_blocks", "scale", "gen_channels", "gen_num_downs", "norm"} <= set(keys)
    assert not {"input_path", "edsr_def", "generator_def"} & set(keys)
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


def _stage(root: Path, stage: str, settings: dict) -> None:
    (root / stage / "checkpoints").mkdir(parents=True)
    torch.save({"network": {}, "settings": settings}, root / stage / "checkpoints" / "checkpoint_00000002.pt")


def test_a_multi_stage_output_merges_its_stages_settings(tmp_path):
    _stage(tmp_path, "vae", {"image_size": [32, 32], "vae_latent_size": 8})
    _stage(tmp_path, "edsr", {"edsr_channels": 8, "scale": 2})
    merged = {"image_size": [32, 32], "vae_latent_size": 8, "edsr_channels": 8, "scale": 2}
    assert stage_settings(tmp_path, ["vae", "pix2pix", "edsr"]) == merged  # a stage not trained: skipped
    assert stage_settings(tmp_path / "vae" / "checkpoints", ["vae", "edsr"]) is None  # one stage's own folder
    config = FUNDUS / "configs" / "synthesize.json"
    got = with_checkpoint_settings(config, {"checkpoint": str(tmp_path), "scale": 4})
    assert got == {**merged, "checkpoint": str(tmp_path), "scale": 4}
    # one stage's checkpoint folder through the same config: its own settings
    got = with_checkpoint_settings(config, {"checkpoint": str(tmp_path / "edsr" / "checkpoints")})
    assert got["edsr_channels"] == 8 and "vae_latent_size" not in got
    _stage(tmp_path, "pix2pix", {"image_size": [64, 64], "gen_channels": 4})
    with pytest.raises(ConfigError, match=r"disagree on image_size: vae \[32, 32\], pix2pix \[64, 64\]; choose one"):
        with_checkpoint_settings(config, {"checkpoint": str(tmp_path)})
    got = with_checkpoint_settings(config, {"checkpoint": str(tmp_path), "image_size": [64, 64]})  # decided: fine
    assert got["image_size"] == [64, 64] and got["gen_channels"] == 4
    assert stage_settings(tmp_path, ["vae", "pix2pix"], keys=["gen_channels"]) == {"gen_channels": 4}


def test_settings_of_every_checkpoint_the_config_names(tmp_path):
    """``bundle_checkpoints``: a config whose networks come from two checkpoints takes the settings of both."""
    config = tmp_path / "inference.json"
    keys = {"checkpoint": None, "despeckle_checkpoint": None, "gen_channels": 64, "despeckle_channels": 64}
    config.write_text(json.dumps({"bundle_checkpoints": ["checkpoint", "despeckle_checkpoint"], **keys}))
    torch.save({"g_ab": {}, "settings": {"gen_channels": 4}}, tmp_path / "gen.pt")
    torch.save({"network": {}, "settings": {"despeckle_channels": 8}}, tmp_path / "ds.pt")
    over = {"checkpoint": str(tmp_path / "gen.pt"), "despeckle_checkpoint": str(tmp_path / "ds.pt")}
    assert with_checkpoint_settings(config, over) == {**over, "gen_channels": 4, "despeckle_channels": 8}
    only = {"checkpoint": str(tmp_path / "gen.pt")}
    assert with_checkpoint_settings(config, only) == {**only, "gen_channels": 4}
    torch.save({"network": {}, "settings": {"despeckle_channels": 8, "gen_channels": 16}}, tmp_path / "ds.pt")
    with pytest.raises(ConfigError, match="disagree on gen_channels: checkpoint 4, despeckle_checkpoint 16"):
        with_checkpoint_settings(config, over)
    # without the key only ``checkpoint`` counts
    config.write_text(json.dumps({"checkpoint": None, "despeckle_checkpoint": None, "despeckle_channels": 64}))
    assert with_checkpoint_settings(config, over) == over
