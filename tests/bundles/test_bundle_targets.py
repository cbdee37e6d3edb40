"""What the shipped bundle configs may instantiate, and MONAI's "no allow list" notice of ``monai.bundle run``.

MONAI 1.6 has no allow-list for ``_target_`` (README, Bundles): the notice stays for every config; this repository's
tests ignore it for their own configs only (pyproject.toml), and these tests pin both halves.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from monai.bundle.config_item import ComponentLocator

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(ROOT.glob("bundles/*/configs/**/*.json")) + sorted(ROOT.glob("tests/engines/configs/*/configs/*.json"))
ALLOWED_PREFIXES = ("medtranslate.", "monai.", "torch.")


def _targets(node):
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            yield node["_target_"]
        for value in node.values():
            yield from _targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _targets(value)


def test_shipped_configs_only_target_the_package_monai_and_torch():
    locator = ComponentLocator()
    seen = 0
    for path in CONFIGS:
        if path.name.endswith("schema.json"):
            continue
        for target in _targets(json.loads(path.read_text())):
            seen += 1
            if target.startswith(ALLOWED_PREFIXES):
                continue
            module = locator.get_component_module_name(target)  # a bare name MONAI resolves, e.g. "Compose"
            modules = module if isinstance(module, list) else [module]
            assert module and all(str(m).startswith("monai.") for m in modules), f"{path}: _target_ {target!r}"
    assert seen > 50


def _warn(config_file: str) -> list:
    # the text of monai.bundle.scripts.create_workflow's notice
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn(
            f'parsing config_file {config_file}: any `"_target_"` value in it is resolved to an importable '
            'callable and invoked with no allow list, and any `"$"`-prefixed value is passed to Python `eval()`.',
            UserWarning,
            stacklevel=1,
        )
    return [w for w in caught if "parsing config_file" in str(w.message)]


@pytest.mark.parametrize(
    "config, ignored",
    [
        (ROOT / "bundles" / "ct2mri" / "configs" / "train.json", True),
        ([str(ROOT / "bundles" / "oct2confocal" / "configs" / "train.json"), "variants/wgan_gp.json"], True),
        (ROOT / "tests" / "engines" / "configs" / "tiny_cyclegan" / "configs" / "train.json", True),
        ("/downloads/some_bundle/configs/train.json", False),
        ("/tmp/x/bundles/evil/configs/train.json", False),
    ],
)
def test_monai_notice_is_ignored_for_this_repositorys_configs_only(config, ignored):
    assert (not _warn(str(config))) is ignored
