"""Atomic file writes: the one way fastrl replaces a file (checkpoints, replay files, the metrics CSV).

:func:`atomic_write` writes into a temporary file beside the target, fsyncs it and renames it over the target
(``os.replace``), so a reader sees the old file or the new one, never half of one: an exception, a full disk
or a process killed mid-write leaves the previous file intact. A write that fails removes its temporary file;
one killed outright cannot, so each successful write also removes the temporaries that earlier interrupted
writes of the same target left behind.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager: yields the path of a temporary file to write (in ``path``'s directory, created if
    missing); on a normal exit it is fsynced and renamed over ``path``, on an exception removed.

    The file gets the permissions a plain ``open(path, "w")`` would (0666 less the umask).

    Raises:
        OSError: the directory cannot be created, or the file cannot be written or renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}."
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        os.close(fd)
        yield tmp
        with open(tmp, "rb+", buffering=0) as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    # Temporaries of earlier writes of this target that were killed before they could clean up.
    for stale in glob.glob(os.path.join(glob.escape(str(path.parent)), glob.escape(prefix) + "*.tmp")):
        with contextlib.suppress(OSError):
            os.unlink(stale)
