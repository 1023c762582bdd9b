"""Every error unmask raises on purpose, and the exit code each one maps to.

This module imports nothing else from unmask, so any stage can raise these
errors and the CLI, the server and the batch runner can all map them.

Tree::

    UnmaskError                       exit 70 (internal) unless a subclass says otherwise
    ├── UsageError                    exit 2: bad command-line or API arguments
    ├── InputError (ValueError)       exit 3: the input cannot be analysed
    │   ├── FileAccessError (OSError) missing file, no permission, a directory where a file was expected
    │   ├── UnsupportedMediaError     content is not a format unmask reads
    │   ├── DecodeError               the format is known but the data is broken or truncated
    │   └── LimitExceededError        size, pixels, duration or frame limit exceeded
    └── ModelError                    exit 4: a detector's model failed to load or run

``str(exc)`` is a one-line message written for a person; ``exc.hint`` says what
to do about it; ``exc.reference`` is a stable kebab-case id for docs and JSON.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``unmask`` command (documented in ``--help`` and the README)."""

    OK = 0  # every input was read and none was flagged
    FLAGGED = 1  # at least one input is likely manipulated/synthetic
    USAGE = 2  # bad command line
    INPUT = 3  # at least one input could not be read (takes precedence over FLAGGED)
    MODEL = 4  # a detector model failed to load or run
    INTERNAL = 70  # a bug: please report it with --debug output
    INTERRUPTED = 130  # Ctrl-C


class UnmaskError(Exception):
    """Base of every error unmask raises on purpose; ``str(exc)`` is written for the user."""

    reference = "unmask-error"
    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "message": str(self),
            "hint": self.hint,
            "exit_code": int(self.exit_code),
        }


class UsageError(UnmaskError, ValueError):
    reference = "usage"
    exit_code = ExitCode.USAGE


class InputError(UnmaskError, ValueError):
    reference = "bad-input"
    exit_code = ExitCode.INPUT


class FileAccessError(InputError, OSError):
    reference = "file-access"


class UnsupportedMediaError(InputError):
    reference = "unsupported-media"


class DecodeError(InputError):
    reference = "decode-failed"


class LimitExceededError(InputError):
    reference = "limit-exceeded"


class ModelError(UnmaskError, RuntimeError):
    reference = "model-failed"
    exit_code = ExitCode.MODEL
