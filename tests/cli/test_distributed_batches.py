"""``torchrun ... -m medtranslate translate|convert``: two gloo ranks share the inputs and write one report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from test_translate_cli import CONFIG, NET

from medtranslate.networks import ResNetGenerator
from medtranslate.utils.distributed import Shard, current_shard

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str], world: int) -> list[subprocess.CompletedProcess]:
    """Run ``python -m medtranslate ARGS`` as ``world`` ranks, as torchrun would (env vars, one rendezvous)."""
    port = _free_port()
    procs = []
    for rank in range(world):
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1")
            env["MASTER_PORT"] = str(port)
        cmd = [sys.executable, "-m", "medtranslate", *args]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    (root / "bundle" / "configs").mkdir(parents=True)
    (root / "bundle" / "configs" / "inference.json").write_text(json.dumps(CONFIG))
    torch.manual_seed(0)
    kw = {k: v for k, v in NET.items() if k != "_target_"}
    torch.save({k: ResNetGenerator(**kw).state_dict() for k in ("g_ab", "g_ba")}, root / "model.pt")
    rng = np.random.default_rng(0)
    for i in range(4):
        (root / "in" / f"p{i}").mkdir(parents=True)
        data = rng.integers(-1000, 1000, size=(16, 12, 2)).astype(np.int16)
        nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.9, 2.5, 1.0])), root / "in" / f"p{i}" / "ct.nii.gz")
    (root / "in" / "broken.nii.gz").write_bytes(b"not a nifti")  # one rank's item fails; the others go on
    return root


def _rows(report: Path, drop=("seconds",)) -> list[dict]:
    rows = json.loads(report.read_text())["items"]
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def _outputs(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): nib.load(p).get_fdata() for p in sorted(folder.rglob("*.nii.gz"))}


def test_shard_from_environment():
    assert current_shard({}) == Shard(0, 1, 0) and not current_shard({}).distributed
    shard = current_shard({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert shard.distributed and not shard.is_main
    assert [i for i in range(5) if shard.owns(i)] == [1, 3]
    assert Shard().gather("rows") == ["rows"]


def test_translate_two_ranks_equal_one_process_and_resume(tree):
    common = ["translate", "--bundle", str(tree / "bundle"), "--input", str(tree / "in"), "--checkpoint"]
    common.append(str(tree / "model.pt"))
    one = _launch([*common, "--output", str(tree / "one")], 1)
    two = _launch([*common, "--output", str(tree / "two")], 2)
    assert [p.returncode for p in one] == [1] and [p.returncode for p in two] == [1, 1], two[0].stderr
    assert "translated 4 of 5" in two[0].stdout and "translated" not in two[1].stdout.replace("translated (", "")
    assert sorted(p.name for p in (tree / "two").iterdir()) == ["p0", "p1", "p2", "p3", "translate_report.json"]
    assert _rows(tree / "two" / "translate_report.json") == [
        {**r, "outputs": [o.replace(str(tree / "one"), str(tree / "two")) for o in r["outputs"]]}
        for r in _rows(tree / "one" / "translate_report.json")
    ]
    mine, theirs = _outputs(tree / "one"), _outputs(tree / "two")
    assert len(mine) == 4 and mine.keys() == theirs.keys()
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine)
    (tree / "two" / "p2" / "ct.nii.gz").unlink()  # an interrupted run: one output missing
    again = _launch([*common, "--output", str(tree / "two"), "--resume"], 2)
    rows = {r["key"]: r for r in _rows(tree / "two" / "translate_report.json")}
    assert [p.returncode for p in again] == [1, 1]
    assert [k for k, r in rows.items() if r.get("skipped")] == ["p0/ct", "p1/ct", "p3/ct"]
    assert rows["p2/ct"]["ok"] and not rows["p2/ct"].get("skipped") and not rows["broken"]["ok"]
    assert np.array_equal(nib.load(tree / "two" / "p2" / "ct.nii.gz").get_fdata(), mine["p2/ct.nii.gz"])


def test_convert_two_ranks_equal_one_process(tree):
    one = _launch(["convert", str(tree / "in"), str(tree / "c1"), "--to", "nrrd", "--report", str(tree / "c1.json")], 1)
    two = _launch(["convert", str(tree / "in"), str(tree / "c2"), "--to", "nrrd", "--report", str(tree / "c2.json")], 2)
    assert [p.returncode for p in one] == [1] and [p.returncode for p in two] == [1, 1], two[0].stderr
    assert sorted(str(p.relative_to(tree / "c2")) for p in (tree / "c2").rglob("*.nrrd")) == [
        f"p{i}/ct.nrrd" for i in range(4)
    ]
    strip = ("seconds", "output")
    assert _rows(tree / "c2.json", strip) == _rows(tree / "c1.json", strip)
    assert not (tree / "c2" / "c2.json").exists()
