"""What the command line prints: one form for error and warning lines, and ``-q`` silencing training progress."""

from __future__ import annotations

import logging
import warnings

import pytest
from ignite.engine import Engine
from monai.handlers import StatsHandler
from monai.transforms import LoadImage

from medtranslate.cli.main import CliFormatter, configure_logging, main
from medtranslate.errors import InputError, message_line


def _record(level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord("medtranslate.io.batch", level, __file__, 1, msg, None, None)


def test_error_and_warning_lines_have_the_readme_form():
    fmt = CliFormatter()
    assert (
        fmt.format(_record(logging.ERROR, "scans/a.nii.gz: truncated"))
        == "medtranslate: error: scans/a.nii.gz: truncated"
    )
    assert fmt.format(_record(logging.WARNING, "x.dcm: odd")) == "medtranslate: warning: x.dcm: odd"
    assert fmt.format(_record(logging.INFO, "converted 3 files")) == "converted 3 files"
    assert message_line(InputError("a b.nii", "not\nan image")) == "medtranslate: error: a b.nii: not an image"


def test_a_fatal_error_has_the_same_form(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "out"), "--to", "nifti"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"medtranslate: error: {tmp_path / 'missing'}"), err


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_silences_the_per_iteration_loss_lines(capsys, quiet):
    # the bundles' train.json log losses with MONAI's StatsHandler, whose logger has its own stdout handler,
    # propagate=False and level INFO set when the handler is built (after the CLI configured logging): a root-logger
    # level alone does not silence it
    configure_logging(quiet)
    try:
        stats = StatsHandler(name=f"test_cli_output.stats.{quiet}", tag_name="loss_G", output_transform=float)
        trainer = Engine(lambda engine, batch: 0.25)
        stats.attach(trainer)
        trainer.run([0, 1], max_epochs=1)
    finally:
        logging.disable(logging.NOTSET)
    out = capsys.readouterr()
    assert ("loss_G: 0.2500" in out.out + out.err) is not quiet, out
    assert trainer.state.iteration == 2


def test_monai_notices_about_a_missing_cuda_dicom_decoder_are_not_printed(capsys):
    # MONAI's LoadImage builds every default reader; the nvImageCodec one logs and warns on any machine without CUDA
    configure_logging(False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        configure_logging(False)  # re-installs its filters inside this context
        LoadImage(image_only=True)
    err = capsys.readouterr().err
    assert "nvImageCodec" not in err, err
    assert not [w for w in caught if "nvImageCodec" in str(w.message)]
