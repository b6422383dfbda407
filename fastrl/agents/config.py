"""Config machinery every agent shares: presets, defaults, validation and plain-dict round trips.

An agent's config is a dataclass deriving from :class:`AgentConfig`, which holds the fields every agent has.
Its tunable fields default to ``None``;
when the config is built, each field still ``None`` takes the value of the preset (a named one when the
config has a ``preset`` field set, else the one for its ``env_id``, with ``"atari"`` serving every Atari id),
then of the class's ``DEFAULTS``. Fields passed explicitly win over both. The resolved config is checked by
its ``validate`` method, which raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = ["AgentConfig", "require", "require_int", "require_real"]


@dataclass
class AgentConfig:
    """The fields every agent's config has (the run: task, budget, seed, device, logging, checkpoints,
    stopping rule); each agent's config dataclass derives from it and adds its algorithm's fields.

    Subclasses set ``PRESETS`` (preset name or env id -> field values) and ``DEFAULTS`` (field -> value for
    fields no preset names) and extend :meth:`validate` (calling ``super().validate()``).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    DEFAULTS: ClassVar[dict[str, Any]] = {}

    env_id: str = "CartPole-v1"
    """gymnasium id of the task, made with ``fastrl.make_vec``."""
    preset: str | None = None
    """named preset to start from instead of the env's (see the agent's PRESETS)."""
    total_steps: int | None = None
    """planned length of the run in env steps: the CLI's budget; schedules refer to it."""
    seed: int = 0
    """seed of the envs, the networks' initialisation, exploration and the replay memory."""
    device: str = "cpu"
    """torch device of the networks (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
    num_envs: int | None = None
    """number of envs stepped together; each step adds ``num_envs`` transitions."""
    torch_threads: int | None = None
    """``torch.set_num_threads`` for this process on CPU (None or 0: leave torch's setting)."""
    log_interval: int | None = None
    """env steps between logged losses and steps/s."""
    save_replay: bool | None = None
    """write the replay memory into checkpoints (exact resume); without it a resumed run refills the memory."""
    stop_mean_return: float | None = None
    """stop training once the mean return of the last ``stop_window`` episodes reaches this (None: never)."""
    stop_window: int | None = None
    """episodes averaged by ``stop_mean_return`` (at most 100)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """extra keyword arguments for ``fastrl.make_vec`` (e.g. ``max_episode_steps``)."""

    def __post_init__(self) -> None:
        env_id = getattr(self, "env_id", None)
        if not isinstance(env_id, str) or not env_id:
            raise ValueError(f"env_id must be a non-empty str, got {env_id!r}")
        preset = self.preset_values()
        # A named preset made for one task brings its env_id, unless another task than the default was given.
        default_env = next(f.default for f in dataclasses.fields(self) if f.name == "env_id")  # type: ignore[arg-type]
        if "env_id" in preset and env_id == default_env:
            self.env_id = preset["env_id"]  # type: ignore[attr-defined]
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if getattr(self, f.name) is None:
                setattr(self, f.name, preset.get(f.name, self.DEFAULTS.get(f.name)))
        for name in _float_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, str) and value in ("inf", "-inf"):  # how to_dict writes them (strict JSON)
                setattr(self, name, float(value))
        for name in _tuple_fields(type(self)):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                    raise ValueError(f"{name} must be a sequence of ints, got {value!r}")
                setattr(self, name, tuple(int(v) for v in value))
        self.validate()

    def preset_values(self) -> dict[str, Any]:
        """The preset this config starts from: ``PRESETS[preset]`` when the config names one, else the
        preset of ``env_id`` (``"atari"`` for every Atari id), else none."""
        name = getattr(self, "preset", None)
        if name is not None:
            if name not in self.PRESETS:
                raise ValueError(f"preset must be one of {sorted(self.PRESETS)}, got {name!r}")
            return self.PRESETS[name]
        env_id = self.env_id  # type: ignore[attr-defined]
        if env_id in self.PRESETS:
            return self.PRESETS[env_id]
        if "atari" in self.PRESETS:
            from fastrl.vector.atari import is_atari_id

            if is_atari_id(env_id):
                return self.PRESETS["atari"]
        return {}

    def validate(self) -> None:
        """Checks the resolved fields; raises ``ValueError`` naming the first bad one. Subclasses extend it."""
        for name in ("total_steps", "num_envs", "log_interval"):
            require_int(self, name, 1)
        require_int(self, "torch_threads", 0, optional=True)
        require_real(self, "stop_mean_return", optional=True)
        require_int(self, "stop_window", 1)
        require(self, "stop_window", self.stop_window <= 100, "at most 100")
        require(self, "env_kwargs", isinstance(self.env_kwargs, dict), "a dict")

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings as strict-JSON values (tuples as lists, infinities as ``"inf"``);
        ``type(config)(**d)`` rebuilds the config."""
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        for name in _tuple_fields(type(self)):
            if d[name] is not None:
                d[name] = list(d[name])
        for name in _float_fields(type(self)):
            if isinstance(d[name], float) and math.isinf(d[name]):
                d[name] = "inf" if d[name] > 0 else "-inf"  # strict JSON has no Infinity
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AgentConfig:
        """Rebuilds a config from :meth:`to_dict`'s output; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}")
        return cls(**values)


@functools.cache
def _float_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields annotated as a float (possibly Optional); resolved once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(f.name for f in dataclasses.fields(cls)
                 if float in (typing.get_args(hints[f.name]) or (hints[f.name],)))


@functools.cache
def _tuple_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields annotated as a tuple (possibly Optional); resolved once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(f.name for f in dataclasses.fields(cls)
                 if any(typing.get_origin(a) is tuple for a in (typing.get_args(hints[f.name]) or (hints[f.name],))))


def require(config: Any, name: str, ok: bool, what: str) -> None:
    """Raises ``ValueError("<name> must be <what>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {what}, got {getattr(config, name)!r}")


def require_int(config: Any, name: str, minimum: int = 1, *, optional: bool = False) -> None:
    """``config.<name>`` is an int (not a bool) >= ``minimum`` (or None where ``optional``)."""
    value = getattr(config, name)
    if optional and value is None:
        return
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
    require(config, name, ok, f"an int >= {minimum}" + (" or None" if optional else ""))


def require_real(config: Any, name: str, low: float = -math.inf, high: float = math.inf, *,
                 low_open: bool = False, high_open: bool = False, optional: bool = False) -> None:
    """``config.<name>`` is a real number in the interval from ``low`` to ``high`` (open ends as given)."""
    value = getattr(config, name)
    if optional and value is None:
        return
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and not math.isnan(value) and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    require(config, name, ok, f"a number in {interval}" + (" or None" if optional else ""))
