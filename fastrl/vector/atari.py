"""Atari games through ale-py's C++ vector env, with DQN preprocessing, behind gymnasium's ``VectorEnv`` API.

ale-py's ``ALEVectorInterface`` steps every game on its own C++ thread pool (no GIL), applies the frame skip,
the max-pooling, the grayscale 84x84 resize (``cv::INTER_AREA``, as gymnasium's ``AtariPreprocessing``),
the frame stack and the reset no-ops. This module adds, with a few small numpy operations per step:
gymnasium's three autoreset modes, DQN episodic life (terminate on a life loss without resetting the game),
reward clipping that keeps the raw score for the episode statistics, seeding, action checks and
``infos["episode"]``.

Defaults by id (every one can be overridden by a keyword of ``AtariVectorEnv``):

=======================  ====================  ====================  ======================================
option                   ``*-v4`` ids          ``ALE/*-v5``,         ale-py ``ALEVectorInterface`` argument
                         (DQN, Nature 2015)    ``*-v0`` ids
=======================  ====================  ====================  ======================================
frameskip                4                     4                     ``frame_skip`` (``maxpool=True``)
repeat_action_prob.      0.0                   0.25 (sticky)         ``repeat_action_probability``
episodic_life            True                  False                 ``life_loss_info`` (see the class)
reward_clipping          True                  True                  clipped here, not in ale-py
noop_max                 30                    30                    ``noop_max`` (+ 1, see the class)
use_fire_reset           False                 False                 ``use_fire_reset``
full_action_space        False                 False                 ``full_action_space``
max_num_frames_per_ep.   108000 (27000 steps)  108000 (27000 steps)  ``max_episode_steps`` (counts frames)
stack_num, img_height,   4, 84, 84             4, 84, 84             ``stack_num``, ``img_height``,
img_width                                                            ``img_width`` (``grayscale=True``)
=======================  ====================  ====================  ======================================
"""

from __future__ import annotations

import secrets
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box, Discrete
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from fastrl._checks import check_int, check_real
from fastrl.vector._api import BaseVectorEnv, EpisodeStatistics, StepWaitError, check_reset_mask
from fastrl.vector._common import check_bool, check_num_envs, check_num_threads, check_render_mode, check_seed

__all__ = ["AtariVectorEnv", "is_atari_id"]

_ALE_ENTRY_POINT = "ale_py.env:AtariEnv"
_MAX_SEED = 2**31 - 1  # ale-py takes C ints as seeds

# Options a user may pass (keyword -> check); everything else is rejected by name.
_BOOL_OPTIONS = ("episodic_life", "reward_clipping", "use_fire_reset", "full_action_space")
_INT_OPTIONS = {  # name -> smallest allowed value
    "frameskip": 1,
    "noop_max": 0,  # up to noop_max no-op frames at reset
    "stack_num": 1,
    "img_height": 1,
    "img_width": 1,
    "max_num_frames_per_episode": 1,
    "max_episode_steps": 1,
}


def _atari_spec(env_id: str) -> gym.envs.registration.EnvSpec | None:
    import ale_py  # noqa: F401  (importing ale_py registers the ALE ids with gymnasium)

    spec = gym.registry.get(env_id)
    if spec is None or spec.entry_point != _ALE_ENTRY_POINT:
        return None
    if spec.kwargs.get("obs_type", "rgb") not in ("rgb", "grayscale"):
        return None  # RAM observations: no image pipeline; gymnasium's own vector env serves them
    return spec


def is_atari_id(env_id: str) -> bool:
    """True for the gymnasium ids ale-py registers with image observations (``"ALE/Pong-v5"``,
    ``"PongNoFrameskip-v4"``, ``"Pong-v4"``, ...)."""
    return _atari_spec(env_id) is not None


