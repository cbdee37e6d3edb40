"""History of generated images that feeds the discriminators (Shrivastava et al. 2017; CycleGAN's ``ImagePool``)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ImagePool"]


class ImagePool:
    """Keep up to ``pool_size`` past fakes; once full, each query returns a stored one with probability 0.5.

    The semantics are the reference CycleGAN's: every image of the batch is handled on its own; while the pool is
    filling, an image is stored and returned as is; once full, with probability 0.5 a random stored image is returned
    and replaced by the new one, otherwise the new image is returned and the pool is unchanged. ``pool_size=0`` turns
    the pool off. The pool draws from its own generator, so its choices are reproducible and are part of the
    checkpoint (:meth:`state_dict`).

    Args:
        pool_size: how many images to keep (50 in the reference); 0 disables the history.
        seed: seed of the pool's own random generator.
        storage_device: where to keep the stored images (``"cpu"`` saves GPU memory for 3D stacks); ``None`` keeps
            each image on the device it came from.
    """

    def __init__(self, pool_size: int = 50, seed: int = 0, storage_device: str | torch.device | None = None) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = int(pool_size)
        self.storage_device = None if storage_device is None else torch.device(storage_device)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    def _store(self, image: torch.Tensor) -> torch.Tensor:
        image = image.detach().clone()
        return image if self.storage_device is None else image.to(self.storage_device)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape mixing the new images with stored ones.

        Args:
            images: a batch of generated images ``(N, C, *spatial)``.

        Returns:
            A detached batch with the same shape, dtype and device as ``images``.
        """
        if self.pool_size == 0:
            return images.detach()
        out = []
        for image in images.detach().split(1, dim=0):
            if len(self.images) < self.pool_size:
                self.images.append(self._store(image))
                out.append(image)
                continue
            if torch.rand((), generator=self.generator).item() > 0.5:
                idx = int(torch.randint(0, self.pool_size, (), generator=self.generator).item())
                old = self.images[idx].to(device=image.device, dtype=image.dtype)
                self.images[idx] = self._store(image)
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, dim=0)

    def state_dict(self) -> dict[str, Any]:
        """The stored images and the generator state (tensors and ints only).

        Returns:
            A dict that ``torch.load(weights_only=True)`` can read back.
        """
        return {
            "pool_size": self.pool_size,
            "images": [img.cpu() for img in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`.

        Args:
            state: the dict from :meth:`state_dict`.

        Raises:
            ValueError: when the saved pool size differs from this pool's.
        """
        if int(state["pool_size"]) != self.pool_size:
            raise ValueError(
                f"the checkpoint's image pool holds {state['pool_size']} images, this one {self.pool_size}"
            )
        self.images = [self._store(img) for img in state["images"]]
        self.generator.set_state(state["generator"])
