"""Native C++ classic-control tasks behind gymnasium's ``VectorEnv`` API.

``NativeVectorEnv`` steps ``num_envs`` copies of CartPole-v1/-v0, Pendulum-v1, MountainCar-v0,
MountainCarContinuous-v0 or Acrobot-v1 in one C++ call with the GIL released, on a thread pool for large
batches. From the same state and actions its observations, rewards, terminations and truncations equal
gymnasium's own environments bit for bit (time limits included).

Every ``step``/``reset`` returns freshly allocated arrays: keeping ``obs`` across steps (``obs = next_obs``,
replay adds) is safe.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from fastrl import _core
from fastrl._checks import check_real
from fastrl.vector._api import BaseVectorEnv, EnvClosedError, PendingCallError, StepWaitError, check_reset_mask
from fastrl.vector._common import (
    check_bool,
    check_int,
    check_num_envs,
    check_num_threads,
    check_render_mode,
    check_seed,
    parse_autoreset_mode,
)
from fastrl.vector.render import ClassicFrames

__all__ = ["NativeVectorEnv", "is_native_id", "NATIVE_IDS"]

_MODE_CODES = {AutoresetMode.NEXT_STEP: 0, AutoresetMode.SAME_STEP: 1, AutoresetMode.DISABLED: 2}


@dataclass(frozen=True)
class _Task:
    """What NativeVectorEnv needs to know about one native id."""

    core_class: str
    max_episode_steps: int
    observation_space: spaces.Box
    action_space: spaces.Space
    # env kwarg -> checker returning the value passed to the C++ constructor
    kwargs: dict[str, Any] = field(default_factory=dict)
    # reset(options=...) keys of the two start-state bounds, with gymnasium's defaults
    reset_keys: tuple[str, str] = ("low", "high")
    reset_defaults: tuple[float, float] = (0.0, 0.0)
    symmetric_reset: bool = False  # Pendulum: the keys give half-widths (x_init, y_init)
    # Acrobot: gymnasium keeps the reset state as float32, so the reset observation's cos/sin come from
    # NumPy's float32 kernels, which are not float32(cos(double)); such rows are recomputed with NumPy.
    float32_reset_obs: bool = False


_SETTING_CHECKS = {"bool": check_bool, "real": check_real}


def _task_from_info(core_class: str, env_id: str) -> _Task:
    """One row of the task table, from what the task's C++ header declares (``<Class>.info``)."""
    info = getattr(_core, core_class).info
    observation_space = spaces.Box(np.array(info["obs_low"], dtype=np.float32),
                                   np.array(info["obs_high"], dtype=np.float32), dtype=np.float32)
    if info["num_actions"] > 0:
        action_space: spaces.Space = spaces.Discrete(info["num_actions"])
    else:
        action_space = spaces.Box(low=info["action_low"], high=info["action_high"], shape=(1,), dtype=np.float32)
    return _Task(
        core_class=core_class,
        max_episode_steps=info["ids"][env_id],
        observation_space=observation_space,
        action_space=action_space,
        kwargs={name: _SETTING_CHECKS[kind] for name, kind in info["settings"].items()},
        reset_keys=tuple(info["reset_keys"]),
        reset_defaults=tuple(info["reset_defaults"]),
        symmetric_reset=info["symmetric_reset"],
        float32_reset_obs=info["float32_reset_obs"],
    )


def _make_tasks() -> dict[str, _Task]:
    """Every gymnasium id the compiled tasks stand for (``_core.NATIVE_TASKS``), in registration order."""
    return {env_id: _task_from_info(core_class, env_id)
            for core_class in _core.NATIVE_TASKS for env_id in getattr(_core, core_class).info["ids"]}


_TASKS = _make_tasks()
NATIVE_IDS: tuple[str, ...] = tuple(_TASKS)


def is_native_id(env_id: str) -> bool:
    """Whether ``env_id`` is one of the native C++ tasks (``NATIVE_IDS``)."""
    return env_id in _TASKS


@functools.cache
def _task_constants(env_id: str, settings: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The public scalar attributes of gymnasium's env for ``env_id`` made with ``settings`` (its physical
    constants, which the C++ task shares), minus the drawing's (screen sizes, window state)."""
    env = gym.make(env_id, **dict(settings)).unwrapped
    try:
        names = {*vars(type(env)), *vars(env)}
        return {name: getattr(env, name) for name in sorted(names)
                if not name.startswith("_") and not name.lower().startswith("screen") and name != "isopen"
                and isinstance(getattr(env, name), (bool, int, float, str))}
    finally:
        env.close()


