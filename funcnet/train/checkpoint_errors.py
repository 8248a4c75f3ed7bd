"""What went wrong reading a checkpoint, in funcnet's words (:mod:`funcnet.train.checkpoint`)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, or does not match the tree it is restored into."""


READ_ERRORS = (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError, UnicodeError)
_ZIP_MAGIC = b"PK\x03\x04"


def damage(error: BaseException) -> str:
    """What is wrong with a file numpy could not read, in funcnet's words.

    numpy's own messages for a pickle (or for bytes that merely look like one) advise loading
    the file with ``allow_pickle``; a funcnet checkpoint never holds pickled objects, so that
    advice is never passed on.
    """
    text = str(error)
    if "pickle" in text.lower() or "object arrays" in text.lower():
        return "it holds pickled Python objects, which a funcnet checkpoint never contains"
    if isinstance(error, EOFError):
        return "it ends early (truncated)"
    if isinstance(error, zipfile.BadZipFile):
        return f"its zip archive is truncated or corrupted ({text})"
    return f"it is truncated or corrupted ({type(error).__name__}: {text})"


def check_zip(path: Path, file: BinaryIO) -> None:
    """Raise unless ``file`` starts like a zip archive (an ``.npz``), then rewind it."""
    head = file.read(len(_ZIP_MAGIC))
    file.seek(0)
    if not head:
        raise CheckpointError(f"checkpoint {path}: the file is empty (truncated).")
    if head != _ZIP_MAGIC:
        raise CheckpointError(
            f"checkpoint {path}: not a funcnet checkpoint: expected an .npz (zip) archive, got a "
            f"file starting with {head!r} (corrupted, or another kind of file)."
        )


__all__ = ["READ_ERRORS", "CheckpointError", "check_zip", "damage"]
