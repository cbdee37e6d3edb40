"""``medtranslate demo``: the main job on built-in sample data, as a list of steps.

:mod:`medtranslate.cli.demo.core` holds the step list, the shared context, running and the report; each step lives
in its own module here and is imported only when it runs (see the core's docstring). The training settings of the
demo's models are :func:`medtranslate.cli.demo.oct2confocal.oct2confocal_train_overrides` and
:func:`medtranslate.cli.demo.ct2mri.ct2mri_train_overrides` (import those modules: they load torch).
"""

from __future__ import annotations

from medtranslate.cli.demo.core import (
    DEMO_ITERATIONS,
    DEMO_TIME_LIMIT_S,
    FULL,
    MARKER,
    QUICK,
    STEPS,
    DemoContext,
    DemoStep,
    oct_depth_range,
    register,
    run,
    run_demo,
    step_function,
)

__all__ = [
    "DemoContext",
    "DemoStep",
    "STEPS",
    "MARKER",
    "QUICK",
    "FULL",
    "DEMO_ITERATIONS",
    "DEMO_TIME_LIMIT_S",
    "oct_depth_range",
    "register",
    "run",
    "run_demo",
    "step_function",
]
