"""The demo's fundus2oct step (quick): checkpoint under fundus2oct/, translations, distillation table, figure."""

from __future__ import annotations

import pytest

from medtranslate.cli.demo import run_demo


@pytest.mark.slow
def test_demo_step_quick(tmp_path):
    lines: list[str] = []
    ctx, _ = run_demo(tmp_path / "demo", quick=True, steps=["fundus2oct"], echo=lines.append)
    root = tmp_path / "demo" / "fundus2oct"
    assert ctx.failed == 0
    assert list((root / "train" / "checkpoints").glob("checkpoint_*.pt"))
    assert list((root / "translated").rglob("*.png"))
    report = (root / "fundus2oct_report.md").read_text()
    assert "distillation" in report and "identity baseline" in report
    assert (root / "fundus_oct_figure.png").stat().st_size > 1000
    text = "\n".join(lines)
    assert "layer-profile correlation" in text and "OCT teacher says DRUSEN" in text
