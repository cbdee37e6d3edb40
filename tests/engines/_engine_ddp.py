"""Worker of the distributed test: a tiny CycleGAN under DDP (gloo, CPU), run by torch.multiprocessing.spawn."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from _engine_nets import lsgan, make_cyclegan_parts, random_images
from monai.data import DataLoader

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import CheckpointHandler, CycleGANTrainer, ResumableSampler, unwrap, wrap_ddp


def train(rank: int, world_size: int, port: int, out_dir: str, batch_size: int) -> None:
    """Train 2 iterations on a global batch of 2 and save the final weights (rank 0)."""
    torch.set_num_threads(1)
    if world_size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        ds = UnpairedDataset(random_images(4, 1, (8, 8), 0), random_images(3, 1, (8, 8), 1), seed=2)
        loader = DataLoader(ds, batch_size=batch_size, sampler=ResumableSampler(ds, seed=1))
        parts = make_cyclegan_parts(2, seed=0)
        # SGD: Adam would blow the ~1e-9 rounding noise of gradients that are 0 in theory (conv bias before instance
        # norm) up to full +-lr steps, and hide the comparison
        parts["g_optimizer"] = torch.optim.SGD([*parts["g_ab"].parameters(), *parts["g_ba"].parameters()], lr=0.1)
        parts["d_optimizer"] = torch.optim.SGD([*parts["d_a"].parameters(), *parts["d_b"].parameters()], lr=0.1)
        for key in ("g_ab", "g_ba", "d_a", "d_b"):
            parts[key] = wrap_ddp(parts[key], "cpu")
        trainer = CycleGANTrainer(
            "cpu",
            1,
            loader,
            **parts,
            adversarial_loss=lsgan,
            pool_size=0,
            train_handlers=[CheckpointHandler(os.path.join(out_dir, f"ckpt_ws{world_size}"), save_final=True)],
        )
        trainer.run()
        if rank == 0:
            weights = {k: unwrap(parts[k]).state_dict() for k in ("g_ab", "g_ba", "d_a", "d_b")}
            torch.save(
                {"weights": weights, "iterations": trainer.state.iteration}, os.path.join(out_dir, f"ws{world_size}.pt")
            )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
