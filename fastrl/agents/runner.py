"""The env runner every agent shares: it owns the training envs, their episode seeds and the action log.

The runner steps ``fastrl.make_vec`` envs with autoreset disabled and resets each finished env itself, each
episode from its own seed ``(seed, env index, episode index)``. So every step returns the true final
observation of every episode that ended (a truncation bootstraps from it; nothing bootstraps from a reset),
and the state of every env is a function of its episode seed and the actions taken since. A checkpoint
stores those (a few hundred actions per env); :meth:`EnvRunner.load_state_dict` replays them into fresh envs,
so a resumed run continues bit for bit, for any env that is deterministic given its reset seed and actions
(every native task and Atari game).

Atari envs end an episode at a lost life for learning (episodic life) while the game goes on; the runner
continues such a game on reset instead of starting a new episode, and counts and logs whole games with their
raw scores.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces

from fastrl.vector import make_vec
from fastrl.vector.atari import is_atari_id

__all__ = ["EnvRunner", "Transition"]

#: Actions older than every env's current episode are dropped once this many have piled up.
_LOG_TRIM = 4096


class Transition(NamedTuple):
    """One step of every env. Arrays are ``(num_envs, ...)``; ``obs`` and ``next_obs`` stay valid until the
    runner's next ``step`` (they are reused buffers)."""

    obs: np.ndarray
    """observations the actions were taken in."""
    action: np.ndarray
    """the actions."""
    reward: np.ndarray
    """rewards, float64, as the envs returned them."""
    next_obs: np.ndarray
    """the observations after the step: the true final observation where an episode ended."""
    terminated: np.ndarray
    """the MDP ended (no bootstrap)."""
    truncated: np.ndarray
    """time limit or outside stop (bootstrap from ``next_obs``)."""
    infos: dict
    """the envs' infos."""
    episodes: list[tuple[float, int]]
    """``(return, length)`` of each episode (whole game, for Atari) that finished at this step."""


