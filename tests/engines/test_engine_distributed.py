"""DDP on CPU (gloo): 2 processes give the same weights as 1 process on the same global batch."""

from __future__ import annotations

import socket

import torch
import torch.multiprocessing as mp
from _engine_ddp import train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process(tmp_path):
    train(0, 1, 0, str(tmp_path), batch_size=2)  # one process, global batch 2
    # two processes, batch 1 each; fork: the children need not import torch and MONAI again (seconds on 2 cores)
    mp.start_processes(train, args=(2, _free_port(), str(tmp_path), 1), nprocs=2, join=True, start_method="fork")
    one = torch.load(tmp_path / "ws1.pt", weights_only=True)
    two = torch.load(tmp_path / "ws2.pt", weights_only=True)
    assert one["iterations"] == two["iterations"] == 2
    for net in ("g_ab", "g_ba", "d_a", "d_b"):
        for key, value in one["weights"][net].items():
            torch.testing.assert_close(two["weights"][net][key], value, rtol=1e-4, atol=1e-6, msg=f"{net}.{key}")
    # rank 0 alone wrote the checkpoint, with unwrapped (portable) keys
    ckpt_files = list((tmp_path / "ckpt_ws2").iterdir())
    assert [p.name for p in ckpt_files] == ["checkpoint_00000002.pt"]
    assert not any(k.startswith("module.") for k in torch.load(ckpt_files[0], weights_only=True)["g_ab"])


def test_pix2pix_two_gloo_processes_match_one_process(tmp_path):
    train(0, 1, 0, str(tmp_path), 2, "pix2pix")
    mp.start_processes(
        train, args=(2, _free_port(), str(tmp_path), 1, "pix2pix"), nprocs=2, join=True, start_method="fork"
    )
    one = torch.load(tmp_path / "pix2pix_ws1.pt", weights_only=True)
    two = torch.load(tmp_path / "pix2pix_ws2.pt", weights_only=True)
    assert one["iterations"] == two["iterations"] == 2
    for net, weights in one["weights"].items():
        for key, value in weights.items():
            torch.testing.assert_close(two["weights"][net][key], value, rtol=1e-4, atol=1e-6, msg=f"{net}.{key}")
