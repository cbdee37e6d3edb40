"""Small rating studies for the tests: 2D PNG / TIFF and 3D NIfTI images, model names that are easy to search for."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np

from medtranslate.io import save_image

#: Model names chosen so that a leak is found by a plain substring search.
MODELS = ("ModelAlphaSecret", "BetaNetHidden", "GammaGANConfidential")


def _image(rng: np.random.Generator, shape: tuple[int, ...], bright: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    base = np.sin(xx / 3.0) * np.cos(yy / 5.0) * 40 + bright
    out = np.broadcast_to(base, shape).astype(np.float32) + rng.normal(0, 8, size=shape).astype(np.float32)
    return np.clip(out, 0, 255)


def write_study_spec(root: Path, n_reference: int = 1, n_blind: int = 2, models: tuple[str, ...] = MODELS) -> Path:
    """Images and a study file: each set has a 2D PNG input, reference sets a TIFF reference, outputs in mixed formats.

    The first model's outputs are 3D NIfTI volumes (en-face projection + slice strip), the others 2D PNGs; model k is
    brighter than model k + 1, so a careful rater would rank them in order.
    """
    rng = np.random.default_rng(0)
    sets = []
    for k in range(n_reference + n_blind):
        name = f"case{k}"
        d = root / "images" / name
        d.mkdir(parents=True, exist_ok=True)
        inp = d / "oct.png"
        save_image(_image(rng, (1, 32, 32), 90.0).astype(np.uint8), inp)
        entry: dict[str, Any] = {"name": name, "input": str(inp.relative_to(root)), "outputs": {}}
        if k < n_reference:
            ref = d / "real.tif"
            save_image(_image(rng, (3, 32, 32), 200.0).astype(np.uint8), ref)
            entry["reference"] = str(ref.relative_to(root))
        for j, model in enumerate(models):
            bright = 180.0 - 50.0 * j
            if j == 0:
                out = d / f"{model}.nii.gz"
                save_image(_image(rng, (1, 6, 32, 32), bright), out)
                entry["outputs"][model] = {"image": str(out.relative_to(root)), "depth_axis": 0}
            else:
                out = d / f"{model}.png"
                save_image(_image(rng, (3, 32, 32), bright).astype(np.uint8), out)
                entry["outputs"][model] = str(out.relative_to(root))
        sets.append(entry)
    spec = {"name": "test study", "seed": 7, "sets": sets}
    path = root / "study_spec.json"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables, or ``None`` when they are not installed."""
    chromium = os.environ.get("MEDTRANSLATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("MEDTRANSLATE_CHROMEDRIVER") or shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None
