"""The demo's ``samples`` step: generate the sample data sets and validate their datalists."""

from __future__ import annotations

from typing import Any

from medtranslate.cli.demo.core import FULL, QUICK, DemoContext
from medtranslate.data.datalist import load_datalist
from medtranslate.data.samples import write_sample_dataset


def _samples(ctx: DemoContext) -> dict[str, Any]:
    sizes = QUICK if ctx.quick else FULL
    datasets, summary = {}, {}
    for kind, (n, shape) in sizes.items():
        path = write_sample_dataset(ctx.output / "samples" / kind, kind, n=n, seed=ctx.seed, shape=shape)
        load_datalist(path)  # the written datalist must validate, files included
        datasets[kind] = path
        summary[kind] = {"datalist": str(path), "n": n, "shape": list(shape)}
        ctx.add_output(f"sample data set {kind} (datalist)", path)
    ctx.state["datasets"] = datasets
    return summary