def _render_fps(env_id: str) -> int:
    """Frames per second of gymnasium's env class for ``env_id`` (its ``metadata["render_fps"]``)."""
    env_class = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)
    return int(env_class.metadata["render_fps"])


def _auto_num_threads(num_envs: int, grain: int) -> int:
    """One thread per ``grain`` envs (smaller chunks cost more to hand off than they save), at most one per core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, num_envs // grain))


class _Closed:
    """Stands in for the C++ object after close(), so late calls fail clearly at no per-step cost."""

    def __getattr__(self, name: str) -> Any:
        raise EnvClosedError(f"this vector env is closed ({name} after close())")


class _Float32ResetObs:
    """Wraps Acrobot's C++ env: rewrites the observation rows of freshly reset envs as gymnasium computes them.

    gymnasium keeps Acrobot's reset state as a float32 array, so its reset observation takes cos/sin with
    NumPy's float32 kernels (not float32(cos(double)); they differ in the last bit for ~1 value in 1500).
    Only reset rows are touched, so this costs nothing on steps without episode ends.
    """

    def __init__(self, core: Any, mode: AutoresetMode) -> None:
        self._core = core
        self._same_step = mode == AutoresetMode.SAME_STEP
        self._next_step = mode == AutoresetMode.NEXT_STEP
        self._resetting: np.ndarray | None = None  # next-step mode: the envs the coming step resets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    def reset(self, seeds: list[int] | None, mask: np.ndarray | None, bound_a: float, bound_b: float) -> np.ndarray:
        obs = self._core.reset(seeds, mask, bound_a, bound_b)
        if mask is None:
            self._float32_rows(obs, np.ones(len(obs), dtype=bool))
            self._resetting = None
        else:
            self._float32_rows(obs, mask)
            if self._resetting is not None:
                left = self._resetting & ~mask
                self._resetting = left if left.any() else None
        return obs

    def step(self, actions: Any) -> tuple:
        return self._fix(self._core.step(actions))

    def step_wait(self) -> tuple:
        return self._fix(self._core.step_wait())

    def _fix(self, result: tuple) -> tuple:
        obs, infos = result[0], result[4]
        if self._resetting is not None:  # next-step autoreset of the envs that ended in the last step
            self._float32_rows(obs, self._resetting)
            self._resetting = None
        if self._same_step:
            if infos:  # an episode ended: the envs of infos["_final_obs"] were reset inside this step
                self._float32_rows(obs, infos["_final_obs"])
        elif self._next_step:
            ended = np.logical_or(result[2], result[3])
            if ended.any():
                self._resetting = ended
        return result

    def _float32_rows(self, obs: np.ndarray, rows: np.ndarray) -> None:
        theta = self._core.get_state()[rows, :2].astype(np.float32)
        obs[rows, 0] = np.cos(theta[:, 0])
        obs[rows, 1] = np.sin(theta[:, 0])
        obs[rows, 2] = np.cos(theta[:, 1])
        obs[rows, 3] = np.sin(theta[:, 1])


class NativeVectorEnv(BaseVectorEnv):
    """``num_envs`` copies of a native C++ classic-control task, stepped together.

    Observations are ``(num_envs, obs_dim)`` float32, rewards ``(num_envs,)`` float64, terminations and
    truncations ``(num_envs,)`` bool, as gymnasium's ``SyncVectorEnv`` gives them. Actions: ``(num_envs,)`` of
    any integer dtype for Discrete tasks (values in ``[0, n)``), ``(num_envs, 1)`` float32 or float64 for Box
    tasks (clipped inside the step exactly where gymnasium clips them; the float dtype is honoured as NumPy
    2 would, so float32 and float64 actions give gymnasium's float32 and float64 results respectively).

    ``infos`` holds what gymnasium's ``SyncVectorEnv`` over the same task holds: nothing, and in the same-step
    autoreset mode ``"final_obs"``/``"final_info"`` with their ``_`` masks on steps where an episode ended.
    With ``episode_statistics=True`` those steps also carry ``"episode"`` ``{"r": float64, "l": int64, "t":
    float64}`` and the mask ``"_episode"``, as ``gymnasium.wrappers.vector.RecordEpisodeStatistics`` adds them
    (computed in C++, cheaper than the wrapper).

    Args:
        env_id: one of ``NATIVE_IDS``.
        num_envs: number of environments (>= 1).
        seed: seed of the first ``reset()`` called without one (env i gets ``seed + i``); ``None``: random.
        num_threads: threads stepping the batch, the caller included (``None``: one per ``grain`` envs, at
            most one per core). Batches smaller than two grains are stepped inline on the calling thread.
        autoreset_mode: a ``gymnasium.vector.AutoresetMode`` (or its string value).
        episode_statistics: add ``infos["episode"]``/``infos["_episode"]`` where episodes end (see above).
        render_mode: ``None`` or ``"rgb_array"``: ``render()`` returns one ``(H, W, 3)`` uint8 frame per env,
            drawn by gymnasium's own renderer from the env's state, so equal to gymnasium's frame of the same
            state (needs pygame: ``pip install "fastrl[video]"``).
        **env_kwargs: ``max_episode_steps`` (time limit; default as registered in gymnasium), and per task
            ``sutton_barto_reward`` (CartPole), ``g`` (Pendulum), ``goal_velocity`` (MountainCar*).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        seed: int | None = None,
        num_threads: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        episode_statistics: bool = False,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        if env_id not in _TASKS:
            raise ValueError(f"env_id {env_id!r} is not a native task; native ids: {', '.join(NATIVE_IDS)}")
        task = _TASKS[env_id]
        num_envs = check_num_envs(num_envs)
        num_threads = check_num_threads(num_threads)
        mode = parse_autoreset_mode(autoreset_mode)
        if seed is not None:
            check_seed(seed, num_envs)

        kwargs = dict(env_kwargs)
        max_episode_steps = kwargs.pop("max_episode_steps", None)
        if max_episode_steps is None:
            max_episode_steps = task.max_episode_steps
        max_episode_steps = check_int("max_episode_steps", max_episode_steps, 1)
        render_mode = check_render_mode(render_mode)
        if render_mode is not None and importlib.util.find_spec("pygame") is None:
            raise gym.error.DependencyNotInstalled(
                f"render_mode={render_mode!r} needs pygame to draw {env_id}: pip install 'fastrl[video]'")
        unknown = sorted(set(kwargs) - set(task.kwargs))
        if unknown:
            accepted = ", ".join(["max_episode_steps", *task.kwargs]) or "none"
            raise ValueError(f"unknown keyword argument(s) for {env_id}: {', '.join(unknown)} (accepted: {accepted})")
        core_kwargs = {name: check(name, kwargs[name]) for name, check in task.kwargs.items() if name in kwargs}
        self._settings = dict(core_kwargs)

        core_class = getattr(_core, task.core_class)
        if num_threads is None:
            num_threads = _auto_num_threads(num_envs, core_class.grain)
        core = core_class(num_envs, num_threads, int(max_episode_steps), _MODE_CODES[mode], **core_kwargs)
        core.episode_statistics = check_bool("episode_statistics", episode_statistics)
        # Acrobot's reset observations need NumPy's float32 cos/sin: a thin proxy rewrites those rows.
        self._core = _Float32ResetObs(core, mode) if task.float32_reset_obs else core
        self._task = task
        self._env_id = env_id
        # The first reset() without a seed uses this base (env i: base + i), drawn now so that np_random_seed
        # can report it before that reset, as gymnasium's envs do.
        self._initial_seed = seed if seed is not None else secrets.randbits(62)
        self._seeded = False
        # Rendering: gymnasium's renderer draws the C++ state; Pendulum's frame also shows the last torque.
        self._frames = ClassicFrames(env_id, self._settings) if render_mode is not None else None
        self._last_u: np.ndarray | None = None  # Pendulum + rendering: last clipped torque, NaN after a reset
        if self._frames is not None and self._frames.uses_last_u:
            self._last_u = np.full(num_envs, np.nan)
        self._next_reset: np.ndarray | None = None  # NEXT_STEP + last_u: envs the coming step resets
        self._async_actions: np.ndarray | None = None
        self._has_reset = False
        # env.step(actions) goes straight to the C++ step (a bound method of the core, set on the instance),
        # skipping a Python frame per call, unless a subclass overrides step or the last torque is tracked.
        if type(self).step is NativeVectorEnv.step and self._last_u is None:
            self.step = self._core.step

        self.num_envs = num_envs
        self.single_observation_space = task.observation_space
        self.single_action_space = task.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": mode, "render_modes": ["rgb_array"],
                         "render_fps": _render_fps(env_id)}
        self.render_mode = render_mode
        self.max_episode_steps = int(max_episode_steps)
        self.spec = None
        try:
            self.spec = gym.spec(env_id)
        except gym.error.Error:
            pass

    # ---- properties ----
    @property
    def num_threads(self) -> int:
        """Threads stepping a batch (the calling thread included)."""
        return self._core.num_threads

    @property
    def state_dim(self) -> int:
        """Length of one env's physical state in ``get_state()``."""
        return self._core.state_dim

    # ---- gymnasium API ----
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets every env (or those in ``options["reset_mask"]``) and returns ``(obs, {})``.

        Args:
            seed: ``int`` (env i gets ``seed + i``), a list of ``num_envs`` ints, or ``None`` (continue each
                env's generator; the very first reset uses the constructor's seed, or a random one).
            options: ``"reset_mask"`` (``(num_envs,)`` bool array: reset only these envs; the others keep their
                state and observation), and the start-state bounds gymnasium's env reads: ``"low"``/``"high"``
                (CartPole, MountainCar*, Acrobot) or ``"x_init"``/``"y_init"`` (Pendulum). Bounds apply to
                this call only; autoresets use the defaults, as in gymnasium.

        Returns:
            ``obs`` ``(num_envs, obs_dim)`` float32 (a fresh array) and an empty info dict.
        """
        if self._core.pending:
            raise PendingCallError("reset")
        seeds = check_seed(seed, self.num_envs)
        if seeds is None and not self._seeded:
            seeds = self._first_reset_seeds()
        mask, bound_a, bound_b = self._parse_options(options)
        obs = self._core.reset(seeds, mask, bound_a, bound_b)
        self._seeded = True
        self._has_reset = True
        self._set_env_seeds(seeds, mask)
        if self._last_u is not None:
            rows = slice(None) if mask is None else mask
            self._last_u[rows] = np.nan
            if self._next_reset is not None:
                self._next_reset[rows] = False
        return obs, {}

    def _first_reset_seeds(self) -> list[int] | None:
        return None if self._seeded else [self._initial_seed + i for i in range(self.num_envs)]

    def _env_attributes(self) -> dict[str, Any]:
        """The shared attributes, the task's physical constants as gymnasium's env has them (CartPole's
        ``gravity``, ``masscart``, ``tau``, ...; fixed in C++) and its settings (``max_episode_steps``, keywords)."""
        return {**super()._env_attributes(), **_task_constants(self._env_id, tuple(sorted(self._settings.items()))),
                "max_episode_steps": self.max_episode_steps, **self._settings}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every env with ``actions[i]``.

        Returns:
            ``(obs, rewards, terminations, truncations, infos)``: ``(num_envs, obs_dim)`` float32,
            ``(num_envs,)`` float64, bool, bool (fresh arrays), and the info dict described in the class doc.

        Raises:
            TypeError: actions of a wrong dtype. ValueError: wrong shape, a Discrete action out of range,
            a non-finite continuous action, or (autoreset disabled) an env that ended and was not reset.
        """
        result = self._core.step(actions)
        if self._last_u is not None:
            self._track_last_u(actions, result)
        return result

    def step_async(self, actions: np.ndarray) -> None:
        """Starts a step in the background (checks ``actions`` now); collect it with ``step_wait()``.

        Batches large enough to be split across threads run on a background thread while Python goes on;
        smaller ones step at once on the calling thread (a thread hand-off would cost more than the step).
        """
        if self._core.pending:
            raise PendingCallError("step_async")
        self._core.step_async(actions)
        if self._last_u is not None:
            self._async_actions = np.array(actions, copy=True)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Waits for the step started by ``step_async`` and returns what ``step`` would have returned.

        Raises:
            StepWaitError: no ``step_async`` is pending (gymnasium's ``NoAsyncCallError``).
        """
        if not self._core.pending:
            raise StepWaitError()
        result = self._core.step_wait()
        if self._last_u is not None:
            self._track_last_u(self._async_actions, result)
        return result

    def render(self) -> tuple[np.ndarray, ...] | tuple[None, ...]:
        """One frame per env: ``(H, W, 3)`` uint8 arrays with ``render_mode="rgb_array"`` (gymnasium's drawing of
        each env's current state), ``(None,) * num_envs`` without a render mode.

        Raises:
            gymnasium.error.ResetNeeded: before the first ``reset()``, as gymnasium's envs.
        """
        if isinstance(self._core, _Closed):
            raise EnvClosedError("this vector env is closed (render after close())")
        if self._core.pending:
            raise PendingCallError("render")
        if not self._has_reset:
            raise gym.error.ResetNeeded("Cannot call `render()` before calling `reset()`")
        if self._frames is None:
            return (None,) * self.num_envs
        return self._frames.frames(self._core.get_state(), self._last_u)

    def _track_last_u(self, actions: Any, result: tuple) -> None:
        """Pendulum's frame draws the last clipped torque: gymnasium's ``last_u``, dropped at every reset."""
        a = np.asarray(actions)
        if self._last_u.dtype != a.dtype:  # gymnasium keeps the action's float type; so does the drawing
            self._last_u = self._last_u.astype(a.dtype)
        high = float(self.single_action_space.high[0])
        self._last_u[:] = np.clip(a.reshape(self.num_envs, -1)[:, 0], -high, high)
        ended = np.logical_or(result[2], result[3])
        mode = self.metadata["autoreset_mode"]
        if mode == AutoresetMode.NEXT_STEP:
            if self._next_reset is not None:  # these envs were reset by this step, which ignored their action
                self._last_u[self._next_reset] = np.nan
            self._next_reset = ended if ended.any() else None
        elif mode == AutoresetMode.SAME_STEP:
            self._last_u[ended] = np.nan

    def get_state(self) -> np.ndarray:
        """Physical state of every env, ``(num_envs, state_dim)`` float64 (a copy).

        Layout, as gymnasium's ``env.unwrapped.state``: CartPole ``(x, x_dot, theta, theta_dot)``, Pendulum
        ``(th, thdot)``, MountainCar* ``(position, velocity)``, Acrobot ``(theta1, theta2, dtheta1, dtheta2)``.
        """
        return self._core.get_state()

    def set_state(self, states: np.ndarray) -> np.ndarray:
        """Replaces every env's physical state with ``states`` (``(num_envs, state_dim)`` float64, finite).

        Time-limit counters, pending autoresets and episode statistics are unchanged. The states are taken as
        gymnasium's ``env.unwrapped.state``. MountainCarContinuous, whose gymnasium state is float64 after
        ``reset()`` and float32 after a step (which changes the arithmetic of the next step), takes a row whose
        two values are exact float32 numbers as the float32 kind, so ``set_state(get_state())`` is exact.

        Returns:
            The observations of the new states, ``(num_envs, obs_dim)`` float32 (a fresh array).
        """
        return self._core.set_state(states)

    def close_extras(self, **kwargs: Any) -> None:
        """Finishes a pending ``step_async`` and frees the C++ envs and threads."""
        core = self._core
        if not isinstance(core, _Closed):
            if core.pending:
                core.step_wait()
            self._core = _Closed()
            self.__dict__.pop("step", None)
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def __repr__(self) -> str:
        return f"NativeVectorEnv({self._env_id}, num_envs={self.num_envs})"

    # ---- helpers ----
    def _parse_options(self, options: dict[str, Any] | None) -> tuple[np.ndarray | None, float, float]:
        task = self._task
        bound_a, bound_b = task.reset_defaults
        if options is None:
            return None, bound_a, bound_b
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        unknown = sorted(set(options) - {"reset_mask", *task.reset_keys})
        if unknown:
            raise ValueError(
                f"unknown reset option(s) for {self._env_id}: {', '.join(map(str, unknown))} "
                f"(accepted: reset_mask, {', '.join(task.reset_keys)})"
            )
        values = []
        for key, default in zip(task.reset_keys, task.reset_defaults, strict=True):
            value = options.get(key, default)
            try:
                values.append(float(value))
            except (TypeError, ValueError):
                raise ValueError(f"options[{key!r}] must be a number, got {value!r}") from None
            if not math.isfinite(values[-1]):
                raise ValueError(f"options[{key!r}] must be finite, got {value!r}")
        bound_a, bound_b = values
        if not task.symmetric_reset and bound_a > bound_b:
            raise ValueError(f"options: low ({bound_a}) must not exceed high ({bound_b})")
        return check_reset_mask(options, self.num_envs), bound_a, bound_b