class EnvRunner:
    """Steps ``num_envs`` copies of ``env_id`` for an agent; see the module docstring.

    Args:
        env_id: gymnasium id for ``fastrl.make_vec``.
        num_envs: envs stepped together.
        seed: the run's seed: episode seeds are derived from it.
        env_kwargs: extra keyword arguments for ``make_vec``.
        recent: how many finished episodes ``recent_returns`` keeps.

    Attributes:
        envs: the vector env.
        obs: ``(num_envs, *obs_shape)`` current observation of every env (a copy the runner owns).
        num_episodes: episodes (whole games) finished so far.
        recent_returns: returns of the last ``recent`` finished episodes.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None, *,
                 recent: int = 100) -> None:
        self.env_id = env_id
        self.num_envs = n = int(num_envs)
        self.seed = int(seed)
        self.atari = is_atari_id(env_id)
        # Atari games report whole games with raw scores through the env's statistics; other returns are
        # summed here.
        self.envs = make_vec(env_id, n, seed=seed, autoreset_mode="disabled", episode_statistics=self.atari,
                             **(env_kwargs or {}))
        self.observation_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        self.obs_shape = tuple(self.observation_space.shape)
        self.obs_dtype = np.dtype(self.observation_space.dtype)
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            self.action_dtype, self.action_shape = np.dtype(np.int64), ()
            self._idle_action = np.full(n, int(space.start), dtype=np.int64)
        elif isinstance(space, spaces.Box):
            self.action_dtype, self.action_shape = np.dtype(space.dtype), tuple(space.shape)
            idle = np.clip(np.zeros(space.shape), space.low, space.high).astype(space.dtype)
            self._idle_action = np.broadcast_to(idle, (n, *space.shape)).copy()
        else:
            self.envs.close()
            raise ValueError(f"env_id {env_id!r} has a {type(space).__name__} action space; agents take "
                             "Discrete or Box actions")

        self.num_episodes = 0
        self.recent_returns: deque[float] = deque(maxlen=recent)
        self.episode_return = np.zeros(n)  # unclipped return and length of each env's current episode
        self.episode_length = np.zeros(n, dtype=np.int64)
        # Each env's episode index, and the actions since the oldest current episode began
        # (``_action_log[_episode_start[i]:, i]`` are env i's actions in its current episode).
        self.episode_index = np.zeros(n, dtype=np.int64)
        self._seed_cache: dict[int, tuple[int, int]] = {}  # env -> (episode index, its seed)
        self._action_log: list[np.ndarray] = []
        self._episode_start = np.zeros(n, dtype=np.int64)
        self.obs = self._reset_envs(np.ones(n, dtype=bool))
        self._spare = np.empty_like(self.obs)

    # ---- stepping ----------------------------------------------------------------------------------

    def step(self, actions: np.ndarray) -> Transition:
        """Steps every env with ``actions`` ``(num_envs, *action_shape)``, resets the envs whose episode
        ended and returns the transition (see :class:`Transition`)."""
        obs = self.obs
        next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
        self._action_log.append(np.array(actions, dtype=self.action_dtype, copy=True))
        self.episode_return += rewards
        self.episode_length += 1
        done = np.logical_or(terminated, truncated)
        episodes: list[tuple[float, int]] = []
        if done.any():
            game_over = done & ~self._life_lost(terminated, truncated, infos)
            episodes = self._finish_episodes(game_over, infos)
            self.episode_index[game_over] += 1
            self.obs = self._reset_envs(done, game_over)
        else:
            # Two observation buffers take turns, so the returned ``obs`` stays valid until the next step.
            np.copyto(self._spare, next_obs)
            self.obs, self._spare = self._spare, obs
        return Transition(obs, actions, rewards, next_obs, terminated, truncated, infos, episodes)

    def episode_seeds(self) -> list[int]:
        """Per env, the seed of its current episode: a function of (seed, env index, episode index) only,
        below 2**31 (ale-py takes C ints). Cached per env: a seed is derived again only when that env's
        episode index changed (deriving one costs ~15 us)."""
        cache = self._seed_cache
        for i, k in enumerate(self.episode_index.tolist()):
            if cache.get(i, (None,))[0] != k:
                cache[i] = (k, int(np.random.SeedSequence([self.seed, i, k]).generate_state(1, np.uint32)[0] >> 1))
        return [cache[i][1] for i in range(self.num_envs)]

    def _reset_envs(self, mask: np.ndarray, new_episode: np.ndarray | None = None) -> np.ndarray:
        """Resets the envs in ``mask`` (those in ``new_episode``, default all of them, start an episode from
        its seed; the others continue a game after a lost life); returns a copy of every env's observation."""
        new_episode = mask if new_episode is None else new_episode
        self._episode_start[new_episode] = len(self._action_log)
        oldest = int(self._episode_start.min())
        if oldest > _LOG_TRIM:  # drop actions no current episode needs
            del self._action_log[:oldest]
            self._episode_start -= oldest
        # a full reset goes without a mask: some envs accept a partial reset only after a full one
        options = None if mask.all() else {"reset_mask": mask.copy()}
        obs, _ = self.envs.reset(seed=self.episode_seeds(), options=options)
        return np.array(obs, dtype=self.obs_dtype, copy=True)

    def _life_lost(self, terminated: np.ndarray, truncated: np.ndarray, infos: dict) -> np.ndarray:
        """Envs whose termination is a lost life of a game that goes on (Atari's episodic life), as the Atari
        env itself decided it (``last_life_loss``); their reset continues the game, so they do not start a new
        episode. Other envs have no lives."""
        lost = getattr(self.envs, "last_life_loss", None)
        return np.zeros_like(terminated) if lost is None else lost.copy()

    def _finish_episodes(self, game_over: np.ndarray, infos: dict) -> list[tuple[float, int]]:
        """Records the episodes that ended. Atari envs report whole games with raw scores in
        ``infos["episode"]`` (their rewards may be clipped and a lost life may end an episode); other envs'
        returns are summed here."""
        env_stats = self.atari and "episode" in infos
        finished = []
        for i in np.flatnonzero(game_over):
            self.num_episodes += 1
            if env_stats:
                if not infos["_episode"][i]:
                    continue
                ret, length = float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])
            else:
                ret, length = float(self.episode_return[i]), int(self.episode_length[i])
            self.recent_returns.append(ret)
            finished.append((ret, length))
        self.episode_return[game_over] = 0.0
        self.episode_length[game_over] = 0
        return finished

    # ---- checkpoints -------------------------------------------------------------------------------

    def _episode_actions(self) -> list[np.ndarray]:
        """Per env, the actions taken so far in its current episode, ``(L_i, *action_shape)``."""
        log = np.asarray(self._action_log, dtype=self.action_dtype).reshape(-1, self.num_envs, *self.action_shape)
        return [log[int(s):, i].copy() for i, s in enumerate(self._episode_start)]

    def state_dict(self) -> dict[str, Any]:
        """Episode indices, each env's actions in its current episode, the observations and the episode
        statistics: what :meth:`load_state_dict` needs to put fresh envs where these are."""
        return {"episode_index": self.episode_index.copy(), "episode_actions": self._episode_actions(),
                "obs": self.obs.copy(), "num_episodes": self.num_episodes,
                "recent_returns": list(self.recent_returns), "episode_return": self.episode_return.copy(),
                "episode_length": self.episode_length.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replays each env's current episode from its seed, so every env is where the saved run left it.

        Histories have different lengths, so they are aligned to end together: env i is reset from its
        episode seed ``L_max - L_i`` steps into the replay; before that it only steps (and is reset when it
        ends) to keep the batch in step.

        Raises:
            ValueError: the state was saved with another number of envs.
        """
        n = self.num_envs
        episode_index = np.asarray(state["episode_index"], dtype=np.int64).copy()
        histories = [np.asarray(a, dtype=self.action_dtype).reshape(-1, *self.action_shape)
                     for a in state["episode_actions"]]
        if len(histories) != n or len(episode_index) != n:
            raise ValueError(f"state has {len(histories)} envs, this runner has num_envs={n}")
        self.episode_index = episode_index
        self.num_episodes = int(state["num_episodes"])
        self.recent_returns = deque((float(r) for r in state["recent_returns"]), maxlen=self.recent_returns.maxlen)
        self.episode_return = np.array(state["episode_return"], dtype=np.float64)
        self.episode_length = np.array(state["episode_length"], dtype=np.int64)

        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        l_max = int(lengths.max(initial=0))
        start = l_max - lengths
        # Every env needs a reset before stepping; idle ones start any episode (their steps are discarded).
        obs, _ = self.envs.reset(seed=self.episode_seeds())
        log = np.empty((l_max, n, *self.action_shape), dtype=self.action_dtype)
        for i in range(n):
            log[:start[i], i] = self._idle_action[i]
            log[start[i]:, i] = histories[i]
        for t in range(l_max):
            obs, _, terminated, truncated, _ = self.envs.step(log[t].copy())
            ended = np.logical_or(terminated, truncated)
            if ended.any():
                # idle envs that ended, and replaying ones that lost a life (their game goes on, as it did)
                obs, _ = self.envs.reset(seed=self.episode_seeds(), options={"reset_mask": ended})
            begin = start == t + 1
            if begin.any():
                # a second reset if needed: an env that just lost a life was continued above, this starts anew
                obs, _ = self.envs.reset(seed=self.episode_seeds(), options={"reset_mask": begin})
        self._action_log = list(log)
        self._episode_start = start.copy()
        obs = np.array(obs, dtype=self.obs_dtype, copy=True)
        if not np.array_equal(obs, state["obs"]):
            warnings.warn(f"env {self.env_id!r} did not replay to the saved observations: it is not "
                          "deterministic given its seed and actions, so the resumed run differs from an "
                          "uninterrupted one", RuntimeWarning, stacklevel=3)
            obs = np.array(state["obs"], dtype=self.obs_dtype, copy=True)
        self.obs = obs
        self._spare = np.empty_like(obs)

    def close(self) -> None:
        """Closes the envs."""
        self.envs.close()
