"""Ape-X actors: envs, a CPU copy of the policy, exploration of their own, n-step transitions and their initial
priorities, pushed to replay shards in batches. :class:`ApeXDQNActor` explores epsilon-greedily with a copy of
the Q-network; :class:`ApeXDDPGActor` adds Gaussian noise to a copy of the deterministic actor and computes
priorities with a copy of the critic."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

import numpy as np
import torch

from fastrl.agents.runner import EnvRunner
from fastrl.nets import Actor, Critics, NumpyLinearStack, q_network
from fastrl.optim import flatten_parameters

__all__ = ["ApeXActorBase", "ApeXDDPGActor", "ApeXDQNActor", "NStepAssembler", "apex_epsilons", "apex_noise_scales"]


def apex_epsilons(num_actors: int, base: float = 0.4, alpha: float = 7.0) -> list[float]:
    """Ape-X's per-actor exploration: ``epsilon_i = base ** (1 + alpha * i / (N - 1))`` (``base`` for one
    actor), from 0.4 down to 0.4**8 ~ 0.00066 with the paper's values."""
    if num_actors < 1:
        raise ValueError(f"num_actors must be >= 1, got {num_actors}")
    if num_actors == 1:
        return [base]
    return [base ** (1 + alpha * i / (num_actors - 1)) for i in range(num_actors)]


def apex_noise_scales(num_actors: int, high: float, low: float) -> list[float]:
    """Per-actor Gaussian noise scales for Ape-X DDPG, the continuous counterpart of :func:`apex_epsilons`:
    geometrically spaced from ``high`` (actor 0, the most exploratory) down to ``low`` (the last actor);
    ``high`` for one actor. Scales are fractions of the action box's half-width."""
    if num_actors < 1:
        raise ValueError(f"num_actors must be >= 1, got {num_actors}")
    if not 0.0 < low <= high < math.inf:
        raise ValueError(f"the noise scales must satisfy 0 < low <= high < inf, got low={low}, high={high}")
    if num_actors == 1:
        return [float(high)]
    return [float(high * (low / high) ** (i / (num_actors - 1))) for i in range(num_actors)]


class NStepAssembler:
    """Turns per-env steps into complete n-step transitions, as the replay memory assembles them.

    Transition t of an env is ``(obs_t, action_t, R, discount, next_obs)`` with
    ``R = sum_{i<k} gamma**i r_{t+i}``, ``k = n`` or fewer when the episode ends first, ``discount = gamma**k``,
    or 0 when the episode terminated within those k steps (a truncation bootstraps from the true final
    observation), and ``next_obs`` the observation k steps later. A window closes when it holds n rewards or
    its episode ends; an episode end closes every open window of its env.
    """

    def __init__(self, num_envs: int, n_step: int, gamma: float) -> None:
        self.num_envs, self.n_step, self.gamma = int(num_envs), int(n_step), float(gamma)
        self._open: list[deque] = [deque() for _ in range(self.num_envs)]

    def _close(self, entry: list, next_obs: np.ndarray, terminated: bool) -> tuple:
        obs, action, rewards = entry
        ret = 0.0
        for r in reversed(rewards):
            ret = r + self.gamma * ret
        discount = 0.0 if terminated else self.gamma ** len(rewards)
        return obs, action, ret, discount, next_obs

    def step(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
             terminated: np.ndarray, truncated: np.ndarray) -> list[tuple]:
        """Feeds one step of every env; returns the transitions it completed."""
        out = []
        for i in range(self.num_envs):
            windows = self._open[i]
            windows.append([obs[i].copy(), action[i], []])  # the caller's arrays may be reused buffers
            for entry in windows:
                entry[2].append(float(reward[i]))
            if terminated[i] or truncated[i]:
                final = next_obs[i].copy()
                while windows:
                    out.append(self._close(windows.popleft(), final, bool(terminated[i])))
            elif len(windows[0][2]) == self.n_step:
                out.append(self._close(windows.popleft(), next_obs[i].copy(), False))
        return out


