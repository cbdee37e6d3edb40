"""Deterministic, seeded generators of small, plausible sample images (numpy float32), and a data-set writer.

Nothing binary is committed: every sample is computed from its seed. The same seed gives identical output; different
seeds give different anatomy and noise.

- :func:`oct_volume`: OCT retina (depth x H x W): layers ILM..RPE, vessel shadows, speckle.
- :func:`confocal_stack`: confocal RGB stack: blue nuclei, red vessels, sparse green cells.
- :func:`ct_head` / :func:`mr_head` (and :func:`head_labels`): CT (HU) and T1 MR head phantoms of the same anatomy.
- :func:`fundus_image`: colour fundus photograph with its vessel mask (and the lesions of a retinal class).
- :func:`oct_bscan`: macular OCT B-scan of a retinal class (NORMAL, DRUSEN, CNV, DME), layer boundaries, lesion mask.
- :func:`write_sample_dataset`: write one kind to disk with a datalist.
"""

from __future__ import annotations

from medtranslate.data.samples.confocal import confocal_stack
from medtranslate.data.samples.dataset import DEFAULT_SHAPES, SAMPLE_KINDS, write_sample_dataset
from medtranslate.data.samples.fundus import fundus_image
from medtranslate.data.samples.head import HEAD_TISSUES, ct_head, head_affine, head_labels, head_spacing, mr_head
from medtranslate.data.samples.oct import OCT_LAYERS, oct_volume
from medtranslate.data.samples.oct_bscan import RETINA_CLASSES, oct_bscan

__all__ = [
    "OCT_LAYERS",
    "HEAD_TISSUES",
    "SAMPLE_KINDS",
    "DEFAULT_SHAPES",
    "oct_volume",
    "confocal_stack",
    "head_labels",
    "head_spacing",
    "head_affine",
    "ct_head",
    "mr_head",
    "fundus_image",
    "RETINA_CLASSES",
    "oct_bscan",
    "write_sample_dataset",
]
