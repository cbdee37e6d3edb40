"""CycleGAN training (Zhu et al. 2017) for 2D and 3D, as a ``monai.engines.Trainer``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer

from medtranslate.data.paired import PAIRED_KEY
from medtranslate.engines.adversarial import AdversarialTrainer
from medtranslate.engines.base import logits_of, set_requires_grad
from medtranslate.engines.distributed import unwrap
from medtranslate.engines.handlers.nan_guard import finite_loss_values
from medtranslate.engines.image_pool import ImagePool
from medtranslate.engines.losses import identity_input
from medtranslate.errors import ConfigError
from medtranslate.losses import CycleLoss, GradientLoss, IdentityLoss

__all__ = ["CycleGANTrainer"]

#: the order in which the generator's loss terms are summed and reported (the reference's order)
_TERM_ORDER = (
    "loss_adv_AB", "loss_adv_BA", "loss_cycle_A", "loss_cycle_B", "loss_idt_B", "loss_idt_A", "loss_grad_AB",
    "loss_grad_BA", "loss_pair_AB", "loss_pair_BA",
)  # fmt: skip


def _ordered(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: terms[k] for k in _TERM_ORDER if k in terms}


def _has_batch_norm(net: nn.Module) -> bool:
    """Whether a network normalises over the batch (then batching its calls would change its outputs)."""
    return any(isinstance(m, _BatchNorm) for m in net.modules())


class CycleGANTrainer(AdversarialTrainer):
    """Unpaired translation A <-> B with two generators, two discriminators and two image pools.

    Naming: ``g_ab`` maps A to B and ``g_ba`` B to A; ``d_a`` judges images of domain A (real A against
    ``g_ba(B)``) and ``d_b`` images of domain B. Each iteration, as in the reference implementation:

    1. ``fake_B = g_ab(A)``, ``rec_A = g_ba(fake_B)``, ``fake_A = g_ba(B)``, ``rec_B = g_ab(fake_A)``.
    2. Generators (discriminators frozen): adversarial terms ``adv(d_b(fake_B), real)`` and
       ``adv(d_a(fake_A), real)``; ``lambda_cycle * cycle(rec, real)`` both ways; identity
       ``lambda_identity * lambda_cycle * identity(g_ab(B), B)`` and the same for ``g_ba(A)`` (for grayscale <->
       RGB give ``IdentityLoss(channel_policy="repeat"|"luminance")``: its ``prepare_input`` adapts the image fed
       to the generator); and ``lambda_gradient * gradient(fake, input)`` comparing the edges of each translation
       with its input (``GradientLoss`` reduces differing channel counts itself). With ``lambda_paired > 0`` the
       batches are registered pairs (:class:`~medtranslate.data.PairedDataset`) and each translation is also compared
       with the other image of its pair: ``lambda_paired * paired(fake_B, B)`` and ``lambda_paired * paired(fake_A,
       A)`` (L1), the paired term of semi-supervised CycleGANs such as Jin et al. 2019's CT -> MR MR-GAN.
    3. Discriminators on real images and on fakes drawn from the history pools:
       ``0.5 * (adv(d(real), real) + adv(d(pool(fake)), fake))``. For WGAN-GP the critic loss follows Gulrajani et
       al.: ``adv(d(real), real) + adv(d(pool(fake)), fake) + lambda_gp * GP`` (no 0.5; use ``pool_size=0`` for the
       paper's critic, which sees the current fakes only).

    One optimiser updates both generators and one both discriminators (Adam, beta1 0.5 in every seed).
    Batches are dicts ``{keys[0]: A, keys[1]: B}`` with images in [-1, 1].

    Batched step (``batch_networks``, on by default when exact): calls of one network that do not depend on each
    other share one forward pass: ``g_ab(cat(A, B))`` gives ``fake_B`` and the identity ``g_ab(B)``,
    ``g_ba(cat(B, A))`` gives ``fake_A`` and ``g_ba(A)``, and each discriminator judges ``cat(real, fake)`` at once.
    With per-sample normalisation (instance norm, none) the results equal the separate calls to float rounding;
    batch norm would mix the samples' statistics, so networks holding one keep separate calls. The generator loss is
    then back-propagated one cycle at a time (A -> B -> A with its identity term, then B -> A -> B), so only one
    cycle's activations are alive at once: the same gradients (summed in another order), about half the memory.

    Args:
        device: the device of the step.
        max_epochs: epochs to train.
        train_data_loader: yields the batch dicts (use :class:`~medtranslate.engines.ResumableSampler` for exact
            resume and DDP).
        g_ab: generator A -> B (may be DDP-wrapped).
        g_ba: generator B -> A.
        d_a: discriminator of domain A, returning logits (or MONAI's feature list, logits last).
        d_b: discriminator of domain B.
        g_optimizer: optimiser over both generators' parameters.
        d_optimizer: optimiser over both discriminators' parameters.
        adversarial_loss: ``loss(logits, target_is_real, for_discriminator=...)`` or a mode name for
            ``medtranslate.losses.AdversarialLoss`` (``"lsgan"`` as in seed 003; seed 000 uses BCE).
        cycle_loss: ``loss(reconstruction, real)``; default ``CycleLoss()`` (L1; ``ssim_weight`` mixes in SSIM).
        identity_loss: ``loss(identity_output, real)``; default ``IdentityLoss()`` (L1, equal channels only).
        gradient_loss: ``loss(translation, input)``; default ``medtranslate.losses.GradientLoss`` when
            ``lambda_gradient > 0``.
        gradient_penalty: ``penalty(critic, real, fake)`` added to each discriminator loss; default: medtranslate's
            for WGAN-GP, none otherwise.
        lambda_gp: weight of the default WGAN-GP gradient penalty (10, as in Gulrajani et al.).
        lambda_cycle: cycle weight (10).
        lambda_identity: identity weight as a fraction of ``lambda_cycle`` (0.5); 0 turns identity off.
        lambda_gradient: gradient-loss weight (0 = off; seed 000's best model uses it).
        lambda_paired: weight of the paired term (0 = off, the unpaired CycleGAN); needs registered pairs in every
            batch, image ``i`` of A showing the same anatomy as image ``i`` of B: batches without the ``"paired"``
            flag (:data:`~medtranslate.data.paired.PAIRED_KEY`) that :class:`~medtranslate.data.PairedDataset` sets
            are refused (a ConfigError).
        paired_loss: ``loss(translation, other_image_of_the_pair)``; default L1.
        paired_directions: the directions the paired term applies to: ``("AB", "BA")`` (both), or one of them,
            e.g. ``("AB",)`` when A is a random depth window of a deeper stack, so that only B is a fixed target
            (bundles/oct2confocal's ``train_paired.json``).
        pool_size: history pool size (50); 0 feeds the discriminators the current fakes only.
        pool_storage_device: where pools keep images (``"cpu"`` saves GPU memory in 3D); default: beside them.
        seed: seed of the pools' generators.
        schedulers: epoch-level LR schedulers (e.g. two :class:`~medtranslate.engines.LinearDecayLR`).
        amp: ``"bf16"``, ``"fp16"`` (with a GradScaler) or ``None``.
        accumulation_steps: iterations per optimiser step.
        channels_last: channels-last inputs (convert the networks yourself, or let this do it: it does).
        batch_networks: the batched step described above; ``None`` (default) turns it on for every network without
            batch norm (where it is exact), ``False`` keeps one call per image as in the reference implementation.
        resume_from: checkpoint file or folder to resume from when the run starts.
        kwargs: the options every GAN trainer shares (``keys``, ``epoch_length``, ``non_blocking``,
            ``train_handlers``, ``key_train_metric``, ``additional_metrics``, ``metric_cmp_fn``, ``optim_set_to_none``,
            ``event_names``, ``event_to_attr``): see :class:`~medtranslate.engines.adversarial.AdversarialTrainer`.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        adversarial_loss: Callable | str = "lsgan",
        cycle_loss: Callable | None = None,
        identity_loss: Callable | None = None,
        gradient_loss: Callable | None = None,
        gradient_penalty: Callable | None = None,
        lambda_gp: float = 10.0,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        lambda_gradient: float = 0.0,
        lambda_paired: float = 0.0,
        paired_loss: Callable | None = None,
        paired_directions: Sequence[str] = ("AB", "BA"),
        pool_size: int = 50,
        pool_storage_device: str | torch.device | None = None,
        seed: int = 0,
        schedulers: Sequence[Any] | Any | None = None,
        amp: str | bool | None = None,
        accumulation_steps: int = 1,
        channels_last: bool = False,
        batch_networks: bool | None = None,
        resume_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            networks=(g_ab, g_ba, d_a, d_b),
            g_optimizer=g_optimizer,
            d_optimizer=d_optimizer,
            adversarial_loss=adversarial_loss,
            gradient_penalty=gradient_penalty,
            lambda_gp=lambda_gp,
            channels_last=channels_last,
            **kwargs,
        )
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.cycle_loss = cycle_loss if cycle_loss is not None else CycleLoss()
        self.identity_loss = identity_loss if identity_loss is not None else IdentityLoss()
        self.gradient_loss = gradient_loss
        self.lambda_cycle = float(lambda_cycle)
        self.lambda_identity = float(lambda_identity)
        self.lambda_gradient = float(lambda_gradient)
        self.lambda_paired = float(lambda_paired)
        self.paired_loss = paired_loss if paired_loss is not None else nn.L1Loss()
        self.paired_directions = tuple(str(d) for d in paired_directions)
        if not set(self.paired_directions) <= {"AB", "BA"}:
            raise ConfigError(None, f"paired_directions takes 'AB' and/or 'BA', not {list(paired_directions)}")
        self.pool_a = ImagePool(pool_size, seed=seed, storage_device=pool_storage_device)
        self.pool_b = ImagePool(pool_size, seed=seed + 1, storage_device=pool_storage_device)
        exact = {id(n): not _has_batch_norm(n) for n in (g_ab, g_ba, d_a, d_b)}
        self.batch_generators = bool(exact[id(g_ab)] and exact[id(g_ba)]) if batch_networks is None else batch_networks
        self.batch_discriminators = (
            bool(exact[id(d_a)] and exact[id(d_b)]) if batch_networks is None else batch_networks
        )
        self._init_training(amp, accumulation_steps, schedulers, channels_last, resume_from)

    # -- checkpoint protocol -------------------------------------------------------------------------------------
    def checkpoint_networks(self) -> dict[str, nn.Module]:
        """The four networks by checkpoint key.

        Returns:
            ``g_ab``, ``g_ba``, ``d_a``, ``d_b``.
        """
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}

    def checkpoint_optimizers(self) -> dict[str, Optimizer]:
        """The two optimisers by checkpoint key.

        Returns:
            ``g_optimizer``, ``d_optimizer``.
        """
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    def _checkpoint_extras(self) -> dict[str, Any]:
        return {"pool_a": self.pool_a, "pool_b": self.pool_b}

    # -- the step ------------------------------------------------------------------------------------------------
    def _gradient_criterion(self, spatial_dims: int) -> Callable:
        if self.gradient_loss is None:
            self.gradient_loss = GradientLoss(spatial_dims)
        return self.gradient_loss

    def _identity_terms(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        idt_b = self.g_ab(identity_input(self.identity_loss, real_b, real_a.shape[1]))
        idt_a = self.g_ba(identity_input(self.identity_loss, real_a, real_b.shape[1]))
        return {"loss_idt_B": self._identity_term(idt_b, real_b), "loss_idt_A": self._identity_term(idt_a, real_a)}

    def _discriminator_loss(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        adv = self.adversarial_loss
        if self.batch_discriminators and real.shape == fake.shape:
            logits_real, logits_fake = logits_of(d(torch.cat((real, fake.to(real)), 0))).chunk(2)
        else:
            logits_real, logits_fake = logits_of(d(real)), logits_of(d(fake))
        loss = self.d_loss_weight * (
            adv(logits_real, True, for_discriminator=True) + adv(logits_fake, False, for_discriminator=True)
        )
        if self.gradient_penalty is not None:
            loss = loss + self.gradient_penalty(d, real, fake)
        return loss

    def _generator_step(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The reference order: six generator calls, one loss (the caller back-propagates it)."""
        with self._autocast():
            fake_b = self.g_ab(real_a)
            rec_a = self.g_ba(fake_b)
            fake_a = self.g_ba(real_b)
            rec_b = self.g_ab(fake_a)
            g_terms = {
                **self._cycle_terms("AB", real_a, fake_b, rec_a, self.d_b, real_b),
                **self._cycle_terms("BA", real_b, fake_a, rec_b, self.d_a, real_a),
            }
            if self.lambda_identity > 0:
                g_terms.update(self._identity_terms(real_a, real_b))
        return fake_b, rec_a, fake_a, rec_b, _ordered(g_terms)

    def _generator_step_batched(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Four generator calls (translation and identity batched), back-propagated one cycle at a time."""
        g_terms: dict[str, torch.Tensor] = {}
        outputs = []
        for direction, real, other, g, g_back, d in (
            ("AB", real_a, real_b, self.g_ab, self.g_ba, self.d_b),
            ("BA", real_b, real_a, self.g_ba, self.g_ab, self.d_a),
        ):
            with self._autocast():
                n = real.shape[0]
                if self.lambda_identity > 0:
                    idt_in = identity_input(self.identity_loss, other, real.shape[1]).to(real)
                    fake, idt = g(torch.cat((real, idt_in), 0)).split((n, other.shape[0]))
                else:
                    fake, idt = g(real), None
                rec = g_back(fake)
                terms = self._cycle_terms(direction, real, fake, rec, d, other)
                if idt is not None:
                    terms[f"loss_idt_{direction[1]}"] = self._identity_term(idt, other)
            self._backward(sum(terms.values()))
            g_terms.update(terms)
            outputs += [fake, rec]
        fake_b, rec_a, fake_a, rec_b = outputs
        return fake_b, rec_a, fake_a, rec_b, _ordered(g_terms)

    def _cycle_terms(
        self,
        direction: str,
        real: torch.Tensor,
        fake: torch.Tensor,
        rec: torch.Tensor,
        d: nn.Module,
        other: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Adversarial, cycle, gradient and paired terms of one direction (``"AB"``: real A, fake B, judged by
        ``d_b``; ``other`` is the real B batch, the pairs' targets when ``lambda_paired > 0``)."""
        terms = {
            f"loss_adv_{direction}": self.adversarial_loss(logits_of(unwrap(d)(fake)), True, for_discriminator=False),
            f"loss_cycle_{direction[0]}": self.lambda_cycle * self.cycle_loss(rec, real),
        }
        if self.lambda_gradient > 0:
            grad = self._gradient_criterion(real.ndim - 2)
            terms[f"loss_grad_{direction}"] = self.lambda_gradient * grad(fake, real)
        if self.lambda_paired > 0 and direction in self.paired_directions:
            if fake.shape != other.shape:
                raise ConfigError(
                    None,
                    f"lambda_paired > 0 needs registered pairs of one shape, got translations {tuple(fake.shape)} "
                    f"against targets {tuple(other.shape)}; train on the 'pairs' split or set lambda_paired to 0",
                )
            terms[f"loss_pair_{direction}"] = self.lambda_paired * self.paired_loss(fake, other.to(fake))
        return terms

    def _identity_term(self, idt: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        try:
            return self.lambda_identity * self.lambda_cycle * self.identity_loss(idt, real)
        except ValueError as e:  # channel counts the criterion cannot reconcile: a configuration problem
            raise ConfigError(None, f"identity loss: {e}; or set lambda_identity to 0") from e

    def _check_paired(self, batchdata: Any) -> None:
        """With a paired term, refuse batches that do not say they are registered pairs (never train on random
        partners as if they were pairs)."""
        flag = batchdata.get(PAIRED_KEY, False) if isinstance(batchdata, Mapping) else False
        if not bool(torch.as_tensor(flag).all()):
            raise ConfigError(
                None,
                "lambda_paired > 0 needs batches of registered pairs (a medtranslate.data.PairedDataset over the "
                "datalist's 'pairs' split); this loader gives unpaired images: set lambda_paired to 0 or use pairs",
            )

    def _train_step(self, batchdata: Any) -> dict[str, Any]:
        if self.lambda_paired > 0:
            self._check_paired(batchdata)
        real_a = self._to_device(batchdata[self.keys[0]])
        real_b = self._to_device(batchdata[self.keys[1]])
        zero, step = self._accumulation_flags()
        nets = (self.g_ab, self.g_ba, self.d_a, self.d_b)
        for net in nets:
            net.train()
        if zero:
            self.g_optimizer.zero_grad(set_to_none=self.optim_set_to_none)
            self.d_optimizer.zero_grad(set_to_none=self.optim_set_to_none)

        # generators; the frozen discriminators run unwrapped so DDP does not wait for gradients they never get
        set_requires_grad((self.d_a, self.d_b), False)
        batched = self.batch_generators and real_a.shape[2:] == real_b.shape[2:]
        step_fn = self._generator_step_batched if batched else self._generator_step
        fake_b, rec_a, fake_a, rec_b, g_terms = step_fn(real_a, real_b)  # the batched step back-propagates itself
        loss_g = sum(g_terms.values())
        values = finite_loss_values({"loss_G": loss_g, **g_terms}, self)
        if not batched:
            self._backward(loss_g)
        if step:
            self._optimizer_step(self.g_optimizer)

        # discriminators, on real images and on fakes from the history pools
        set_requires_grad((self.d_a, self.d_b), True)
        with self._autocast():
            loss_d_a = self._discriminator_loss(self.d_a, real_a, self.pool_a.query(fake_a))
            loss_d_b = self._discriminator_loss(self.d_b, real_b, self.pool_b.query(fake_b))
        values.update(finite_loss_values({"loss_D_A": loss_d_a, "loss_D_B": loss_d_b}, self))
        self._backward(loss_d_a + loss_d_b)
        if step:
            self._optimizer_step(self.d_optimizer)
            self._update_scaler()

        images = {
            "real_A": real_a,
            "fake_B": fake_b,
            "rec_A": rec_a,
            "real_B": real_b,
            "fake_A": fake_a,
            "rec_B": rec_b,
        }
        return {**{k: v.detach() for k, v in images.items()}, **values}
