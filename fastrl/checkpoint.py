"""Atomic checkpoint files shared by every agent.

A checkpoint (format version 2) is one file of sections followed by an index::

    "FASTRL-CKPT" magic (16 bytes), version (uint32), 4 reserved bytes
    section "state":  a torch.save blob of the agent's state (tensors, numpy arrays, numbers, plain
                      containers), without the replay memory
    section "replay": the replay memory in fastrl's replay file format (optional), streamed from the C++
                      storage: it costs what the memory holds, not its capacity, and no second copy is made
    index:            JSON {"kind", "sections": [{"name", "offset", "bytes"}]}, its length (uint64) and the
                      end magic (16 bytes)

It is written atomically (:func:`fastrl.fileio.atomic_write`): a failed or interrupted save leaves the previous
checkpoint intact. Version-1 checkpoints (one torch.save file with the replay memory inside) still load.

**Loading runs no code from the file.** The state is read with ``torch.load(weights_only=True)``: tensors,
numbers, strings and plain containers, plus numpy arrays and dtypes (rebuilt from their bytes, allowed
explicitly). Any other pickled object (a class, a function, a ``__reduce__`` payload) is refused with
``OSError`` before it is constructed, so a checkpoint from a stranger cannot run code.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastrl.fileio import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "Checkpoint", "torch_rng_state",
           "set_torch_rng_state"]

_MAGIC_V1 = "fastrl-checkpoint"
_MAGIC = b"FASTRL-CKPT\x00\x00\x00\x00\x00"
_END_MAGIC = b"FASTRL-CKPT-END\x00"
_VERSION = 2
_HEAD = struct.Struct("<16sII")   # magic, version, reserved
_TAIL = struct.Struct("<Q16s")    # index length, end magic

# What numpy arrays, dtypes and scalars (and bytes, in pickle protocol 2) pickle to: data rebuilt from bytes,
# no code. Everything else that is not a tensor, number, string or plain container is refused by torch's
# weights_only unpickler.
_NUMPY_GLOBALS = [bytes, np.ndarray, np.dtype, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
                  *(getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType"))]


def _safe_load(source: Any, what: str) -> Any:
    """``torch.load`` without code execution (see the module docstring); refusals become OSError."""
    try:
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        msg = str(err)
        refused = next((line.strip() for line in msg.splitlines()
                        if any(k in line.lower() for k in ("unsupported global", "can only build", "blocked"))), None)
        if refused is not None:
            raise OSError(f"{what} holds a pickled object that is not plain data ({refused}); fastrl refuses to "
                          "load it: loading a checkpoint never runs code from it") from None
        raise OSError(f"{what} is truncated or not a fastrl checkpoint: {err}") from err
    except (RuntimeError, EOFError, ValueError) as err:
        raise OSError(f"{what} is truncated or not a fastrl checkpoint: {err}") from err


@dataclass
class Checkpoint:
    """A checkpoint read by :func:`read_checkpoint`: the agent's kind and state, and where its replay memory
    lies in the file (None when it was saved without one)."""

    path: Path
    kind: str
    payload: dict[str, Any]
    replay: tuple[int, int] | None = None

    def load_replay_into(self, buffer: Any) -> None:
        """Streams the saved replay memory into ``buffer`` (a fastrl replay buffer of the same
        configuration; it is emptied if the stream turns out corrupted).

        Raises:
            ValueError: no replay memory was saved, or it is truncated, corrupted or of another configuration.
        """
        if self.replay is None:
            raise ValueError(f"checkpoint {str(self.path)!r} was saved without its replay memory")
        offset, size = self.replay
        with open(self.path, "rb", buffering=0) as f:
            end = buffer.read_into(f, offset, offset + size, str(self.path))
        if end != offset + size:
            raise ValueError(f"checkpoint {str(self.path)!r}: the replay section has {offset + size - end} extra bytes")


def save_checkpoint(path: str | os.PathLike, kind: str, payload: dict[str, Any], *, replay: Any = None) -> Path:
    """Writes ``payload`` (and the replay memory ``replay``, streamed, if given) atomically to ``path``, tagged
    with ``kind`` (e.g. ``"dqn"``); returns the path.

    Raises:
        OSError: the directory cannot be created or written (a full disk included); the previous file at
            ``path`` is then unchanged and no temporary file is left.
    """
    path = Path(path)
    state = io.BytesIO()
    torch.save(payload, state)
    with atomic_write(path) as tmp, open(tmp, "wb", buffering=0) as f:
        _write_all(f, _HEAD.pack(_MAGIC, _VERSION, 0))
        sections = [{"name": "state", "offset": f.tell(), "bytes": state.getbuffer().nbytes}]
        _write_all(f, state.getbuffer())
        del state
        if replay is not None:
            start = f.tell()
            replay.write_to(f)
            end = os.lseek(f.fileno(), 0, os.SEEK_CUR)
            sections.append({"name": "replay", "offset": start, "bytes": end - start})
            f.seek(end)
        index = json.dumps({"kind": kind, "sections": sections}).encode()
        _write_all(f, index)
        _write_all(f, _TAIL.pack(len(index), _END_MAGIC))
    return path


def _write_all(f: Any, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        n = f.write(view)
        view = view[n:]


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Reads a checkpoint written by :func:`save_checkpoint` (or a version-1 one).

    The state is loaded without running code from the file (see the module docstring). The replay memory
    is not read here: :meth:`Checkpoint.load_replay_into` streams it into a buffer.

    Raises:
        OSError: ``path`` is missing, truncated or not a fastrl checkpoint, or holds pickled objects that
            are not plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise OSError(f"checkpoint path {str(path)!r} does not exist or is not a file")
    bad = f"checkpoint path {str(path)!r} is truncated or not a fastrl checkpoint"
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(_HEAD.size)
        if len(head) < _HEAD.size or not head.startswith(_MAGIC):
            return _read_v1(path)
        _, version, _ = _HEAD.unpack(head)
        if version != _VERSION:
            raise OSError(f"checkpoint path {str(path)!r} has unsupported version {version!r}")
        if size < _HEAD.size + _TAIL.size:
            raise OSError(bad)
        index_len, end_magic = _TAIL.unpack(os.pread(f.fileno(), _TAIL.size, size - _TAIL.size))
        if end_magic != _END_MAGIC or index_len > size - _HEAD.size - _TAIL.size:
            raise OSError(bad)
        try:
            index = json.loads(os.pread(f.fileno(), index_len, size - _TAIL.size - index_len))
            kind = str(index["kind"])
            sections = {s["name"]: (int(s["offset"]), int(s["bytes"])) for s in index["sections"]}
            offset, nbytes = sections["state"]
        except (ValueError, KeyError, TypeError) as err:
            raise OSError(f"{bad}: {err}") from err
        if any(o < _HEAD.size or o + n > size - _TAIL.size - index_len for o, n in sections.values()):
            raise OSError(bad)
        blob = os.pread(f.fileno(), nbytes, offset)
    payload = _safe_load(io.BytesIO(blob), f"checkpoint path {str(path)!r}")
    if not isinstance(payload, dict):
        raise OSError(bad)
    return Checkpoint(path, kind, payload, sections.get("replay"))


def _read_v1(path: Path) -> Checkpoint:
    """A version-1 checkpoint: one torch.save file with the whole state, replay memory included."""
    blob = _safe_load(path, f"checkpoint path {str(path)!r}")
    if not isinstance(blob, dict) or blob.get("magic") != _MAGIC_V1:
        raise OSError(f"checkpoint path {str(path)!r} is not a fastrl checkpoint")
    if blob.get("version") != 1:
        raise OSError(f"checkpoint path {str(path)!r} has unsupported version {blob.get('version')!r}")
    return Checkpoint(path, str(blob.get("kind")), blob["payload"], None)


def load_checkpoint(path: str | os.PathLike, kind: str) -> Checkpoint:
    """:func:`read_checkpoint` for a checkpoint of one agent ``kind``.

    Raises:
        OSError: ``path`` is missing, truncated or not a fastrl checkpoint.
        ValueError: the checkpoint was written by another agent (``kind`` differs).
    """
    ckpt = read_checkpoint(path)
    if ckpt.kind != kind:
        raise ValueError(f"checkpoint path {str(path)!r} holds a {ckpt.kind!r} agent, not {kind!r}")
    return ckpt


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