def _resolve_options(env_id: str, spec: gym.envs.registration.EnvSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The id's defaults (see the module docstring) updated with the user's checked keywords."""
    unknown = sorted(set(kwargs) - set(_BOOL_OPTIONS) - set(_INT_OPTIONS) - {"repeat_action_probability"})
    if unknown:
        raise TypeError(
            f"unknown keyword(s) {unknown} for Atari id {env_id!r}; accepted: "
            f"{sorted([*_BOOL_OPTIONS, *_INT_OPTIONS, 'repeat_action_probability'])}"
        )
    dqn_era = spec.version == 4
    opts: dict[str, Any] = {
        "frameskip": 4,
        "repeat_action_probability": float(spec.kwargs.get("repeat_action_probability", 0.25)),
        "episodic_life": dqn_era,
        "reward_clipping": True,
        "noop_max": 30,
        "use_fire_reset": False,
        "full_action_space": bool(spec.kwargs.get("full_action_space", False)),
        "max_num_frames_per_episode": int(spec.kwargs.get("max_num_frames_per_episode", 108_000)),
        "stack_num": 4,
        "img_height": 84,
        "img_width": 84,
    }
    for name in _BOOL_OPTIONS:
        if name in kwargs:
            opts[name] = check_bool(name, kwargs[name])
    for name, low in _INT_OPTIONS.items():
        if name in kwargs:
            opts[name] = check_int(name, kwargs[name], low, _MAX_SEED)
    if "max_episode_steps" in kwargs:
        if "max_num_frames_per_episode" in kwargs:
            raise ValueError("pass max_episode_steps (agent steps) or max_num_frames_per_episode (frames), not both")
        opts["max_num_frames_per_episode"] = opts.pop("max_episode_steps") * opts["frameskip"]
    if "repeat_action_probability" in kwargs:
        opts["repeat_action_probability"] = check_real("repeat_action_probability",
                                                       kwargs["repeat_action_probability"], 0.0, 1.0)
    return opts


_SCREEN = (210, 160)  # the Atari 2600's screen as ALE gives it, (height, width)


class _ScreenTwin:
    """Two ale-py vector interfaces driven as one: ``main`` gives the observations, ``screen`` the raw RGB
    screens for ``render()``. Both get the same resets (seeds) and actions, so they play the same games."""

    def __init__(self, main: Any, screen: Any) -> None:
        self._main = main
        self._screen = screen
        self.screens: np.ndarray | None = None  # (N, 210, 160, 3) uint8 after the last reset or step

    def get_action_set(self) -> Any:
        return self._main.get_action_set()

    def reset(self, indices: list[int], seeds: list[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        screens, _ = self._screen.reset(indices, seeds)
        if self.screens is None:
            self.screens = np.zeros(screens.shape[:1] + screens.shape[2:], dtype=np.uint8)
        self.screens[indices] = screens[indices, -1]
        return self._main.reset(indices, seeds)

    def send(self, actions: np.ndarray, paddle: np.ndarray) -> None:
        self._main.send(actions, paddle)
        self._screen.send(actions, paddle)

    def recv(self) -> tuple:
        result = self._main.recv()
        self.screens = self._screen.recv()[0][:, -1]
        return result


class AtariVectorEnv(BaseVectorEnv):
    """``num_envs`` copies of an Atari game, stepped by ale-py's C++ thread pool, with DQN preprocessing.

    Observations: ``(num_envs, stack_num, img_height, img_width)`` uint8 (default ``(N, 4, 84, 84)``), the
    last ``stack_num`` grayscale frames, oldest first, each the max over the last two emulator frames of a
    frame-skip step, resized with area interpolation. At a reset the stack is zero-padded,
    ``(0, ..., 0, reset frame)``: ale-py's and SB3 ``VecFrameStack``'s convention (gymnasium's
    ``FrameStackObservation`` repeats the reset frame instead). Actions: ``(num_envs,)`` integers in
    ``Discrete(n)``, the game's minimal action set (or the 18 actions with ``full_action_space=True``).
    Rewards: float64 ``(N,)``, the sum over the frame skip, clipped to [-1, 1] with ``reward_clipping``
    (``= sign(reward)`` for the integer ALE scores).
    ``terminations``/``truncations``: bool ``(N,)``; truncation after ``max_num_frames_per_episode`` frames
    (default 108000 = 27000 steps, counted from the end of the reset no-ops).

    Reset: ``reset_game``, then ``k`` no-op frames with ``k`` uniform in ``[0, noop_max]`` (up to
    ``noop_max``; ale-py's own ``noop_max`` draws from ``[0, noop_max)``, gymnasium's ``AtariPreprocessing``
    from ``[1, noop_max]``), then FIRE if ``use_fire_reset`` and the game has it.

    Episodic life (``episodic_life=True``, the DQN setup): a life loss gives ``terminated=True`` but the game
    goes on, as baselines' ``EpisodicLifeEnv``: in ``"next_step"`` mode the following step is the "reset"
    step: it plays one NOOP, ignores the given action and returns reward 0; in ``"same_step"`` mode
    ``infos["final_obs"]`` holds the observation at the life loss and the returned observation is that same
    observation (the next life starts from it); in ``"disabled"`` mode ``reset(options={"reset_mask": m})``
    continues such envs from that observation without touching the game. Only a game over or a truncation
    resets the game. Episode statistics (``infos["episode"]``, with ``episode_statistics=True``) describe
    whole games: ``r`` is the raw (unclipped) game score, ``l`` the agent steps of the game, ``t`` its wall
    time.

    Autoreset modes, as gymnasium's ``SyncVectorEnv``: ``NEXT_STEP`` (the step after an end returns the
    reset observation with reward 0 and ignores its action), ``SAME_STEP`` (the reset happens in the
    ending step; ``infos["final_obs"]`` (object array, ``None`` where no end) and ``infos["final_info"]``
    carry the ending step's observation and info, with ``"_final_obs"``/``"_final_info"`` masks) and
    ``DISABLED`` (ended envs must be reset with ``reset(options={"reset_mask": mask})`` before stepping).

    ``infos`` hold ``lives``, ``frame_number`` and ``episode_frame_number`` (int64 ``(N,)``, each with a
    ``_``-prefixed all-True mask), as a ``SyncVectorEnv`` of gymnasium's Atari env gives them.

    Seeding: ``reset(seed=s)`` seeds env i with ``s + i`` (or ``s[i]`` for a list), on every call; the
    constructor's ``seed`` is used by the first ``reset()`` called without one; ``reset()`` without a seed
    afterwards continues each env's random stream. A seed drives the reset no-ops and sticky actions.

    Args:
        env_id: an ale-py id (``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``, ...), see ``is_atari_id``.
        num_envs: number of games.
        seed: seed of the first ``reset()`` without one (``None``: nondeterministic).
        num_threads: ale-py worker threads (``None``: ``min(num_envs, cpu count)``).
        autoreset_mode: a ``gymnasium.vector.AutoresetMode``.
        render_mode: ``None`` or ``"rgb_array"``: ``render()`` returns each game's raw RGB screen (a twin of the
            games, driven with the same seeds and actions, supplies them; it doubles the emulation cost).
        episode_statistics: add ``infos["episode"]``/``infos["_episode"]`` (whole games, raw scores; see above).
        **env_kwargs: ``frameskip``, ``repeat_action_probability``, ``episodic_life``, ``reward_clipping``,
            ``noop_max``, ``use_fire_reset``, ``full_action_space``, ``max_num_frames_per_episode`` (or
            ``max_episode_steps`` in agent steps), ``stack_num``, ``img_height``, ``img_width``; defaults
            per id in the module docstring.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        seed: int | list[int] | None = None,
        num_threads: int | None = None,
        autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP,
        episode_statistics: bool = False,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        import ale_py
        from ale_py import roms

        spec = _atari_spec(env_id) if isinstance(env_id, str) else None
        if spec is None:
            raise ValueError(f"env_id {env_id!r} is not an ale-py Atari id (such as 'ALE/Pong-v5')")
        num_envs = check_num_envs(num_envs)
        num_threads = check_num_threads(num_threads)
        if not isinstance(autoreset_mode, AutoresetMode):
            raise TypeError(f"autoreset_mode must be a gymnasium.vector.AutoresetMode, got {autoreset_mode!r}")
        self._initial_seeds = self._check_seeds(seed, num_envs, "seed")
        if self._initial_seeds is None:  # drawn now so that np_random_seed can report them before the first reset
            base = secrets.randbelow(_MAX_SEED - num_envs + 1)
            self._initial_seeds = [base + i for i in range(num_envs)]
        opts = _resolve_options(env_id, spec, env_kwargs)
        self.options: dict[str, Any] = opts
        """The resolved preprocessing options (the id's defaults updated with the keywords)."""

        self.env_id = env_id
        self.num_envs = num_envs
        self.autoreset_mode = autoreset_mode
        self.render_mode = check_render_mode(render_mode)
        self.metadata = {"autoreset_mode": autoreset_mode, "render_modes": ["rgb_array"],
                         "render_fps": max(1, round(60 / opts["frameskip"]))}  # the emulator runs at 60 Hz

        def interface(**image: Any) -> Any:
            # ale-py always runs in its "NextStep" mode here: SAME_STEP and DISABLED are built on it below, so
            # that every mode sees the ending step's own info and episodic life works the same way in each.
            return ale_py.ALEVectorInterface(
                rom_path=roms.get_rom_path(spec.kwargs["game"]),
                num_envs=num_envs,
                frame_skip=opts["frameskip"],
                **image,
                # ale-py plays k ~ U[0, noop_max) no-op frames for its noop_max; fastrl's noop_max is "up to".
                noop_max=opts["noop_max"] + 1,
                use_fire_reset=opts["use_fire_reset"],
                # ale-py's own episodic_life resets the whole game at a life loss; life_loss_info reports
                # terminated=True at a life loss and lets the game go on, which is DQN's episodic life.
                episodic_life=False,
                life_loss_info=opts["episodic_life"],
                reward_clipping=False,  # clipped here so that the statistics can report raw game scores
                max_episode_steps=opts["max_num_frames_per_episode"],
                repeat_action_probability=opts["repeat_action_probability"],
                full_action_space=opts["full_action_space"],
                batch_size=0,  # = num_envs: every step returns every env, in order
                num_threads=0 if num_threads is None else num_threads,
                thread_affinity_offset=-1,
                autoreset_mode="NextStep",
            )

        self._ale = interface(stack_num=opts["stack_num"], img_height=opts["img_height"],
                              img_width=opts["img_width"], grayscale=True, maxpool=True)
        if self.render_mode is not None:
            # The frames to render come from a twin of the games that gets the same seeds, resets and actions
            # (the emulator is deterministic given them) and returns the raw RGB screen.
            self._ale = _ScreenTwin(self._ale, interface(stack_num=1, img_height=_SCREEN[0], img_width=_SCREEN[1],
                                                         grayscale=False, maxpool=False))
        action_set = list(self._ale.get_action_set())
        self._noop = action_set.index(ale_py.Action.NOOP)
        self.single_action_space = Discrete(len(action_set))
        self.single_observation_space = Box(
            low=0, high=255, shape=(opts["stack_num"], opts["img_height"], opts["img_width"]), dtype=np.uint8
        )
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)

        self._clip = opts["reward_clipping"]
        self._episodic_life = opts["episodic_life"]
        self._paddle = np.ones(num_envs, dtype=np.float32)  # paddle strength, unused by discrete actions
        self._stats = EpisodeStatistics(num_envs, same_step=autoreset_mode == AutoresetMode.SAME_STEP,
                                        enabled=check_bool("episode_statistics", episode_statistics))
        self._lives = np.zeros(num_envs, dtype=np.int64)
        self._life_continue = np.zeros(num_envs, dtype=np.bool_)  # NEXT_STEP: next step is a life's NOOP
        self._needs_reset = np.zeros(num_envs, dtype=np.bool_)  # DISABLED: ended, reset before stepping
        self._life_lost = np.zeros(num_envs, dtype=np.bool_)  # DISABLED: ended by a life loss only
        self.last_life_loss = np.zeros(num_envs, dtype=np.bool_)
        """Envs whose termination in the last step was a lost life of a game that goes on (episodic life);
        the one definition the agents' runner uses too. All False without ``episodic_life``."""
        self._life_obs: np.ndarray | None = None  # DISABLED + episodic life: observation at the life loss
        self._last_obs: np.ndarray | None = None
        self._has_reset = False
        self._waiting = False

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def _check_seeds(seed: Any, num_envs: int, name: str) -> list[int] | None:
        seeds = check_seed(seed, num_envs, name)
        if seeds is not None and max(seeds) > _MAX_SEED:
            raise ValueError(f"{name} must keep every per-env seed <= {_MAX_SEED} (ale-py's limit), got {max(seeds)}")
        return seeds

    @staticmethod
    def _batch_info(info: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """ale-py's int32 info arrays -> gymnasium's layout: int64 values plus ``_key`` masks (``mask=None``:
        every env, the per-step case, kept to a few small array operations)."""
        out: dict[str, np.ndarray] = {}
        for key in ("lives", "episode_frame_number", "frame_number"):
            if mask is None:
                out[key] = info[key].astype(np.int64)
                out["_" + key] = np.ones(len(out[key]), dtype=np.bool_)
            else:
                out[key] = np.where(mask, info[key], 0).astype(np.int64)
                out["_" + key] = mask.copy()
        return out

    # --------------------------------------------------------------------------------------------- reset
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets every env, or those in ``options["reset_mask"]`` (bool ``(num_envs,)``).

        Returns ``(obs (N, stack, H, W) uint8, infos)``; with a mask, rows of other envs hold their current
        observation and their info masks are False. See the class docstring for seeding.
        """
        self._check_idle("reset")
        seeds = self._check_seeds(seed, self.num_envs, "seed")
        if seeds is None and self._initial_seeds is not None:
            seeds, self._initial_seeds = self._initial_seeds, None
        mask = check_reset_mask(options, self.num_envs)
        if mask is not None and not self._has_reset:
            raise RuntimeError("call reset() without a reset_mask before a partial reset")
        if mask is None:
            mask = np.ones(self.num_envs, dtype=np.bool_)
            # A full reset also starts over envs that ended by a life loss: they get a fresh game.
            game_mask = mask
        else:
            # A life lost under DISABLED continues the game from the stored observation (episodic life).
            game_mask = mask & ~self._life_lost
        indices = np.flatnonzero(game_mask)
        self._set_env_seeds(seeds, None if mask.all() else game_mask)
        if len(indices):
            ale_seeds = [-1] * len(indices) if seeds is None else [seeds[i] for i in indices]
            obs, info = self._ale.reset(indices.tolist(), ale_seeds)
            self._lives[indices] = info["lives"][indices]
        else:
            obs = self._last_obs.copy()
            info = {key: np.zeros(self.num_envs, dtype=np.int64) for key in ("lives", "episode_frame_number",
                                                                              "frame_number")}
            info["lives"] = self._lives.copy()
        continued = mask & self._life_lost
        if continued.any():
            obs[continued] = self._life_obs[continued]
            info["lives"] = np.where(continued, self._lives, info["lives"])
        self._last_obs = obs
        self._life_continue[mask] = False
        self._needs_reset[mask] = False
        self._life_lost[mask] = False
        # Statistics describe whole games: a life continued under DISABLED keeps counting its game.
        self._stats.reset(None if game_mask.all() else game_mask)
        self._has_reset = True
        return obs, self._batch_info(info, mask)

    def _first_reset_seeds(self) -> list[int] | None:
        return self._initial_seeds

    def _env_attributes(self) -> dict[str, Any]:
        """The shared attributes and the preprocessing options (``frameskip``, ``episodic_life``, ...)."""
        return {**super()._env_attributes(), **self.options}

    # ---------------------------------------------------------------------------------------------- step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every env with ``actions`` (int ``(N,)``); returns ``(obs, rewards, terminations,
        truncations, infos)`` as described in the class docstring."""
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: np.ndarray) -> None:
        """Checks ``actions`` and hands them to ale-py's threads; returns at once (collect with ``step_wait``).

        Raises:
            ValueError: ``actions`` of the wrong shape/dtype or outside ``Discrete(n)``; nothing is stepped.
            RuntimeError: a step is already in flight, no ``reset()`` yet, or (DISABLED) an ended env was
                not reset.
        """
        actions = self._check_step(actions)
        if actions.dtype != np.int64 and actions.dtype != np.int32:
            actions = actions.astype(np.int64)
        if self._life_continue.any():
            # The "reset" step after a life loss plays NOOP, as baselines' EpisodicLifeEnv.reset() does.
            actions = np.where(self._life_continue, self._noop, actions)
        self._ale.send(actions, self._paddle)
        self._waiting = True

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Waits for the step started by ``step_async`` and returns its results (see ``step``)."""
        if not self._waiting:
            raise StepWaitError()
        obs, raw_rewards, terminations, truncations, ale_info = self._ale.recv()
        self._waiting = False
        raw = raw_rewards.astype(np.float64)
        # ALE scores are integers, so sign() is the clip to [-1, 1] (and a little cheaper than np.clip).
        rewards = np.sign(raw) if self._clip else raw.copy()
        lives = ale_info["lives"]
        if self._episodic_life:
            life_loss = terminations & ~truncations & (lives < self._lives) & (lives > 0)
            self.last_life_loss = life_loss
            continuing = self._life_continue
            if continuing.any():
                rewards[continuing] = 0.0
            game_over = (terminations | truncations) & ~life_loss
            self._life_continue = life_loss if self.autoreset_mode == AutoresetMode.NEXT_STEP else np.zeros_like(
                life_loss)
        else:
            life_loss = None
            game_over = terminations | truncations
        self._lives = lives.astype(np.int64)
        infos = self._batch_info(ale_info)

        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            ended = terminations | truncations
            if ended.any():
                obs = self._same_step_reset(obs, infos, ended, game_over)
        elif self.autoreset_mode == AutoresetMode.DISABLED:
            ended = terminations | truncations
            if ended.any():
                self._needs_reset |= ended
                if life_loss is not None and life_loss.any():
                    self._life_lost |= life_loss
                    if self._life_obs is None:
                        self._life_obs = np.zeros_like(obs)
                    self._life_obs[life_loss] = obs[life_loss]
            self._last_obs = obs
        self._stats.step(raw, game_over, infos)
        return obs, rewards, terminations, truncations, infos

    def _same_step_reset(
        self, obs: np.ndarray, infos: dict[str, Any], ended: np.ndarray, game_over: np.ndarray
    ) -> np.ndarray:
        """SAME_STEP: moves the ending step's observation/info to ``final_obs``/``final_info`` and resets
        the games that are over (envs that only lost a life go on from the same observation)."""
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(ended):
            final_obs[i] = obs[i].copy()
        final_info = {key: np.where(ended, value, 0) if key[0] != "_" else ended.copy()
                      for key, value in infos.items()}
        if game_over.any():
            indices = np.flatnonzero(game_over)
            reset_obs, reset_info = self._ale.reset(indices.tolist(), [-1] * len(indices))
            obs = obs.copy() if not obs.flags.writeable else obs
            obs[indices] = reset_obs[indices]
            for key in ("lives", "episode_frame_number", "frame_number"):
                infos[key][indices] = reset_info[key][indices]
            self._lives[indices] = reset_info["lives"][indices]
        infos["final_obs"] = final_obs
        infos["_final_obs"] = ended.copy()
        infos["final_info"] = final_info
        infos["_final_info"] = ended.copy()
        return obs

    def render(self) -> tuple[np.ndarray, ...] | tuple[None, ...]:
        """One frame per env: with ``render_mode="rgb_array"`` the game's raw ``(210, 160, 3)`` uint8 RGB screen
        after the last frame of the last step (gymnasium's ``AtariEnv.render()``); ``(None,) * num_envs``
        without a render mode.

        Raises:
            gymnasium.error.ResetNeeded: before the first ``reset()``, as gymnasium's envs.
        """
        self._check_idle("render")
        if not self._has_reset:
            raise gym.error.ResetNeeded("Cannot call `render()` before calling `reset()`")
        if self.render_mode is None:
            return (None,) * self.num_envs
        return tuple(frame.copy() for frame in self._ale.screens)

    def close_extras(self, **kwargs: Any) -> None:
        """Stops ale-py's worker threads."""
        if self._waiting:
            self._ale.recv()
            self._waiting = False
        self._ale = None
