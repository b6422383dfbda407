"""Atomic checkpoint files shared by every agent.

A checkpoint is one ``torch.save`` file holding a dict of tensors, numpy arrays, plain Python values and
bytes. It is written to a temporary file in the target directory, flushed to disk and renamed over the
target (``os.replace``), so a crash while saving leaves the previous checkpoint intact, never half a file.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "torch_rng_state", "set_torch_rng_state"]

_MAGIC = "fastrl-checkpoint"
_VERSION = 1


def save_checkpoint(path: str | os.PathLike, kind: str, payload: dict[str, Any]) -> Path:
    """Writes ``payload`` atomically to ``path`` tagged with ``kind`` (e.g. ``"dqn"``); returns the path.

    Raises:
        OSError: the directory cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"magic": _MAGIC, "version": _VERSION, "kind": kind, "payload": payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blob, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """Reads a checkpoint written by :func:`save_checkpoint`; returns ``(kind, payload)``.

    The file is fastrl's own (it may hold pickled environment snapshots), so it is loaded with
    ``weights_only=False``: load only checkpoints you trust, as with any pickle.

    Raises:
        OSError: ``path`` is missing, truncated or not a fastrl checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"checkpoint path {str(path)!r} does not exist or is not a file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise OSError(f"checkpoint path {str(path)!r} is truncated or not a fastrl checkpoint: {err}") from err
    if not isinstance(blob, dict) or blob.get("magic") != _MAGIC:
        raise OSError(f"checkpoint path {str(path)!r} is not a fastrl checkpoint")
    if blob.get("version") != _VERSION:
        raise OSError(f"checkpoint path {str(path)!r} has unsupported version {blob.get('version')!r}")
    return str(blob.get("kind")), blob["payload"]


def load_checkpoint(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """:func:`read_checkpoint` for a checkpoint of one agent ``kind``; returns the payload.

    Raises:
        OSError: ``path`` is missing, truncated or not a fastrl checkpoint.
        ValueError: the checkpoint was written by another agent (``kind`` differs).
    """
    found, payload = read_checkpoint(path)
    if found != kind:
        raise ValueError(f"checkpoint path {str(path)!r} holds a {found!r} agent, not {kind!r}")
    return payload


def torch_rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU, and every CUDA device when CUDA is initialised)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_torch_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`torch_rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
