"""Exceptions that reach users as one clear line.

Every error raised for a bad input or a bad destination is a :class:`MedTranslateError`. Its ``str()`` is the single
line that the command line prints (``"<path>: <problem>"``); the CLI never shows a traceback for it unless ``--debug``.
Every error or warning line on stderr has one form, argparse's: ``medtranslate: error: <path>: <problem>``
(:func:`message_line`), whether it ends the run or reports one failed item of a batch.
"""

from __future__ import annotations

import os

__all__ = ["MedTranslateError", "InputError", "OutputError", "ConfigError", "message_line", "PROG"]

#: The program name that starts every error and warning line.
PROG = "medtranslate"


class MedTranslateError(Exception):
    """Base class of the errors medtranslate reports to users.

    Args:
        path: the file or folder the problem is about, or ``None`` when there is none.
        problem: one short sentence saying what is wrong (and, where possible, what to do).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem.strip().rstrip(".")
        super().__init__(self.__str__())

    def __str__(self) -> str:
        first = " ".join(self.problem.split())  # one line, always
        return f"{self.path}: {first}" if self.path else first

    def __reduce__(self):  # picklable across process pools
        return (self.__class__, (self.path, self.problem))


class InputError(MedTranslateError):
    """An input file or folder cannot be read or is not what the operation expects."""


class OutputError(MedTranslateError):
    """A destination cannot be written."""


class ConfigError(MedTranslateError):
    """A datalist, bundle config or command-line option is invalid."""


def message_line(message: object, level: str = "error") -> str:
    """The one form of every error and warning line: ``medtranslate: <level>: <message>`` (argparse's form).

    Args:
        message: the message (a :class:`MedTranslateError` gives ``<path>: <problem>``); folded to one line.
        level: ``"error"`` or ``"warning"``.

    Returns:
        The line, without a newline.
    """
    return f"{PROG}: {level}: {' '.join(str(message).split())}"
