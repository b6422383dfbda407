"""Replay memory: uniform and prioritized, n-step, frame-stack aware (C++ core in ``csrc/replay``).

Semantics (every sample is bit-exact with what was added):

- **One stream per env.** ``add`` takes one step of ``num_envs`` envs at once (a leading ``num_envs``
  axis on every argument). Env i's transitions form its episodes; n-step sums and frame stacks never
  cross an episode end (``terminated`` or ``truncated``) and never mix envs. ``mask[i] == False`` skips
  env i on that step (use it with gymnasium's NEXT_STEP autoreset, where the step after an episode end
  is a reset, not a transition).
- **n-step.** A sampled transition reached ``k <= n_step`` steps ahead (fewer at an episode end):
  ``reward = sum_{j<k} gamma**j * r_{t+j}`` and ``discount = gamma**k``, or ``0`` if the episode
  terminated within those ``k`` steps (a truncation keeps ``gamma**k``). ``next_obs`` is the observation
  after the k-th step (the true final observation at an episode end). Agents compute
  ``target = reward + discount * bootstrap(next_obs)``. A transition becomes sampleable once its k steps
  are known (at once when ``n_step == 1``).
- **Exactness and memory.** ``obs``/``next_obs`` of a sample are bit-identical to what ``add`` received.
  About one observation is stored per transition: ``next_obs`` is the next transition's ``obs`` when
  the caller's next ``obs`` equals it (checked byte for byte, never assumed); otherwise (episode ends,
  or a stream that does not continue) it is kept aside. A stream that does not continue without an
  episode end closes its n-step windows there, like a truncation.
- **Frame stacks** (``frame_stack=k``): observations are stacks ``(k, *frame_shape)`` along axis 0;
  one new frame is stored per transition, plus the k-1 older frames of a stack whenever it is not the
  frame-shifted continuation of the env's previous obs (episode starts, whatever the env's padding).
- **Ring.** Slots form one ring of ``capacity`` transitions shared by all envs, overwritten oldest
  first. A transition is sampleable while it is among the last ``capacity`` added and its window is
  closed; anything it still needs from overwritten slots is kept.
- **Indices.** ``Batch.indices`` are transition ids (the running count of transitions added);
  ``index % capacity`` is the slot. They tell stale samples apart: ``update_priorities`` ignores an
  index whose slot has since been overwritten.
- **Threads.** ``add``, ``sample`` and ``update_priorities`` are safe to call from several Python
  threads (a per-buffer lock); they release the GIL while copying large data.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import struct
import zlib
from typing import Any, NamedTuple

import numpy as np

from fastrl import _core
from fastrl._checks import check_int, check_real
from fastrl.fileio import atomic_write

__all__ = ["Batch", "ReplayBuffer", "PrioritizedReplayBuffer"]

_MAGIC = b"FASTRL-REPLAY\x00\x00\x00"
_FORMAT_VERSION = 1  # of state_dict()
_FILE_VERSION = 2  # of save(): streamed, only the slots that hold data; version 1 files still load
_HEADER = struct.Struct("<16sIQ")  # magic, format version, JSON header length


class Batch(NamedTuple):
    """A sampled batch of B transitions (numpy arrays, or torch CPU tensors with ``as_torch=True``).

    Fields:
        obs: ``(B, *obs_shape)`` of ``obs_dtype``, the observation o_t.
        action: ``(B, *action_shape)`` of ``action_dtype``, a_t.
        reward: ``(B,)`` float32, ``sum_{j<k} gamma**j r_{t+j}``.
        next_obs: ``(B, *obs_shape)`` of ``obs_dtype``, o_{t+k} (the true final obs at an episode end).
        discount: ``(B,)`` float32, ``gamma**k``, or 0 if the episode terminated within the k steps.
        indices: ``(B,)`` int64 transition ids, for ``update_priorities``.
        weights: ``(B,)`` float32 importance weights (ones for a uniform buffer).
    """

    obs: Any
    action: Any
    reward: Any
    next_obs: Any
    discount: Any
    indices: Any
    weights: Any

    def to(self, device: Any) -> Batch:
        """Returns a Batch with every tensor moved to ``device`` with ``non_blocking=True``.

        Needs a batch sampled with ``as_torch=True``; from pinned memory the copies to CUDA are
        asynchronous.
        """
        if not all(hasattr(x, "to") and hasattr(x, "is_pinned") for x in self):
            raise TypeError("Batch.to needs torch tensors: sample with as_torch=True")
        return Batch(*(x.to(device, non_blocking=True) for x in self))


_FIELDS = Batch._fields


def _shape_arg(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {value!r}") from None
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise ValueError(f"{name} must hold positive ints, got {value!r}")
    return tuple(int(d) for d in shape)


def _dtype_arg(value: Any, name: str) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(f"{name} must be a numpy dtype, got {value!r}") from None
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(f"{name} must be a plain numeric or bool dtype, got {dtype}")
    return dtype


class ReplayBuffer(_core._ReplayCore):
    """Uniform replay memory with n-step returns and frame stacks (see the module docstring).

    Args:
        capacity: transitions kept (all envs together), 1 <= capacity < 2**31.
        obs_shape: shape of ONE observation as passed to ``add`` for one env; ``(k, H, W)`` with
            ``frame_stack=k`` (stacks along axis 0, ``obs_shape[0] == k``).
        obs_dtype: dtype of observations; ``obs``/``next_obs`` must have exactly it (never cast).
        action_shape: shape of one action (``()`` for discrete actions).
        action_dtype: dtype of actions; ``action`` must have exactly it.
        num_envs: envs stepped together; every ``add`` argument has a leading ``num_envs`` axis.
        n_step: steps summed into one transition (>= 1).
        gamma: discount in [0, 1].
        frame_stack: frames per observation (>= 1); > 1 stores one new frame per transition.
        seed: seed of the buffer's own RNG (None: drawn from the OS).
    """

    _prioritized = False

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: Any = np.float32,
        action_shape: tuple[int, ...] = (),
        action_dtype: Any = np.int64,
        num_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        frame_stack: int = 1,
        seed: int | None = None,
        *,
        alpha: float = 0.6,
        eps: float = 1e-6,
    ) -> None:
        capacity = check_int("capacity", capacity, 1)
        if capacity > 2**31 - 1:
            raise ValueError(f"capacity must be < 2**31, got {capacity}")
        obs_shape = _shape_arg(obs_shape, "obs_shape")
        action_shape = _shape_arg(action_shape, "action_shape")
        obs_dtype = _dtype_arg(obs_dtype, "obs_dtype")
        action_dtype = _dtype_arg(action_dtype, "action_dtype")
        num_envs = check_int("num_envs", num_envs, 1)
        n_step = check_int("n_step", n_step, 1)
        gamma = check_real("gamma", gamma, 0.0, 1.0)
        frame_stack = check_int("frame_stack", frame_stack, 1)
        if frame_stack > 1 and (len(obs_shape) < 1 or obs_shape[0] != frame_stack):
            raise ValueError(
                f"obs_shape must start with frame_stack={frame_stack} (stacks along axis 0), got {obs_shape}"
            )
        alpha = check_real("alpha", alpha, 0.0)
        eps = check_real("eps", eps, 0.0, low_open=True)
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be None or an int in [0, 2**64), got {seed!r}")
        self._config = {
            "capacity": capacity,
            "obs_shape": list(obs_shape),
            "obs_dtype": obs_dtype.str,
            "action_shape": list(action_shape),
            "action_dtype": action_dtype.str,
            "num_envs": num_envs,
            "n_step": n_step,
            "gamma": gamma,
            "frame_stack": frame_stack,
            "prioritized": self._prioritized,
            "alpha": alpha,
            "eps": eps,
        }
        self._seed = int(seed)
        self._obs_shape, self._action_shape = obs_shape, action_shape
        self._obs_dtype, self._action_dtype = obs_dtype, action_dtype
        super().__init__(capacity, list(obs_shape), obs_dtype, list(action_shape), action_dtype, num_envs,
                         n_step, gamma, frame_stack, int(seed), self._prioritized, alpha, eps)

    # ``add`` is the C++ method itself (no Python layer on the hot path); see its docstring.

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation (per env)."""
        return self._obs_shape

    @property
    def num_envs(self) -> int:
        """Number of envs added together."""
        return self._config["num_envs"]

    # ``sample(batch_size, *, out=None, as_torch=False, pin_memory=None)`` is a C++ method that
    # serves plain calls itself and hands any other call to ``_sample_slow``; see its docstring.
    sample = _core._ReplayCore._uniform_sample

    def _sample_slow(
        self, batch_size: int, *, out: Batch | None = None, as_torch: bool = False, pin_memory: bool | None = None
    ) -> Batch:
        if out is None and not as_torch:
            return self._sample(batch_size, 0.0)
        return self._sample_general(batch_size, 0.0, out, as_torch, pin_memory)

    def _sample_general(self, batch_size: int, beta: float, out: Batch | None, as_torch: bool,
                        pin_memory: bool | None) -> Batch:
        batch_size = check_int("batch_size", batch_size, 1)
        shapes = self._field_specs(batch_size)
        if as_torch:
            import torch

            if pin_memory is None:
                pin_memory = torch.cuda.is_available()
            if pin_memory and not torch.cuda.is_available():
                raise ValueError("pin_memory=True needs CUDA, which is not available")
            if out is None and not pin_memory:
                # Fresh arrays from the C++ fast path, shared with torch: a seventh of the cost of sampling
                # into new tensors (no per-field allocation through torch and no checks of caller buffers).
                return Batch(*(torch.from_numpy(x) for x in self._sample(int(batch_size), beta)))
            if out is None:
                out = Batch(*(torch.empty(shape, dtype=_torch_dtype(dtype), pin_memory=bool(pin_memory))
                              for shape, dtype in shapes))
            arrays = [_tensor_as_array(x, f"out.{name}") for x, name in zip(_checked_out(out), _FIELDS, strict=True)]
        else:
            if out is None:
                out = Batch(*(np.empty(shape, dtype) for shape, dtype in shapes))
            arrays = list(_checked_out(out))
        for a, name, (shape, dtype) in zip(arrays, _FIELDS, shapes, strict=True):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"out.{name} must be a numpy array, got {type(a).__name__}")
            if a.dtype != dtype:
                raise TypeError(f"out.{name} must have dtype {dtype}, got {a.dtype}")
            if a.shape != shape:
                raise ValueError(f"out.{name} must have shape {shape}, got {a.shape}")
            if not a.flags.c_contiguous or not a.flags.writeable:
                raise ValueError(f"out.{name} must be a writeable C-contiguous array")
        self._sample_into(batch_size, beta, *arrays)
        return Batch(*out)

    def _field_specs(self, b: int) -> list[tuple[tuple[int, ...], np.dtype]]:
        f32 = np.dtype(np.float32)
        return [((b, *self._obs_shape), self._obs_dtype), ((b, *self._action_shape), self._action_dtype),
                ((b,), f32), ((b, *self._obs_shape), self._obs_dtype), ((b,), f32),
                ((b,), np.dtype(np.int64)), ((b,), f32)]

    # ---- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: contents, open n-step windows, priorities, positions
        and RNG state, as plain numpy arrays and Python scalars (``"config"`` is a dict)."""
        state = self._state()
        state["config"] = dict(self._config)
        state["format_version"] = _FORMAT_VERSION
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a ``state_dict()`` of a buffer with the same configuration (else ValueError);
        sampling afterwards continues exactly as the saved buffer would have."""
        if not isinstance(state, dict) or "config" not in state:
            raise ValueError("state must be a dict returned by state_dict()")
        if state.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"state has format version {state.get('format_version')!r}, expected {_FORMAT_VERSION}")
        self._check_config(dict(state["config"]), "state")
        self._set_state({k: v for k, v in state.items() if k not in ("config", "format_version")})

    def _check_config(self, theirs: dict[str, Any], what: str) -> None:
        """Raises ValueError naming the first setting in which ``theirs`` (a saved config) differs from this
        buffer's; ``what`` names the saved thing in the message."""
        for key, mine in self._config.items():
            if theirs.get(key) != mine:
                raise ValueError(f"{what} was saved with {key}={theirs.get(key)!r}, this buffer has {key}={mine!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickling, for handing a buffer to another process (a Ray actor, a multiprocessing worker): the
        configuration, the seed and :meth:`state_dict`; the copy samples exactly as the original would.
        (fastrl itself never unpickles: its files are read with :meth:`load`.)"""
        c = self._config
        args = (c["capacity"], tuple(c["obs_shape"]), np.dtype(c["obs_dtype"]), tuple(c["action_shape"]),
                np.dtype(c["action_dtype"]), c["num_envs"], c["n_step"], c["gamma"], c["frame_stack"], self._seed)
        return _rebuild_buffer, (type(self), args, {"alpha": c["alpha"], "eps": c["eps"]}, self.state_dict())

    @property
    def nbytes(self) -> int:
        """Bytes this buffer allocated up front for its capacity (the ring, the per-env heads, the sum tree):
        the figure it checked against the machine's memory when it was made, and the one
        :func:`fastrl.memory.replay_memory_bytes` computes before a buffer exists (the same function)."""
        from fastrl.memory import replay_memory_bytes

        c = self._config
        return replay_memory_bytes(c["capacity"], tuple(c["obs_shape"]), c["obs_dtype"], tuple(c["action_shape"]),
                                   c["action_dtype"], c["num_envs"], c["frame_stack"], c["prioritized"])

    @property
    def nbytes_held(self) -> int:
        """Bytes of the stored data (slots that hold a transition: metadata, frames, actions, priorities):
        about what :meth:`save` writes and what loading it allocates beyond the empty buffer."""
        return int(self._held_bytes)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the buffer to one file, atomically (a temporary file beside it, fsync, then
        ``os.replace``); a failed save leaves no temporary file and any previous file intact.

        The contents are streamed from the C++ storage to the file in chunks: the file and the memory the save
        costs grow with what the buffer holds, not with its capacity, and no second copy of the buffer is
        made. Format (version 2): a 28-byte header (magic, version, JSON length), a JSON header (class,
        config, scalars, array table), the arrays, then the payload's CRC-32.

        Raises:
            OSError: the file cannot be written (a full disk included).
        """
        with atomic_write(path) as tmp, open(tmp, "wb", buffering=0) as f:
            self.write_to(f)

    def write_to(self, f: Any) -> None:
        """Streams the buffer in :meth:`save`'s format to ``f``, an unbuffered binary file open for writing,
        at its current position (for files that hold a buffer among other things)."""
        self._save_stream(f.fileno(), type(self).__name__, json.dumps(self._config))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReplayBuffer:
        """Reads a file written by ``save``; returns a ReplayBuffer or PrioritizedReplayBuffer as
        saved. A truncated, corrupted or foreign file raises ValueError (OSError if unreadable)."""
        path = os.fspath(path)
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            buf, end = cls.read_from(f, 0, size, path)
        if end != size:
            raise ValueError(f"{path!r} has {size - end} bytes after the replay memory")
        return buf

    @classmethod
    def read_from(cls, f: Any, offset: int, size: int, name: str) -> tuple[ReplayBuffer, int]:
        """Reads a buffer written by :meth:`write_to` from the binary file ``f`` at ``offset`` (the file
        holds ``size`` bytes, ``name`` names it in errors); returns a new buffer and the offset after it.

        Raises ValueError for a truncated, corrupted or foreign file.
        """
        header, _, _ = _read_header(f, offset, name)
        try:
            config = header["config"]
            klass = {"ReplayBuffer": ReplayBuffer, "PrioritizedReplayBuffer": PrioritizedReplayBuffer}[
                header["class"]]
            buf = klass(config["capacity"], tuple(config["obs_shape"]), np.dtype(config["obs_dtype"]),
                        tuple(config["action_shape"]), np.dtype(config["action_dtype"]), config["num_envs"],
                        config["n_step"], config["gamma"], config["frame_stack"], 0,
                        **({"alpha": config["alpha"], "eps": config["eps"]} if klass._prioritized else {}))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{name!r} has a corrupted header: {err}") from None
        return buf, buf.read_into(f, offset, size, name)

    def read_into(self, f: Any, offset: int, size: int, name: str) -> int:
        """Replaces this buffer's contents with the buffer written by :meth:`write_to` into the binary file
        ``f`` at ``offset`` (the file holds ``size`` bytes); returns the offset after it.

        The stored data streams from the file into this buffer's storage in chunks, with no second copy. The
        saved buffer must have this one's class and configuration. If the stored data turns out truncated
        or corrupted (checked by CRC-32 once read), this buffer is left empty.

        Raises:
            ValueError: a truncated, corrupted or foreign file, or another class or configuration.
        """
        header, version, start = _read_header(f, offset, name)
        if header.get("class") != type(self).__name__:
            raise ValueError(f"{name!r} holds a {header.get('class')}, not a {type(self).__name__}")
        theirs = header.get("config")
        if not isinstance(theirs, dict):
            raise ValueError(f"{name!r} has a corrupted header: no config")
        self._check_config(theirs, repr(name))
        try:
            payload_bytes = int(header["payload_bytes"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{name!r} has a corrupted header: {err}") from None
        if version == 1:
            self._load_v1(os.pread(f.fileno(), payload_bytes, start), header, theirs, name)
            return start + payload_bytes
        end = start + payload_bytes + 4
        if end > size:
            raise ValueError(f"{name!r} is truncated: {size - start} of {payload_bytes + 4} payload bytes")
        try:
            scalars = header["scalars"]
            arrays = [(str(a["name"]), str(a["dtype"]), [int(d) for d in a["shape"]]) for a in header["arrays"]]
            write_count, max_priority = int(scalars["write_count"]), float(scalars["max_priority"])
            rng_state = [int(x) for x in scalars["rng_state"]]
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{name!r} has a corrupted header: {err}") from None
        try:
            self._load_stream(f.fileno(), start, payload_bytes, write_count, max_priority, rng_state, arrays)
        except ValueError as err:
            raise ValueError(f"{name!r}: {err}") from None
        return end

    def _load_v1(self, payload: bytes, header: dict[str, Any], config: dict[str, Any], name: str) -> None:
        """Restores a version-1 file's payload (whole arrays of the full capacity)."""
        if len(payload) != header["payload_bytes"]:
            raise ValueError(f"{name!r} is truncated: {len(payload)} of {header['payload_bytes']} payload bytes")
        if zlib.crc32(payload) != header["crc32"]:
            raise ValueError(f"{name!r} is corrupted (CRC-32 mismatch)")
        state: dict[str, Any] = dict(header["scalars"])
        for entry in header["arrays"]:
            dtype = np.dtype(entry["dtype"])
            count = math.prod(entry["shape"])
            state[entry["name"]] = np.frombuffer(payload, dtype, count, entry["offset"]).reshape(entry["shape"])
        state["config"] = config
        state["format_version"] = _FORMAT_VERSION
        self.load_state_dict(state)

    def __repr__(self) -> str:
        c = self._config
        return (f"{type(self).__name__}(capacity={c['capacity']}, obs_shape={tuple(c['obs_shape'])}, "
                f"num_envs={c['num_envs']}, n_step={c['n_step']}, frame_stack={c['frame_stack']}, len={len(self)})")


class PrioritizedReplayBuffer(ReplayBuffer):
    """Prioritized replay (Schaul et al. 2016) over the same storage as ReplayBuffer.

    Leaf priority ``p_i = (priority_i + eps) ** alpha`` in a float64 sum tree; new transitions enter
    with the largest ``priority + eps`` seen so far (1.0 at first). Sampling is stratified: the total
    mass is cut into ``batch_size`` equal segments and one transition is drawn in each, with
    probability ``P(i) = p_i / sum_j p_j``. Importance weights are
    ``w_i = (N P(i)) ** -beta / max_j (N P(j)) ** -beta`` with the max over every sampleable
    transition in the buffer (not only the batch), i.e. ``(p_i / min_j p_j) ** -beta``, so weights
    are <= 1 and comparable across batches.

    Extra args: ``alpha >= 0`` (0 = uniform), ``eps > 0``.
    """

    _prioritized = True

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any = np.float32,
                 action_shape: tuple[int, ...] = (), action_dtype: Any = np.int64, num_envs: int = 1,
                 n_step: int = 1, gamma: float = 0.99, frame_stack: int = 1, seed: int | None = None,
                 alpha: float = 0.6, eps: float = 1e-6) -> None:
        super().__init__(capacity, obs_shape, obs_dtype, action_shape, action_dtype, num_envs, n_step, gamma,
                         frame_stack, seed, alpha=alpha, eps=eps)

    # ``sample(batch_size, beta=0.4, *, out=None, as_torch=False, pin_memory=None)`` and
    # ``update_priorities(indices, priorities)`` are C++ methods (see their docstrings); sample
    # hands calls other than ``sample(batch_size[, beta])`` with a float beta to ``_sample_slow``.
    sample = _core._ReplayCore._prioritized_sample
    update_priorities = _core._ReplayCore._update_priorities

    def add_with_priorities(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any,
                            truncated: Any, priorities: Any) -> np.ndarray:
        """Adds one complete transition per env, as :meth:`add`, each with its given priority instead of the
        largest seen so far (Ape-X: actors compute the priorities of the transitions they send). Needs
        ``n_step=1``, so that every added transition is complete; n-step transitions are assembled before
        (``reward`` the n-step sum, ``next_obs`` the bootstrap observation). Returns the new transitions'
        indices ``(num_envs,)`` int64, as ``Batch.indices`` gives them.

        Raises:
            ValueError: ``n_step != 1``, or priorities not ``(num_envs,)`` finite and >= 0 (nothing added).
        """
        if self._config["n_step"] != 1:
            raise ValueError(f"add_with_priorities needs n_step=1 (complete transitions), this buffer has "
                             f"n_step={self._config['n_step']}")
        n = self._config["num_envs"]
        p = np.asarray(priorities, dtype=np.float64)
        if p.shape != (n,) or not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError(f"priorities must be {n} finite numbers >= 0 (one per env), got {priorities!r}")
        first = self._write_count
        self.add(obs, action, reward, next_obs, terminated, truncated)
        indices = np.arange(first, first + n, dtype=np.int64)
        self.update_priorities(indices, p)
        return indices

    def _sample_slow(  # type: ignore[override]
        self, batch_size: int, beta: float = 0.4, *, out: Batch | None = None, as_torch: bool = False,
        pin_memory: bool | None = None,
    ) -> Batch:
        beta = check_real("beta", beta, 0.0)
        if out is None and not as_torch:
            return self._sample(batch_size, beta)
        return self._sample_general(batch_size, beta, out, as_torch, pin_memory)


def _rebuild_buffer(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any], state: dict[str, Any]) -> ReplayBuffer:
    """Unpickles a buffer (see ``ReplayBuffer.__reduce__``)."""
    buf = cls(*args, **kwargs)
    buf.load_state_dict(state)
    return buf


def _read_header(f: Any, offset: int, name: str) -> tuple[dict[str, Any], int, int]:
    """The JSON header of a replay file at ``offset`` of ``f``: ``(header, format version, payload start)``."""
    fd = f.fileno()
    head = os.pread(fd, _HEADER.size, offset)
    if len(head) < _HEADER.size or not head.startswith(_MAGIC):
        raise ValueError(f"{name!r} is not a fastrl replay file (bad magic)")
    _, version, header_len = _HEADER.unpack(head)
    if version not in (1, _FILE_VERSION):
        raise ValueError(f"{name!r} has format version {version}; this fastrl reads 1 and {_FILE_VERSION}")
    raw = os.pread(fd, header_len, offset + _HEADER.size)
    if len(raw) != header_len:
        raise ValueError(f"{name!r} is truncated (header)")
    try:
        header = json.loads(raw)
    except ValueError as err:
        raise ValueError(f"{name!r} has a corrupted header: {err}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{name!r} has a corrupted header")
    return header, version, offset + _HEADER.size + header_len


def _checked_out(out: Any) -> tuple[Any, ...]:
    try:
        return tuple(getattr(out, name) for name in _FIELDS)
    except AttributeError as err:
        raise TypeError(f"out must be a Batch (fields {', '.join(_FIELDS)}): {err}") from None


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.from_numpy(np.empty(0, dtype)).dtype


def _tensor_as_array(t: Any, name: str) -> np.ndarray:
    import torch

    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor with as_torch=True, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU tensor, got device {t.device}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous")
    return t.numpy()


_core._set_batch_type(Batch)
