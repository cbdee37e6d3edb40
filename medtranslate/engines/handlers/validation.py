"""Validation on held-out items: cycle SSIM/PSNR for CycleGAN (paired SSIM/PSNR for pix2pix); keeps the best."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from monai.metrics import PSNRMetric, SSIMMetric

from medtranslate.engines.checkpoint import save_checkpoint
from medtranslate.engines.distributed import is_main_process, unwrap

__all__ = ["TranslationValidationHandler"]


def _plain(x: Any) -> torch.Tensor:
    return x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)


def _win_size(shape: Sequence[int], wanted: int = 11) -> int:
    w = min(wanted, *shape)
    return w if w % 2 else w - 1


class TranslationValidationHandler:
    """Every ``interval`` epochs, score the generators on held-out batches and keep the best checkpoint.

    For a trainer with ``g_ab``/``g_ba`` (CycleGAN) the scores are the cycle reconstructions'
    ``SSIM(g_ba(g_ab(A)), A)`` and ``PSNR`` (and the same for B), with MONAI's ``SSIMMetric`` and ``PSNRMetric``;
    for a trainer with ``generator`` (pix2pix) they are ``SSIM(generator(A), B)`` and ``PSNR``. Results go to
    ``engine.state.metrics`` (``val_cycle_ssim_A``, ``val_cycle_ssim_B``, ``val_cycle_ssim``, the same for psnr;
    or ``val_ssim``/``val_psnr``), and whenever ``key_metric`` improves a full checkpoint is written to
    ``save_dir/best_filename``. MONAI's ``ValidationHandler`` is not used: it drives an ``Evaluator`` over one
    network, and the cycle chains two. Runs on rank 0 with the unwrapped networks (no DDP collectives).

    Args:
        data_loader: held-out batches (dicts with ``keys``), images in [-1, 1].
        interval: epochs between validations.
        save_dir: where to keep the best checkpoint (``None``: do not save).
        best_filename: its file name.
        key_metric: the metric that decides "best" (higher is better); default ``val_cycle_ssim``/``val_ssim``.
        keys: batch keys of domains A and B.
        data_range: intensity range of the images (2 for [-1, 1]).
        max_batches: validate on at most this many batches.
    """

    def __init__(
        self,
        data_loader: Iterable,
        interval: int = 1,
        save_dir: str | os.PathLike | None = None,
        best_filename: str = "best.pt",
        key_metric: str | None = None,
        keys: Sequence[str] = ("A", "B"),
        data_range: float = 2.0,
        max_batches: int | None = None,
    ) -> None:
        self.data_loader = data_loader
        self.interval = max(1, int(interval))
        self.save_dir = None if save_dir is None else Path(save_dir)
        self.best_filename = best_filename
        self.key_metric = key_metric
        self.keys = tuple(keys)
        self.data_range = float(data_range)
        self.max_batches = max_batches
        self.best = -float("inf")
        self.best_epoch = -1

    def attach(self, engine: Any) -> None:
        """Run on ``EPOCH_COMPLETED(every=interval)``; the best score is part of checkpoints.

        Args:
            engine: the trainer.
        """
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)
        if hasattr(engine, "register_checkpoint_object"):
            engine.register_checkpoint_object("validation", self)

    def state_dict(self) -> dict[str, Any]:
        """The best score so far.

        Returns:
            ``{"best": float, "best_epoch": int}``.
        """
        return {"best": float(self.best), "best_epoch": int(self.best_epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the best score.

        Args:
            state: the dict from :meth:`state_dict`.
        """
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])

    @torch.no_grad()
    def evaluate(self, engine: Any) -> dict[str, float]:
        """Compute the scores now.

        Args:
            engine: a CycleGAN trainer (``g_ab``, ``g_ba``) or a pix2pix trainer (``generator``).

        Returns:
            metric name -> value.
        """
        cycle = hasattr(engine, "g_ab") and hasattr(engine, "g_ba")
        nets = [unwrap(engine.g_ab), unwrap(engine.g_ba)] if cycle else [unwrap(engine.generator)]
        modes = [n.training for n in nets]
        for n in nets:
            n.eval()
        device = engine.state.device
        sums: dict[str, float] = {}
        count = 0
        try:
            for i, batch in enumerate(self.data_loader):
                if self.max_batches is not None and i >= self.max_batches:
                    break
                a, b = (_plain(batch[k]).to(device) for k in self.keys[:2])
                pairs = (
                    {"A": (nets[1](nets[0](a)), a), "B": (nets[0](nets[1](b)), b)} if cycle else {"": (nets[0](a), b)}
                )
                for name, (pred, ref) in pairs.items():
                    pred, ref = pred.float().clamp(-self.data_range, self.data_range), ref.float()
                    ssim = SSIMMetric(
                        spatial_dims=ref.ndim - 2, data_range=self.data_range, win_size=_win_size(ref.shape[2:])
                    )
                    psnr = PSNRMetric(max_val=self.data_range)
                    suffix = f"_{name}" if name else ""
                    sums[f"ssim{suffix}"] = sums.get(f"ssim{suffix}", 0.0) + float(ssim(pred, ref).sum())
                    sums[f"psnr{suffix}"] = sums.get(f"psnr{suffix}", 0.0) + float(psnr(pred, ref).sum())
                count += a.shape[0]
        finally:
            for n, mode in zip(nets, modes):
                n.train(mode)
        if count == 0:
            return {}
        prefix = "val_cycle_" if cycle else "val_"
        out = {f"{prefix}{k}": v / count for k, v in sums.items()}
        if cycle:
            for m in ("ssim", "psnr"):
                out[f"{prefix}{m}"] = 0.5 * (out[f"{prefix}{m}_A"] + out[f"{prefix}{m}_B"])
        return out

    def __call__(self, engine: Any) -> None:
        """Validate, publish the metrics and save the best checkpoint (rank 0 only).

        Args:
            engine: the trainer.
        """
        if not is_main_process():
            return
        metrics = self.evaluate(engine)
        if not metrics:
            return
        engine.state.metrics.update(metrics)
        key = self.key_metric or ("val_cycle_ssim" if "val_cycle_ssim" in metrics else "val_ssim")
        engine.logger.info("validation: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
        if metrics[key] > self.best:
            self.best, self.best_epoch = metrics[key], int(engine.state.epoch)
            engine.state.best_metric, engine.state.best_metric_epoch = self.best, self.best_epoch
            if self.save_dir is not None:
                save_checkpoint(engine, self.save_dir / self.best_filename, record_last=False)
                engine.logger.info(f"new best {key}={self.best:.4f} at epoch {self.best_epoch}")
