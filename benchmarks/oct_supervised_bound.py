"""What the demo's small OCT2Confocal generator can learn when it is told the answer: a supervised bound.

The unpaired 3D CycleGAN reached a vessel Dice of only 0.1-0.52 on the sample data (issue #10's target is 0.7); this
bound showed why, and led to the demo's recipe since (flat-mounts registered to their OCT, a paired term: 0.75).
This trains the **same generator** (``medtranslate.cli.demo.oct2confocal``'s tiny layout) with plain L1 against a
confocal rendering **registered** to each training eye (the eye's own vessel tree drawn where it lies,
``confocal_stack(..., tree=..., flat_mount=False)``), on the demo's OCT slab, 9-slice windows and 48 x 48 crops, and
scores it every ``--every`` iterations exactly as benchmarks/learning.py does (test eye, sliding 9-slice windows,
red-channel en-face projection, Otsu, against the eye's vessel tree). The identity baseline (the untouched OCT) is
printed first. A high score here says the generator's capacity is not what holds the CycleGAN back; the unpaired
objective is.

    .venv/bin/python benchmarks/oct_supervised_bound.py [--iterations 900] [--every 150] [--lr 1e-3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from learning import _oct_scorer  # benchmarks/learning.py: this script runs from benchmarks/

from medtranslate.cli.demo.core import FULL, oct_depth_range
from medtranslate.cli.demo.oct2confocal import _OCT2CONFOCAL_TINY
from medtranslate.data import datalist_split
from medtranslate.data.samples import confocal_stack, oct_volume, write_sample_dataset
from medtranslate.data.samples.dataset import CONFOCAL_SLICES
from medtranslate.io import load_image
from medtranslate.networks import ResNetGenerator

CROP = 48


def registered_pairs(datalist: Path, depth_range: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each training OCT slab in [-1, 1] with a confocal rendering of its own vessel tree, registered, in [-1, 1]."""
    pairs = []
    for item in datalist_split(datalist, "training", "domain_a"):
        image = load_image(item["image"])
        start, stop = depth_range
        slab = image[:, start:stop].float() / 127.5 - 1.0
        description = nib.load(item["image"]).header["descrip"].tobytes().decode("ascii", "ignore")
        seed = int(re.search(r"seed (\d+)", description).group(1))  # the sample writer records the OCT's seed
        shape = tuple(image.shape[1:])
        _, _, tree = oct_volume(shape, seed, return_vessels=True, return_tree=True)
        rgb = confocal_stack((CONFOCAL_SLICES, *shape[1:]), seed + 1, channel_first=True, tree=tree, flat_mount=False)
        pairs.append((slab, torch.as_tensor(rgb) * 2.0 - 1.0))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=900)
    parser.add_argument("--every", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    n, shape = FULL["oct_confocal"]
    datalist = write_sample_dataset(tempfile.mkdtemp(prefix="oct_bound_"), "oct_confocal", n=n, seed=0, shape=shape)
    depth_range = oct_depth_range(False)
    pairs = registered_pairs(datalist, depth_range)
    identity, score = _oct_scorer(datalist, depth_range)
    print("identity baseline (input untouched): " + json.dumps({k: round(v, 4) for k, v in identity.items()}))
    g = ResNetGenerator(3, 1, 3, norm="instance", strides=[1, 2, 2], padding_mode="reflect", **_OCT2CONFOCAL_TINY)
    opt = torch.optim.Adam(g.parameters(), lr=args.lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(args.seed)
    cpu = 0.0
    for it in range(1, args.iterations + 1):
        start = time.process_time()
        slab, target = pairs[rng.integers(len(pairs))]
        z = int(rng.integers(0, slab.shape[1] - CONFOCAL_SLICES + 1))
        i, j = (int(v) for v in rng.integers(0, slab.shape[-1] - CROP + 1, 2))
        x = slab[None, :, z : z + CONFOCAL_SLICES, i : i + CROP, j : j + CROP]
        y = target[None, :, :, i : i + CROP, j : j + CROP]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = g(x)
        loss = F.l1_loss(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        cpu += time.process_time() - start
        if it % args.every == 0:
            g.eval()
            with torch.no_grad():
                values = score({"g_ab": g})
            g.train()
            print(json.dumps({"iteration": it, "cpu_s": round(cpu, 1), **{k: round(v, 4) for k, v in values.items()}}))


if __name__ == "__main__":
    main()
