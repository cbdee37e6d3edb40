"""Worker of the distributed test: a tiny CycleGAN under DDP (gloo, CPU), run by torch.multiprocessing.spawn."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from _engine_nets import TinyDiscriminator, TinyGenerator, lsgan, make_cyclegan_parts, random_images
from monai.data import DataLoader

from medtranslate.data.unpaired import UnpairedDataset
from medtranslate.engines import (
    CheckpointHandler,
    CycleGANTrainer,
    Pix2PixTrainer,
    ResumableSampler,
    unwrap,
    wrap_ddp,
)


def _pix2pix(loader_batch: int, out_dir: str, world_size: int):
    data = [{"A": a, "B": b} for a, b in zip(random_images(4, 1, (8, 8), 0), random_images(4, 1, (8, 8), 1))]
    torch.manual_seed(0)
    nets = {"generator": TinyGenerator(2, 1, 1), "discriminator": TinyDiscriminator(2, 2)}
    g_opt = torch.optim.SGD(nets["generator"].parameters(), lr=0.1)
    d_opt = torch.optim.SGD(nets["discriminator"].parameters(), lr=0.1)
    wrapped = {k: wrap_ddp(v, "cpu") for k, v in nets.items()}
    loader = DataLoader(data, batch_size=loader_batch, sampler=ResumableSampler(data, seed=1))
    trainer = Pix2PixTrainer(
        "cpu",
        1,
        loader,
        wrapped["generator"],
        wrapped["discriminator"],
        g_opt,
        d_opt,
        adversarial_loss=lsgan,
        train_handlers=[CheckpointHandler(os.path.join(out_dir, f"ckpt_pix2pix_ws{world_size}"), save_final=True)],
    )
    return trainer, wrapped


def train(rank: int, world_size: int, port: int, out_dir: str, batch_size: int, kind: str = "cyclegan") -> None:
    """Train 2 iterations on a global batch of 2 and save the final weights (rank 0)."""
    torch.set_num_threads(1)
    if world_size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        if kind == "pix2pix":
            trainer, nets = _pix2pix(batch_size, out_dir, world_size)
            trainer.run()
            if rank == 0:
                weights = {k: unwrap(v).state_dict() for k, v in nets.items()}
                torch.save(
                    {"weights": weights, "iterations": trainer.state.iteration},
                    os.path.join(out_dir, f"pix2pix_ws{world_size}.pt"),
                )
            return
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