class ApeXActorBase(ABC):
    """What every Ape-X actor does: ``num_envs`` envs of ``env_id``, n-step assembly, and pushes of about
    ``push_size`` transitions with their initial priorities to the shards (round robin). A subclass builds its
    policy copy and lists its flat parameter buffers in the learner's layout (``_flats``: the learner publishes
    their concatenation), picks actions (:meth:`_act`) and computes priorities (:meth:`_priorities`).

    ``shards`` are :class:`ReplayShard` objects or Ray handles to them; with handles, :meth:`run` waits until
    its pushes have landed before it returns, so the shards' contents are known when it returns.
    """

    #: dtype of the actions pushed to the shards
    ACTION_DTYPE: Any = np.int64

    def __init__(self, *, env_id: str, env_kwargs: dict[str, Any], num_envs: int, seed: int, n_step: int,
                 gamma: float, push_size: int, shards: list[Any], shard_offset: int = 0) -> None:
        torch.set_num_threads(1)
        self.runner = EnvRunner(env_id, num_envs, seed, env_kwargs)
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0xAC7]))
        self.assembler = NStepAssembler(num_envs, n_step, gamma)
        self.push_size = int(push_size)
        self.shards = list(shards)
        self._next_shard = int(shard_offset) % max(len(self.shards), 1)
        self._pending: list[tuple] = []
        self._flats: list[torch.Tensor] = []  # set by the subclass
        self.version = -1
        self.steps = 0

    @staticmethod
    def node() -> str:
        """The id of the Ray node this actor runs on (``""`` outside Ray)."""
        try:
            import ray

            return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
        except ImportError:
            return ""

    def set_shards(self, shards: list[Any]) -> None:
        """Points the actor to new shards (after one was rebuilt)."""
        self.shards = list(shards)
        self._next_shard %= len(self.shards)

    def set_weights(self, flat: np.ndarray, version: int) -> None:
        """Loads the learner's flat parameters (``version`` counts the learner's publications).

        Raises:
            ValueError: ``flat`` does not hold exactly this actor's parameters.
        """
        flat_t = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32)).reshape(-1)
        sizes = [f.numel() for f in self._flats]
        if flat_t.numel() != sum(sizes):
            raise ValueError(f"flat must hold the actor's {sum(sizes)} parameters, got {flat_t.numel()}")
        for part, values in zip(self._flats, flat_t.split(sizes), strict=True):
            part.copy_(values)
        self.version = int(version)

    # ---- what a subclass defines ----

    @abstractmethod
    def _act(self, obs: np.ndarray) -> np.ndarray:
        """Exploratory actions of the envs for observations ``(num_envs, *obs_shape)``."""

    @abstractmethod
    def _priorities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Initial priorities ``(B,)``: the absolute TD errors of the batch's transitions under the actor's copy."""

    # ---- the loop ----

    def run(self, steps: int, weights: np.ndarray | None = None, version: int = -1) -> dict[str, Any]:
        """Steps the envs ``steps`` times (each step moves every env), with the given weights if they are
        newer than the actor's; returns ``{"steps", "transitions", "episodes": [(return, length), ...],
        "version"}``."""
        if weights is not None and version > self.version:
            self.set_weights(weights, version)
        episodes: list[tuple[float, int]] = []
        pushed = 0
        refs: list[Any] = []
        for _ in range(int(steps)):
            t = self.runner.step(self._act(self.runner.obs))
            self._pending += self.assembler.step(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.truncated)
            episodes += t.episodes
            self.steps += self.runner.num_envs
            if len(self._pending) >= self.push_size:
                pushed += self._push(refs)
        if refs:
            import ray

            ray.get(refs)
        return {"steps": int(steps) * self.runner.num_envs, "transitions": pushed, "episodes": episodes,
                "version": self.version}

    def _push(self, refs: list[Any]) -> int:
        """Sends the pending transitions with their initial priorities to the next shard."""
        obs, action, ret, discount, next_obs = zip(*self._pending, strict=True)
        batch = {"obs": np.stack(obs), "action": np.asarray(action, dtype=self.ACTION_DTYPE),
                 "reward": np.asarray(ret, dtype=np.float64), "discount": np.asarray(discount, dtype=np.float32),
                 "next_obs": np.stack(next_obs)}
        priorities = self._priorities(batch)
        self._pending = []
        shard = self.shards[self._next_shard]
        self._next_shard = (self._next_shard + 1) % len(self.shards)
        if hasattr(shard.add, "remote"):
            refs.append(shard.add.remote(batch, priorities))
        else:
            shard.add(batch, priorities)
        return len(obs)

    def close(self) -> None:
        self.runner.close()


class ApeXDQNActor(ApeXActorBase):
    """An Ape-X DQN actor: an epsilon-greedy copy of the Q-network; initial priorities
    ``|R + discount * max_a Q(s', a) - Q(s, a)|`` from that copy. Arguments beyond
    :class:`ApeXActorBase`'s: the exploration rate and the Q-network's shape."""

    ACTION_DTYPE = np.int64

    def __init__(self, *, epsilon: float, hidden_sizes: tuple[int, ...], dueling: bool, **common: Any) -> None:
        super().__init__(**common)
        self.n_actions = int(self.runner.action_space.n)
        self.q_net = q_network(self.runner.obs_shape, self.n_actions, hidden_sizes, dueling).requires_grad_(False)
        self._flats = [flatten_parameters(self.q_net)]
        self._numpy_q = NumpyLinearStack(self.q_net.linear_layers) if NumpyLinearStack.supports(self.q_net) else None
        self.epsilon = float(epsilon)

    def _q(self, obs: np.ndarray) -> np.ndarray:
        if self._numpy_q is not None:
            return self._numpy_q(obs.reshape(len(obs), -1))
        with torch.no_grad():
            return self.q_net(torch.from_numpy(np.ascontiguousarray(obs))).numpy()

    def _act(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        explore = self.rng.random(n) < self.epsilon
        actions = np.empty(n, dtype=np.int64) if explore.all() else self._q(obs).argmax(axis=1)
        if explore.any():
            actions[explore] = self.rng.integers(self.n_actions, size=int(explore.sum()))
        return actions

    def _priorities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        q = self._q(batch["obs"])[np.arange(len(batch["obs"])), batch["action"]]
        target = batch["reward"] + batch["discount"] * self._q(batch["next_obs"]).max(axis=1)
        return np.abs(target - q)


class ApeXDDPGActor(ApeXActorBase):
    """An Ape-X DDPG actor: a copy of the deterministic actor plus Gaussian noise of scale ``noise_sigma``
    (a fraction of the action box's half-width; clipped to the box); initial priorities
    ``|R + discount * Q(s', mu(s')) - Q(s, a)|`` from its copy of the critic. Its flat parameters are the
    actor's followed by the critic's, as the learner publishes them.

    It acts uniformly in the box for its first ``random_steps`` env steps while it holds the learner's initial
    weights (version 0 or none); an actor started later (a resumed run, or one Ray restarted) gets trained
    weights with its first round and acts with its policy at once."""

    ACTION_DTYPE = np.float32

    def __init__(self, *, noise_sigma: float, random_steps: int, hidden_sizes: tuple[int, ...],
                 **common: Any) -> None:
        super().__init__(**common)
        space = self.runner.action_space
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        obs_dim, act_dim = int(np.prod(self.runner.obs_shape)), int(space.shape[0])
        self.actor = Actor(obs_dim, act_dim, self.low, self.high, hidden_sizes).requires_grad_(False)
        self.critic = Critics(1, obs_dim, act_dim, hidden_sizes).requires_grad_(False)
        self._flats = [flatten_parameters(self.actor), flatten_parameters(self.critic)]
        self._mu_np = NumpyLinearStack(self.actor.net.linears)
        self._scale = self.actor.action_scale.numpy()
        self._bias = self.actor.action_bias.numpy()
        self.noise_sigma = float(noise_sigma)
        self.random_steps = int(random_steps)

    def _mu(self, obs: np.ndarray) -> np.ndarray:
        return self._bias + self._scale * np.tanh(self._mu_np(obs.reshape(len(obs), -1)))

    def _act(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        if self.steps < self.random_steps and self.version <= 0:
            return self.rng.uniform(self.low, self.high, (n, len(self.low))).astype(np.float32)
        noise = self.rng.standard_normal((n, len(self.low))) * (self.noise_sigma * self._scale)
        return np.clip(self._mu(obs) + noise, self.low, self.high).astype(np.float32)

    def _priorities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            obs = torch.from_numpy(batch["obs"].reshape(len(batch["obs"]), -1).astype(np.float32))
            next_obs = torch.from_numpy(batch["next_obs"].reshape(len(obs), -1).astype(np.float32))
            q = self.critic.first(obs, torch.from_numpy(batch["action"]))
            q_next = self.critic.first(next_obs, self.actor(next_obs))
        target = batch["reward"] + batch["discount"] * q_next.double().numpy()
        return np.abs(target - q.double().numpy())
