"""benchmarks/gpu.py (the prepared GPU run of issue 16) works on its CPU fallback at toy sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_gpu_script_cpu_fallback(tmp_path):
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--smoke", "--only", "stack,ddp", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["device"].startswith("CPU (smoke") and "skipped" in res["ddp"]
    assert res["stack"]["slabs_bf16_s"] > 0 and res["stack"]["roi9x32x32_overlap0.25_stitch-cpu_sw2_s"] > 0
