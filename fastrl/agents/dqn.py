"""DQN and its common extensions, in one file that reads top to bottom: config, network, loss, loop.

Deep Q-learning (Mnih et al., 2015) with Double DQN (van Hasselt et al., 2016), the dueling head (Wang et
al., 2016), n-step returns and prioritized replay (Schaul et al., 2016), a Huber loss, gradient-norm
clipping, hard or Polyak target updates and a linear epsilon-greedy schedule. Environments come from
:func:`fastrl.make_vec`, transitions go through :class:`fastrl.ReplayBuffer` (which assembles n-step returns
and stores Atari frame stacks one frame per transition), networks come from :mod:`fastrl.nets`.

The TD target of a sampled transition ``(s_t, a_t, r, s_{t+k}, discount)`` is::

    y = r + discount * Q_target(s_{t+k}, argmax_a Q_online(s_{t+k}, a))    (double=True)
    y = r + discount * max_a Q_target(s_{t+k}, a)                          (double=False)

where the buffer gives ``r = sum_{i<k} gamma^i r_{t+i}`` and ``discount = gamma^k``, or 0 when the episode
terminated within the k steps. On a truncation (time limit) ``s_{t+k}`` is the true final observation and the
target bootstraps from it; no target ever bootstraps from an observation produced by a reset.

Episode ends and exact resumption. The agent steps its envs with autoreset disabled and resets finished
envs itself, each episode from its own seed ``(seed, env index, episode index)``. So ``step`` returns the true
final observation of every episode, and the state of every env is a function of its episode seed and the
actions taken since: a checkpoint stores those (a few hundred integers per env), and loading replays them
into fresh envs. Save after k steps + load + train m is therefore bit-for-bit equal, on CPU, to training
k + m straight through (same torch thread count and build), for any env that is deterministic given its
reset seed and actions (every native task and Atari game).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fastrl.checkpoint import load_checkpoint, save_checkpoint, set_torch_rng_state, torch_rng_state
from fastrl.losses import huber_td_backward
from fastrl.nets import QNetwork, is_image_shape, q_network
from fastrl.optim import FlatAdam, flatten_parameters
from fastrl.schedules import LinearSchedule

__all__ = ["DQNConfig", "DQN", "PRESETS", "is_atari_id"]


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


def is_atari_id(env_id: str) -> bool:
    """True for Atari ids (``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``): they get the Atari preset."""
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


#: Tuned settings per task; ``"atari"`` applies to every Atari id. Fields not named keep their defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # rl-zoo's tuned CartPole-v1 settings, plus Double DQN, 3-step returns and a learning rate decaying
    # linearly to 0 at total_steps, which keep the greedy policy at 500 at the end of 50K steps instead of
    # oscillating around it (5 of 5 seeds, against 3 of 5 without the last two).
    "CartPole-v1": dict(
        total_steps=50_000, learning_rate=2.3e-3, buffer_size=100_000, learning_starts=1000, batch_size=64,
        gamma=0.99, train_freq=256, gradient_steps=128, target_update_interval=10, tau=1.0,
        exploration_fraction=0.16, exploration_initial_eps=1.0, exploration_final_eps=0.04,
        hidden_sizes=(256, 256), max_grad_norm=10.0, double=True, n_step=3, learning_rate_final=0.0,
        torch_threads=1,
    ),
    # Nature DQN as most modern ports run it (Adam 1e-4, 1M replay, target every 1000 updates' worth of
    # steps, epsilon 1 -> 0.01 over the first 10%), with Double DQN.
    "atari": dict(
        total_steps=10_000_000, learning_rate=1e-4, buffer_size=1_000_000, learning_starts=80_000,
        batch_size=32, gamma=0.99, train_freq=4, gradient_steps=1, target_update_interval=1000, tau=1.0,
        exploration_fraction=0.1, exploration_initial_eps=1.0, exploration_final_eps=0.01,
        max_grad_norm=10.0, double=True, clip_rewards=True, log_interval=10_000,
    ),
}


@dataclass
class DQNConfig:
    """Every setting of a :class:`DQN` run. ``DQNConfig(env_id=...)`` starts from ``PRESETS`` for that task;
    fields passed explicitly override the preset. Steps are env steps (transitions), summed over envs."""

    env_id: str = "CartPole-v1"
    """gymnasium id of the task, made with ``fastrl.make_vec``."""
    total_steps: int | None = None
    """planned length of the run in env steps: the CLI's budget; schedule fractions refer to it."""
    seed: int = 0
    """seed of the envs, the networks' initialisation, exploration and the replay memory."""
    device: str = "cpu"
    """torch device of the networks (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
    num_envs: int | None = None
    """number of envs stepped together; each step adds ``num_envs`` transitions."""
    learning_rate: float | None = None
    """Adam learning rate (at step 0, if ``learning_rate_final`` is set)."""
    learning_rate_final: float | None = None
    """learning rate at ``total_steps``, reached linearly from ``learning_rate`` (None: constant)."""
    buffer_size: int | None = None
    """replay capacity in transitions."""
    learning_starts: int | None = None
    """env steps collected before the first gradient step."""
    batch_size: int | None = None
    """transitions per gradient step."""
    tau: float | None = None
    """target update coefficient: 1 copies the online network, < 1 is Polyak averaging."""
    gamma: float | None = None
    """discount factor."""
    train_freq: int | None = None
    """env steps between training phases."""
    gradient_steps: int | None = None
    """gradient steps per training phase."""
    target_update_interval: int | None = None
    """env steps between target-network updates."""
    exploration_fraction: float | None = None
    """fraction of ``total_steps`` over which epsilon falls linearly from initial to final."""
    exploration_initial_eps: float | None = None
    """epsilon at step 0."""
    exploration_final_eps: float | None = None
    """epsilon after the exploration phase."""
    max_grad_norm: float | None = None
    """clip the global gradient norm to this (``inf``: no clipping)."""
    hidden_sizes: tuple[int, ...] | None = None
    """MLP hidden layer sizes (vector observations; image observations use the Nature CNN)."""
    n_step: int | None = None
    """n of the n-step return assembled by the replay memory."""
    double: bool | None = None
    """Double DQN: the online network picks the next action, the target network evaluates it."""
    dueling: bool | None = None
    """dueling head: Q = V + A - mean(A)."""
    prioritized: bool | None = None
    """prioritized replay (proportional, priorities |TD error|)."""
    prioritized_alpha: float | None = None
    """priority exponent alpha."""
    prioritized_beta: float | None = None
    """initial importance-sampling exponent beta, annealed linearly to 1 over ``total_steps``."""
    prioritized_eps: float | None = None
    """constant added to |TD error| so no priority is zero."""
    torch_threads: int | None = None
    """``torch.set_num_threads`` for this process on CPU (None or 0: leave torch's setting)."""
    compile: bool | None = None
    """``torch.compile`` the Q-network (needs a working compiler toolchain; for the CartPole MLP on CPU it is
    slower than the default path, compile time aside)."""
    clip_rewards: bool | None = None
    """store sign(reward) in the replay memory (Atari); logged returns stay unclipped."""
    log_interval: int | None = None
    """env steps between logged losses, epsilon and steps/s."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """extra keyword arguments for ``fastrl.make_vec`` (e.g. ``max_episode_steps``)."""

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ValueError(f"env_id must be a non-empty str, got {self.env_id!r}")
        preset = PRESETS["atari"] if is_atari_id(self.env_id) else PRESETS.get(self.env_id, {})
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is None:
                value = preset.get(f.name, _DEFAULTS.get(f.name))
                setattr(self, f.name, value)
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        self._validate()

    def _validate(self) -> None:
        def need(cond: bool, name: str, what: str) -> None:
            if not cond:
                raise ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

        for name in ("total_steps", "num_envs", "buffer_size", "batch_size", "train_freq", "target_update_interval",
                     "n_step", "log_interval"):
            need(isinstance(getattr(self, name), (int, np.integer)) and getattr(self, name) > 0, name,
                 "a positive int")
        for name in ("learning_starts", "gradient_steps"):
            need(isinstance(getattr(self, name), (int, np.integer)) and getattr(self, name) >= 0, name,
                 "an int >= 0")
        need(self.learning_rate > 0, "learning_rate", "> 0")
        need(self.learning_rate_final is None or self.learning_rate_final >= 0, "learning_rate_final",
             "None or >= 0")
        need(0 < self.tau <= 1, "tau", "in (0, 1]")
        need(0 <= self.gamma <= 1, "gamma", "in [0, 1]")
        need(0 <= self.exploration_fraction <= 1, "exploration_fraction", "in [0, 1]")
        need(0 <= self.exploration_initial_eps <= 1, "exploration_initial_eps", "in [0, 1]")
        need(0 <= self.exploration_final_eps <= 1, "exploration_final_eps", "in [0, 1]")
        need(self.max_grad_norm > 0, "max_grad_norm", "> 0")
        need(len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0, "hidden_sizes", "positive sizes")
        need(self.prioritized_alpha >= 0, "prioritized_alpha", ">= 0")
        need(0 <= self.prioritized_beta <= 1, "prioritized_beta", "in [0, 1]")
        need(self.prioritized_eps > 0, "prioritized_eps", "> 0")
        need(self.torch_threads is None or self.torch_threads >= 0, "torch_threads", "None or >= 0")
        need(isinstance(self.env_kwargs, dict), "env_kwargs", "a dict")

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings as plain JSON-friendly values (``DQNConfig(**d)`` rebuilds the config)."""
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d


# Defaults of fields that no preset names (and of every field for tasks without a preset).
_DEFAULTS: dict[str, Any] = dict(
    total_steps=100_000, num_envs=1, learning_rate=1e-4, buffer_size=100_000, learning_starts=1000,
    batch_size=32, tau=1.0, gamma=0.99, train_freq=4, gradient_steps=1, target_update_interval=1000,
    exploration_fraction=0.1, exploration_initial_eps=1.0, exploration_final_eps=0.05, max_grad_norm=10.0,
    hidden_sizes=(256, 256), n_step=1, double=False, dueling=False, prioritized=False, prioritized_alpha=0.6,
    prioritized_beta=0.4, prioritized_eps=1e-6, torch_threads=None, compile=False, clip_rewards=False,
    log_interval=1000,
)


# --------------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------------


class DQN:
    """A DQN agent: its envs, replay memory, online and target Q-networks, optimizer and counters.

    ``agent.train(steps)`` runs ``steps`` more env steps; ``agent.act(obs)`` picks actions;
    ``agent.save(path)`` / ``DQN.load(path)`` checkpoint and resume exactly (see the module docstring).
    """

    def __init__(self, config: DQNConfig | None = None, **overrides: Any) -> None:
        import fastrl

        if config is None:
            config = DQNConfig(**overrides)
        elif overrides:
            config = DQNConfig(**{**config.to_dict(), **overrides})
        self.config = cfg = config
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {cfg.device!r} asked for CUDA, which is not available here")

        # Envs: autoreset disabled, the agent resets each finished env from its own episode seed.
        self.envs = fastrl.make_vec(cfg.env_id, cfg.num_envs, seed=cfg.seed, autoreset_mode="disabled",
                                    **cfg.env_kwargs)
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space
        if not hasattr(act_space, "n"):
            raise ValueError(f"env_id {cfg.env_id!r} has a {type(act_space).__name__} action space; "
                             "DQN needs a Discrete one")
        self.n_actions = int(act_space.n)
        self.obs_shape = tuple(obs_space.shape)
        self.obs_dtype = np.dtype(obs_space.dtype)
        self._atari = is_atari_id(cfg.env_id)

        # Networks: online, target (a frozen copy) and Adam.
        torch.manual_seed(cfg.seed)
        self.q_net: QNetwork = q_network(self.obs_shape, self.n_actions, cfg.hidden_sizes, cfg.dueling)
        self.q_net.to(self.device)
        self.target_net: QNetwork = q_network(self.obs_shape, self.n_actions, cfg.hidden_sizes, cfg.dueling)
        self.target_net.to(self.device).load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        # Each network's parameters live in one flat buffer: clipping and Adam are one pass over one tensor
        # (torch.optim.Adam's fused kernel), and a target update is one copy.
        self.optimizer = FlatAdam(self.q_net, lr=cfg.learning_rate)
        self._target_params = flatten_parameters(self.target_net)
        self._q = torch.compile(self.q_net) if cfg.compile else self.q_net
        # An MLP Q-network on the CPU gets the TD loss's gradient by hand (huber_td_backward: the same numbers
        # as _td_loss + backward, without autograd's graph, which costs a quarter of a small network's step).
        self._hand_grad = self.device.type == "cpu" and not cfg.compile and self.q_net.linear_layers is not None
        self._q_target = torch.compile(self.target_net) if cfg.compile else self.target_net

        # Replay memory: n-step returns; Atari frame stacks stored one frame per transition.
        frame_stack = self.obs_shape[0] if is_image_shape(self.obs_shape) else 1
        buffer_args = dict(capacity=cfg.buffer_size, obs_shape=self.obs_shape, obs_dtype=self.obs_dtype,
                           action_shape=(), action_dtype=np.int64, num_envs=cfg.num_envs, n_step=cfg.n_step,
                           gamma=cfg.gamma, frame_stack=frame_stack, seed=cfg.seed)
        if cfg.prioritized:
            self.buffer = fastrl.PrioritizedReplayBuffer(**buffer_args, alpha=cfg.prioritized_alpha,
                                                         eps=cfg.prioritized_eps)
        else:
            self.buffer = fastrl.ReplayBuffer(**buffer_args)

        # Schedules are functions of the step counter, so they need no saved state.
        self.epsilon = LinearSchedule(cfg.exploration_initial_eps, cfg.exploration_final_eps,
                                      cfg.exploration_fraction * cfg.total_steps)
        self.beta = LinearSchedule(cfg.prioritized_beta, 1.0, cfg.total_steps)
        lr_end = cfg.learning_rate if cfg.learning_rate_final is None else cfg.learning_rate_final
        self.lr = LinearSchedule(cfg.learning_rate, lr_end, cfg.total_steps)
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED]))
        # pinned host memory + non_blocking copies only make sense for a CUDA device
        self._pin = self.device.type == "cuda"

        # Counters.
        self.global_step = 0        # env steps (transitions) so far
        self.num_updates = 0        # gradient steps so far
        self.num_episodes = 0       # finished episodes so far
        self.recent_returns: deque[float] = deque(maxlen=20)
        self._ep_return = np.zeros(cfg.num_envs)  # unclipped return and length of each env's current episode
        self._ep_length = np.zeros(cfg.num_envs, dtype=np.int64)
        self._td_loss_sum = torch.zeros((), device=self.device)   # summed on device, read at log time
        self._q_sum = torch.zeros((), device=self.device)
        self._loss_count = 0

        # Env state: each env's episode index, and the actions since the oldest current episode began
        # (``_action_log[_episode_start[i]:, i]`` are env i's actions in its current episode).
        self._episode_index = np.zeros(cfg.num_envs, dtype=np.int64)
        self._action_log: list[np.ndarray] = []
        self._episode_start = np.zeros(cfg.num_envs, dtype=np.int64)
        self._obs = self._reset_envs(np.ones(cfg.num_envs, dtype=bool))

    # ---- envs --------------------------------------------------------------------------------------

    def _episode_seeds(self) -> list[int]:
        """Per env, the seed of its current episode: a function of (seed, env index, episode index) only,
        below 2**31 (ale-py takes C ints)."""
        return [int(np.random.SeedSequence([self.config.seed, i, int(k)]).generate_state(1, np.uint32)[0] >> 1)
                for i, k in enumerate(self._episode_index)]

    def _reset_envs(self, mask: np.ndarray, new_episode: np.ndarray | None = None) -> np.ndarray:
        """Resets the envs in ``mask`` (those in ``new_episode``, default all of them, start an episode from
        its seed; the others continue a game after a lost life); returns a copy of every env's observation."""
        new_episode = mask if new_episode is None else new_episode
        self._episode_start[new_episode] = len(self._action_log)
        oldest = int(self._episode_start.min())
        if oldest > 4096:  # drop actions no current episode needs
            del self._action_log[:oldest]
            self._episode_start -= oldest
        # a full reset goes without a mask: some envs accept a partial reset only after a full one
        options = None if mask.all() else {"reset_mask": mask.copy()}
        obs, _ = self.envs.reset(seed=self._episode_seeds(), options=options)
        return np.array(obs, dtype=self.obs_dtype, copy=True)

    @staticmethod
    def _life_lost(terminated: np.ndarray, truncated: np.ndarray, infos: dict) -> np.ndarray:
        """Envs whose termination is a lost life of a game that goes on (Atari's episodic life): the game
        has lives left. Their reset continues the game, so they do not start a new episode."""
        lives = infos.get("lives")
        if lives is None:
            return np.zeros_like(terminated)
        return terminated & ~truncated & (np.asarray(lives) > 0)

    def _episode_actions(self) -> list[np.ndarray]:
        """Per env, the int64 actions taken so far in its current episode."""
        log = np.asarray(self._action_log, dtype=np.int64).reshape(-1, self.config.num_envs)
        return [log[int(s):, i].copy() for i, s in enumerate(self._episode_start)]

    # ---- acting ------------------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Actions ``(B,)`` int64 for observations ``(B, *obs_shape)``: greedy, or epsilon-greedy at the
        current epsilon when ``deterministic`` is false."""
        obs_t = torch.as_tensor(np.asarray(obs) if not isinstance(obs, torch.Tensor) else obs)
        if obs_t.shape[1:] != self.obs_shape:
            raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs_t.shape)}")
        greedy = self._q(obs_t.to(self.device)).argmax(dim=1).cpu().numpy()
        if deterministic:
            return greedy
        eps = self.epsilon(self.global_step)
        explore = self.rng.random(len(greedy)) < eps
        return np.where(explore, self.rng.integers(self.n_actions, size=len(greedy)), greedy)

    @torch.no_grad()
    def _explore(self, obs: np.ndarray, eps: float) -> np.ndarray:
        """Epsilon-greedy actions for the training envs; the Q-network runs only if some env exploits."""
        n = len(obs)
        explore = self.rng.random(n) < eps
        if explore.all():
            return self.rng.integers(self.n_actions, size=n)
        actions = self._q(torch.from_numpy(obs).to(self.device)).argmax(dim=1).cpu().numpy()
        if explore.any():  # random actions are drawn only where needed: a draw costs as much as the rest
            actions[explore] = self.rng.integers(self.n_actions, size=int(explore.sum()))
        return actions

    # ---- learning ----------------------------------------------------------------------------------

    @torch.no_grad()
    def _bootstrap(self, next_obs: torch.Tensor, q_target_next: torch.Tensor) -> torch.Tensor:
        """Value of ``next_obs`` ``(B,)``: ``max_a Q_target`` or, with Double DQN, ``Q_target`` at the online
        network's argmax. ``q_target_next`` ``(B, n_actions)`` holds ``Q_target(next_obs)``."""
        if self.config.double:
            a_next = self._q(next_obs).argmax(dim=1, keepdim=True)
            return q_target_next.gather(1, a_next).squeeze(1)
        return q_target_next.max(dim=1).values

    @torch.no_grad()
    def _td_target(self, reward, discount, next_obs, q_target_next) -> torch.Tensor:
        """``y = reward + discount * bootstrap(next_obs)`` ``(B,)`` (discount is 0 where the episode ended)."""
        return reward + discount * self._bootstrap(next_obs, q_target_next)

    def _td_loss(self, obs, action, y, weights=None):
        """Huber loss between ``Q(s, a)`` and the TD target ``y``, importance-weighted by ``weights`` with
        prioritized replay; returns (loss, ``Q(s, a)`` ``(B,)``)."""
        q_sa = self._q(obs).gather(1, action.unsqueeze(1)).squeeze(1)
        if weights is None:
            return F.smooth_l1_loss(q_sa, y), q_sa
        return (F.smooth_l1_loss(q_sa, y, reduction="none") * weights).mean(), q_sa

    def _gradient_step(self, obs, action, y, weights=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One Adam step on the TD loss; returns the loss and ``Q(s, a)`` ``(B,)``, detached."""
        self.optimizer.zero_grad()
        if self._hand_grad:
            loss, q_sa = huber_td_backward(self.q_net, obs, action, y, weights)
        else:
            loss, q_sa = self._td_loss(obs, action, y, weights)
            loss.backward()
        self.optimizer.clip_grad_norm_(self.config.max_grad_norm)
        self.optimizer.step()
        self.num_updates += 1
        return loss.detach(), q_sa.detach()

    def _train_phase(self, num_steps: int) -> None:
        """``num_steps`` gradient steps on replay samples.

        The target network only changes between phases (target updates run in the env loop), so within a
        phase ``Q_target(next_obs)`` does not depend on the step that uses it.
        """
        cfg = self.config
        on_device = self._pin or self.device.type != "cpu"
        self.optimizer.lr = self.lr(self.global_step)
        losses: list[torch.Tensor] = []
        q_values: list[torch.Tensor] = []
        if not cfg.prioritized:
            # The memory does not change during a phase either, so one sample of k * batch_size i.i.d.
            # uniform draws is distributed exactly like k separate samples; it costs one call, one
            # host-to-device copy and one large (efficient) target-network forward instead of k. A sample
            # may not exceed the sampleable count, which bounds k early in training.
            per_call = max(1, min(num_steps, len(self.buffer) // cfg.batch_size))
            done = 0
            while done < num_steps:
                k = min(per_call, num_steps - done)
                batch = self.buffer.sample(cfg.batch_size * k, as_torch=True, pin_memory=self._pin)
                batch = batch.to(self.device) if on_device else batch
                with torch.no_grad():
                    q_target_next = self._q_target(batch.next_obs)
                    # Without Double DQN the targets depend on the target network only: all k at once.
                    y_all = None if cfg.double else self._td_target(batch.reward, batch.discount, batch.next_obs,
                                                                     q_target_next).split(cfg.batch_size)
                steps = zip(*(t.split(cfg.batch_size) for t in (batch.obs, batch.action, batch.reward,
                                                                batch.discount, batch.next_obs, q_target_next)),
                            strict=True)
                for j, (obs, action, reward, discount, next_obs, q_t) in enumerate(steps):
                    # Double DQN's argmax uses the online network as it is at this step.
                    y = self._td_target(reward, discount, next_obs, q_t) if cfg.double else y_all[j]
                    loss, q_sa = self._gradient_step(obs, action, y)
                    losses.append(loss)
                    q_values.append(q_sa)
                done += k
        else:
            for _ in range(num_steps):
                beta = self.beta(self.global_step)
                batch = self.buffer.sample(cfg.batch_size, beta=beta, as_torch=True, pin_memory=self._pin)
                indices = batch.indices.numpy().copy()
                batch = batch.to(self.device) if on_device else batch
                with torch.no_grad():
                    y = self._td_target(batch.reward, batch.discount, batch.next_obs, self._q_target(batch.next_obs))
                loss, q_sa = self._gradient_step(batch.obs, batch.action, y, batch.weights)
                losses.append(loss)
                q_values.append(q_sa)
                # New priorities must reach the memory before the next sample: one sync per step, inherent
                # to PER.
                self.buffer.update_priorities(indices, (q_sa - y).abs().double().cpu().numpy())
        if losses:
            # Device-side sums, one op each per phase: no host sync; read with .item() at log time only.
            self._td_loss_sum += torch.stack(losses).sum()
            self._q_sum += torch.cat(q_values).sum() / cfg.batch_size
            self._loss_count += len(losses)

    @torch.no_grad()
    def _update_target(self) -> None:
        if self.config.tau >= 1.0:
            self._target_params.copy_(self.optimizer.params)
        else:
            self._target_params.lerp_(self.optimizer.params, self.config.tau)

    # ---- the loop ----------------------------------------------------------------------------------

    def train(
        self,
        steps: int | None = None,
        *,
        logger: Any = None,
        progress: bool = False,
        callback: Callable[[DQN], None] | None = None,
        callback_interval: int = 0,
    ) -> DQN:
        """Trains for ``steps`` more env steps (default: up to ``config.total_steps``); returns ``self``.

        Args:
            steps: env steps to run (rounded up to a multiple of ``num_envs``).
            logger: a :class:`fastrl.logger.Logger` (or anything with ``log(tag, value, step)``) for
                ``charts/*``, ``losses/*`` and ``perf/sps``.
            progress: show a tqdm bar (steps, steps/s, recent return, time left).
            callback: called as ``callback(agent)`` every ``callback_interval`` env steps (e.g. checkpoints).
        """
        cfg = self.config
        if steps is None:
            steps = max(cfg.total_steps - self.global_step, 0)
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        n = cfg.num_envs
        end = self.global_step + steps
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, unit="step", dynamic_ncols=True, smoothing=0.1)
        last_log_step, last_log_time = self.global_step, time.perf_counter()
        bar_pending = 0
        obs = self._obs
        try:
            while self.global_step < end:
                prev = self.global_step
                actions = self._explore(obs, self.epsilon(prev))
                next_obs, rewards, terminated, truncated, infos = self.envs.step(actions)
                # Autoreset is off: next_obs holds the true final observation of every finished episode.
                self.buffer.add(obs, actions, np.sign(rewards) if cfg.clip_rewards else rewards, next_obs,
                                terminated, truncated)
                self._action_log.append(actions)
                self._ep_return += rewards
                self._ep_length += 1
                self.global_step = step = prev + n
                done = np.logical_or(terminated, truncated)
                if done.any():
                    game_over = done & ~self._life_lost(terminated, truncated, infos)
                    self._finish_episodes(game_over, infos, logger)
                    self._episode_index[game_over] += 1
                    obs = self._reset_envs(done, game_over)
                else:
                    np.copyto(obs, next_obs)
                self._obs = obs

                if step > cfg.learning_starts and cfg.gradient_steps > 0 and _crossed(prev, step, cfg.train_freq):
                    if len(self.buffer) >= cfg.batch_size:
                        self._train_phase(cfg.gradient_steps)
                if _crossed(prev, step, cfg.target_update_interval):
                    self._update_target()

                bar_pending += n
                # Logging depends on the step only, so a run split by save/load logs the same rows.
                if _crossed(prev, step, cfg.log_interval):
                    now = time.perf_counter()
                    sps = (step - last_log_step) / max(now - last_log_time, 1e-9)
                    last_log_step, last_log_time = step, now
                    self._log_interval(logger, step, sps)
                    if bar is not None:
                        bar.update(bar_pending)
                        bar_pending = 0
                        ret = f"{np.mean(self.recent_returns):.1f}" if self.recent_returns else "-"
                        bar.set_postfix_str(f"return={ret} eps={self.epsilon(step):.3f}", refresh=False)
                elif bar is not None and bar_pending >= 256:
                    bar.update(bar_pending)
                    bar_pending = 0
                if callback is not None and callback_interval > 0 and _crossed(prev, step, callback_interval):
                    callback(self)
        finally:
            if bar is not None:
                bar.update(bar_pending)
                bar.close()
        return self

    def _finish_episodes(self, game_over: np.ndarray, infos: dict, logger: Any) -> None:
        """Logs the episodes that ended. Atari envs report whole games with raw scores in
        ``infos["episode"]`` (their rewards are clipped and a lost life terminates); other envs' returns
        are summed here."""
        env_stats = self._atari and "episode" in infos
        for i in np.flatnonzero(game_over):
            self.num_episodes += 1
            if env_stats:
                if not infos["_episode"][i]:
                    continue
                ret, length = float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])
            else:
                ret, length = float(self._ep_return[i]), int(self._ep_length[i])
            self.recent_returns.append(ret)
            if logger is not None:
                logger.log("charts/episodic_return", ret, self.global_step)
                logger.log("charts/episodic_length", length, self.global_step)
        self._ep_return[game_over] = 0.0
        self._ep_length[game_over] = 0

    def _log_interval(self, logger: Any, step: int, sps: float) -> None:
        if logger is None:
            self._td_loss_sum.zero_()
            self._q_sum.zero_()
            self._loss_count = 0
            return
        logger.log("charts/epsilon", self.epsilon(step), step)
        if self.config.prioritized:
            logger.log("charts/beta", self.beta(step), step)
        if self._loss_count:
            # The only host-device syncs of the loop: once per log interval.
            logger.log("losses/td_loss", self._td_loss_sum.item() / self._loss_count, step)
            logger.log("losses/q_values", self._q_sum.item() / self._loss_count, step)
            self._td_loss_sum.zero_()
            self._q_sum.zero_()
            self._loss_count = 0
        logger.log("perf/sps", sps, step)
        logger.log("charts/num_updates", self.num_updates, step)

    # ---- evaluation --------------------------------------------------------------------------------

    def evaluate(self, episodes: int = 10, *, seed: int | None = None, max_envs: int = 16) -> np.ndarray:
        """Greedy returns ``(episodes,)`` float64 of ``episodes`` fresh episodes, on envs separate from
        training ones (seeded ``seed``, default ``config.seed + 10_000``); each env plays one episode."""
        import fastrl

        if episodes <= 0:
            raise ValueError(f"episodes must be positive, got {episodes}")
        cfg = self.config
        seed = cfg.seed + 10_000 if seed is None else seed
        returns: list[float] = []
        while len(returns) < episodes:
            m = min(max_envs, episodes - len(returns))
            kwargs = dict(cfg.env_kwargs)
            if self._atari:  # whole games and raw scores: the return is the game score
                kwargs.update(episodic_life=False, reward_clipping=False)
            envs = fastrl.make_vec(cfg.env_id, m, seed=seed, autoreset_mode="disabled", **kwargs)
            try:
                obs, _ = envs.reset(seed=seed + len(returns))
                total = np.zeros(m)
                finished = np.zeros(m, dtype=bool)
                result = np.zeros(m)
                while not finished.all():
                    actions = self.act(obs, deterministic=True)
                    obs, rewards, terminated, truncated, _ = envs.step(actions)
                    total += np.where(finished, 0.0, rewards)
                    ended = np.logical_or(terminated, truncated)
                    newly = ended & ~finished
                    result[newly] = total[newly]
                    finished |= newly
                    if ended.any() and not finished.all():
                        # finished envs keep stepping from fresh episodes whose returns are ignored
                        obs, _ = envs.reset(options={"reset_mask": ended})
                returns.extend(result.tolist())
            finally:
                envs.close()
        return np.asarray(returns[:episodes], dtype=np.float64)

    # ---- checkpoints -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (see the module docstring)."""
        return {
            "config": self.config.to_dict(),
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(),
            "counters": {"global_step": self.global_step, "num_updates": self.num_updates,
                         "num_episodes": self.num_episodes, "recent_returns": list(self.recent_returns),
                         "episode_return": self._ep_return.copy(), "episode_length": self._ep_length.copy(),
                         "loss_count": self._loss_count},
            "loss_sums": torch.stack([self._td_loss_sum, self._q_sum]).cpu(),
            "rng": {"numpy": self.rng.bit_generator.state, "torch": torch_rng_state()},
            "envs": {"episode_index": self._episode_index.copy(),
                     "episode_actions": self._episode_actions(),
                     "obs": self._obs.copy()},
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Writes a checkpoint atomically (temporary file, then rename); returns its path."""
        return save_checkpoint(path, "dqn", self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None, inference_only: bool = False,
             **overrides: Any) -> DQN:
        """Rebuilds an agent from :meth:`save`'s file, ready to continue training or to act.

        ``device`` moves it to another device; ``overrides`` change config fields (e.g. ``total_steps`` to
        extend a run). ``inference_only`` restores the networks and counters only (a small empty replay
        memory, fresh envs and optimizer): enough for ``act`` and ``evaluate``, and quick for a 1M-frame
        Atari checkpoint. Raises OSError for a missing, truncated or foreign file.
        """
        state = load_checkpoint(path, "dqn")
        config = dict(state["config"])
        if device is not None:
            config["device"] = device
        config.update(overrides)
        if inference_only:
            config["buffer_size"] = config["batch_size"]
        agent = cls(DQNConfig(**config))
        if inference_only:
            agent.q_net.load_state_dict(state["q_net"])
            agent.target_net.load_state_dict(state["target_net"])
            agent.global_step = int(state["counters"]["global_step"])
        else:
            agent.load_state_dict(state)
        return agent

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output into this agent (same env, network and buffer settings)."""
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        c = state["counters"]
        self.global_step, self.num_updates = int(c["global_step"]), int(c["num_updates"])
        self.num_episodes, self._loss_count = int(c["num_episodes"]), int(c["loss_count"])
        self.recent_returns = deque(c["recent_returns"], maxlen=self.recent_returns.maxlen)
        self._ep_return = np.array(c["episode_return"], dtype=np.float64)
        self._ep_length = np.array(c["episode_length"], dtype=np.int64)
        sums = state["loss_sums"].to(self.device)
        self._td_loss_sum, self._q_sum = sums[0].clone(), sums[1].clone()
        self.rng.bit_generator.state = state["rng"]["numpy"]
        set_torch_rng_state(state["rng"]["torch"])
        self._restore_envs(state["envs"])

    def _restore_envs(self, env_state: dict[str, Any]) -> None:
        """Replays each env's current episode from its seed, so every env is where the saved run left it.

        Histories have different lengths, so they are aligned to end together: env i is reset from its
        episode seed ``L_max - L_i`` steps into the replay; before that it only steps (and is reset when it
        ends) to keep the batch in step.
        """
        n = self.config.num_envs
        self._episode_index = np.asarray(env_state["episode_index"], dtype=np.int64).copy()
        histories = [np.asarray(a, dtype=np.int64) for a in env_state["episode_actions"]]
        if len(histories) != n or len(self._episode_index) != n:
            raise ValueError(f"checkpoint has {len(histories)} envs, config has num_envs={n}")
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        l_max = int(lengths.max(initial=0))
        start = l_max - lengths
        # Every env needs a reset before stepping; idle ones start any episode (their steps are discarded).
        obs, _ = self.envs.reset(seed=self._episode_seeds())
        for t in range(l_max):
            actions = np.array([histories[i][t - start[i]] if t >= start[i] else 0 for i in range(n)],
                               dtype=np.int64)
            obs, _, terminated, truncated, _ = self.envs.step(actions)
            ended = np.logical_or(terminated, truncated)
            if ended.any():
                # idle envs that ended, and replaying ones that lost a life (their game goes on, as it did)
                obs, _ = self.envs.reset(seed=self._episode_seeds(), options={"reset_mask": ended})
            begin = start == t + 1
            if begin.any():
                # a second reset if needed: an env that just lost a life was continued above, this starts anew
                obs, _ = self.envs.reset(seed=self._episode_seeds(), options={"reset_mask": begin})
        log = np.zeros((l_max, n), dtype=np.int64)
        for i in range(n):
            log[start[i]:, i] = histories[i]
        self._action_log = list(log)
        self._episode_start = start.copy()
        obs = np.array(obs, dtype=self.obs_dtype, copy=True)
        if not np.array_equal(obs, env_state["obs"]):
            warnings.warn(f"env {self.config.env_id!r} did not replay to the saved observations: it is not "
                          "deterministic given its seed and actions, so the resumed run differs from an "
                          "uninterrupted one", RuntimeWarning, stacklevel=3)
            obs = np.array(env_state["obs"], dtype=self.obs_dtype, copy=True)
        self._obs = obs

    def close(self) -> None:
        """Closes the envs."""
        self.envs.close()


def _crossed(prev: int, step: int, interval: int) -> bool:
    """True when a multiple of ``interval`` lies in ``(prev, step]`` (so any num_envs works)."""
    return step // interval > prev // interval
