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

Episode ends and exact resumption come from the shared env runner (:mod:`fastrl.agents.runner`): it resets
each finished env from its own episode seed, so ``step`` returns the true final observation of every
episode, and a checkpoint replays each env's actions into fresh envs. Save after k steps + load + train m is
bit-for-bit equal, on CPU, to training k + m straight through (same torch thread count and build).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from fastrl.agents.base import AgentBase, check_run_fits, resolve_config, torch_device
from fastrl.agents.config import AgentConfig, require, require_int, require_real
from fastrl.agents.loop import DeviceMeans, TrainLoop, crossed
from fastrl.agents.runner import EnvRunner
from fastrl.checkpoint import set_torch_rng_state, torch_rng_state
from fastrl.losses import huber_td_backward
from fastrl.nets import NumpyLinearStack, QNetwork, is_image_shape, q_network
from fastrl.optim import FlatAdam, flatten_parameters
from fastrl.replay import PrioritizedReplayBuffer, ReplayBuffer
from fastrl.schedules import ExponentialSchedule, LinearSchedule

__all__ = ["DQNConfig", "DQN", "PRESETS"]


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


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
    # A compact Pong recipe, run until the mean of the last 10 games reaches 19: replay of 100K, batch 32, Adam
    # 1e-4, gamma 0.99, Huber loss, 10K steps before learning, one gradient step per env step, a target copy
    # every 1000 updates, epsilon from 1 towards 0.01 decaying exponentially with a scale of 30K steps, at
    # most 1M steps; plain DQN, no gradient clipping. (Recipes of this kind often feed single frames; this one
    # keeps the standard stack of 4.)
    "pong-100k": dict(
        env_id="PongNoFrameskip-v4", total_steps=1_000_000, buffer_size=100_000, batch_size=32, learning_rate=1e-4,
        gamma=0.99, learning_starts=10_000, train_freq=1, gradient_steps=1, target_update_interval=1000, tau=1.0,
        exploration_schedule="exponential", exploration_initial_eps=1.0, exploration_final_eps=0.01,
        exploration_decay_steps=30_000, double=False, n_step=1, max_grad_norm=float("inf"), clip_rewards=True,
        stop_mean_return=19.0, stop_window=10, log_interval=10_000,
    ),
}


# Defaults of fields that no preset names (and of every field for tasks without a preset).
_DEFAULTS: dict[str, Any] = dict(
    total_steps=100_000, num_envs=1, learning_rate=1e-4, buffer_size=100_000, learning_starts=1000,
    batch_size=32, tau=1.0, gamma=0.99, train_freq=4, gradient_steps=1, target_update_interval=1000,
    exploration_fraction=0.1, exploration_initial_eps=1.0, exploration_final_eps=0.05, max_grad_norm=10.0,
    hidden_sizes=(256, 256), n_step=1, double=False, dueling=False, prioritized=False, prioritized_alpha=0.6,
    prioritized_beta=0.4, prioritized_eps=1e-6, torch_threads=None, compile=False, clip_rewards=False,
    log_interval=1000, save_replay=True, exploration_schedule="linear", exploration_decay_steps=30_000,
    stop_window=10,
)


@dataclass
class DQNConfig(AgentConfig):
    """Every setting of a :class:`DQN` run. ``DQNConfig(env_id=...)`` starts from ``PRESETS`` for that task
    (``"atari"`` for every Atari id); fields passed explicitly override the preset. Steps are env steps
    (transitions), summed over envs."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    DEFAULTS: ClassVar[dict[str, Any]] = _DEFAULTS

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
    exploration_schedule: str | None = None
    """"linear" (over ``exploration_fraction``) or "exponential" (the gap to the final epsilon shrinks by e
    every ``exploration_decay_steps``)."""
    exploration_decay_steps: int | None = None
    """the exponential schedule's scale in env steps."""
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
    compile: bool | None = None
    """``torch.compile`` the Q-network (needs a working compiler toolchain; for the CartPole MLP on CPU it is
    slower than the default path, compile time aside)."""
    clip_rewards: bool | None = None
    """store sign(reward) in the replay memory (Atari); logged returns stay unclipped."""

    def validate(self) -> None:
        super().validate()
        for name in ("buffer_size", "batch_size", "train_freq", "target_update_interval", "n_step"):
            require_int(self, name, 1)
        require_int(self, "learning_starts", 0)
        require_int(self, "gradient_steps", 0)
        require_real(self, "learning_rate", 0, low_open=True)
        require_real(self, "learning_rate_final", 0, optional=True)
        require_real(self, "tau", 0, 1, low_open=True)
        require_real(self, "gamma", 0, 1)
        for name in ("exploration_fraction", "exploration_initial_eps", "exploration_final_eps"):
            require_real(self, name, 0, 1)
        require_real(self, "max_grad_norm", 0, low_open=True)
        require(self, "hidden_sizes", len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0, "positive sizes")
        require_real(self, "prioritized_alpha", 0)
        require_real(self, "prioritized_beta", 0, 1)
        require_real(self, "prioritized_eps", 0, low_open=True)
        require(self, "exploration_schedule", self.exploration_schedule in ("linear", "exponential"),
                '"linear" or "exponential"')
        require_int(self, "exploration_decay_steps", 1)



# --------------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------------


class DQN(AgentBase):
    """A DQN agent: its envs, replay memory, online and target Q-networks, optimizer and counters.

    ``agent.train(steps)`` runs ``steps`` more env steps; ``agent.act(obs)`` picks actions;
    ``agent.save(path)`` / ``DQN.load(path)`` checkpoint and resume exactly (see the module docstring).
    """

    KIND = "dqn"
    CONFIG = DQNConfig

    def __init__(self, config: DQNConfig | None = None, **overrides: Any) -> None:
        self.config = cfg = resolve_config(DQNConfig, config, overrides)
        self.device = torch_device(cfg.device, cfg.torch_threads)

        # Envs: the shared runner resets each finished env from its own episode seed.
        self.runner = EnvRunner(cfg.env_id, cfg.num_envs, cfg.seed, cfg.env_kwargs)
        self.envs = self.runner.envs
        act_space = self.runner.action_space
        if not hasattr(act_space, "n"):
            self.runner.close()
            raise ValueError(f"env_id {cfg.env_id!r} has a {type(act_space).__name__} action space; "
                             "DQN needs a Discrete one")
        self.n_actions = int(act_space.n)
        self.obs_shape = self.runner.obs_shape
        self.obs_dtype = self.runner.obs_dtype

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
        # Acting on a few CPU observations: the MLP's forward pass in NumPy (views of the parameters, so it
        # follows every update), a few microseconds where torch's per-op overhead costs tens.
        self._numpy_q = (NumpyLinearStack(self.q_net.linear_layers)
                         if not cfg.compile and NumpyLinearStack.supports(self.q_net) else None)
        # An MLP Q-network on the CPU gets the TD loss's gradient by hand (huber_td_backward: the same numbers
        # as _td_loss + backward, without autograd's graph, which costs a quarter of a small network's step).
        self._hand_grad = self.device.type == "cpu" and not cfg.compile and self.q_net.linear_layers is not None
        self._q_target = torch.compile(self.target_net) if cfg.compile else self.target_net

        # Replay memory: n-step returns; Atari frame stacks stored one frame per transition. A run that cannot
        # fit in memory is refused here, before the memory is allocated.
        frame_stack = self.obs_shape[0] if is_image_shape(self.obs_shape) else 1
        try:
            check_run_fits(cfg, self.runner, [self.q_net, self.target_net], action_shape=(), action_dtype=np.int64,
                           frame_stack=frame_stack)
        except MemoryError:
            self.runner.close()
            raise
        buffer_args = dict(capacity=cfg.buffer_size, obs_shape=self.obs_shape, obs_dtype=self.obs_dtype,
                           action_shape=(), action_dtype=np.int64, num_envs=cfg.num_envs, n_step=cfg.n_step,
                           gamma=cfg.gamma, frame_stack=frame_stack, seed=cfg.seed)
        if cfg.prioritized:
            self.buffer = PrioritizedReplayBuffer(**buffer_args, alpha=cfg.prioritized_alpha,
                                                  eps=cfg.prioritized_eps)
        else:
            self.buffer = ReplayBuffer(**buffer_args)

        # Schedules are functions of the step counter, so they need no saved state.
        if cfg.exploration_schedule == "exponential":
            self.epsilon = ExponentialSchedule(cfg.exploration_initial_eps, cfg.exploration_final_eps,
                                               cfg.exploration_decay_steps)
        else:
            self.epsilon = LinearSchedule(cfg.exploration_initial_eps, cfg.exploration_final_eps,
                                          cfg.exploration_fraction * cfg.total_steps)
        self.beta = LinearSchedule(cfg.prioritized_beta, 1.0, cfg.total_steps)
        lr_end = cfg.learning_rate if cfg.learning_rate_final is None else cfg.learning_rate_final
        self.lr = LinearSchedule(cfg.learning_rate, lr_end, cfg.total_steps)
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED]))
        # pinned host memory + non_blocking copies only make sense for a CUDA device
        self._pin = self.device.type == "cuda"

        # Counters; losses are summed on the device and read once per log interval.
        self.global_step = 0        # env steps (transitions) so far
        self.num_updates = 0        # gradient steps so far
        self.meters = DeviceMeans(self.device, ("losses/td_loss", "losses/q_values"))

    # ---- acting ------------------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Actions ``(B,)`` int64 for observations ``(B, *obs_shape)``: greedy, or epsilon-greedy at the
        current epsilon when ``deterministic`` is false."""
        if isinstance(obs, torch.Tensor):
            if obs.shape[1:] != self.obs_shape:
                raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs.shape)}")
            greedy = self._q(obs.to(self.device)).argmax(dim=1).cpu().numpy()
        else:
            obs = np.asarray(obs)
            if obs.shape[1:] != self.obs_shape:
                raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs.shape)}")
            greedy = self._greedy(obs)
        if deterministic:
            return greedy
        eps = self.epsilon(self.global_step)
        explore = self.rng.random(len(greedy)) < eps
        return np.where(explore, self.rng.integers(self.n_actions, size=len(greedy)), greedy)

    def _greedy(self, obs: np.ndarray) -> np.ndarray:
        """``argmax_a Q(obs, a)`` ``(B,)`` int64 for host observations ``(B, *obs_shape)``."""
        if self._numpy_q is not None and len(obs) <= NumpyLinearStack.MAX_ROWS:
            return self._numpy_q(obs.reshape(len(obs), -1)).argmax(axis=1)
        with torch.no_grad():
            return self._q(torch.from_numpy(np.ascontiguousarray(obs)).to(self.device)).argmax(dim=1).cpu().numpy()

    def _explore(self, obs: np.ndarray, eps: float) -> np.ndarray:
        """Epsilon-greedy actions for the training envs; the Q-network runs only if some env exploits."""
        n = len(obs)
        explore = self.rng.random(n) < eps
        if explore.all():
            return self.rng.integers(self.n_actions, size=n)
        actions = self._greedy(obs)
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
                tensors = (batch.obs, batch.action, batch.reward, batch.discount, batch.next_obs, q_target_next)
                steps = [tensors] if k == 1 else zip(*(t.split(cfg.batch_size) for t in tensors), strict=True)
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
            self.meters.add("losses/td_loss", torch.stack(losses).sum(), len(losses))
            self.meters.add("losses/q_values", torch.cat(q_values).sum() / cfg.batch_size, len(losses))

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
        with TrainLoop(self, steps, log_interval=cfg.log_interval, logger=logger, progress=progress,
                       callback=callback, callback_interval=callback_interval) as loop:
            while loop.running:
                prev = self.global_step
                actions = self._explore(self.runner.obs, self.epsilon(prev))
                t = self.runner.step(actions)
                # Autoreset is off: next_obs holds the true final observation of every finished episode.
                self.buffer.add(t.obs, t.action, np.sign(t.reward) if cfg.clip_rewards else t.reward, t.next_obs,
                                t.terminated, t.truncated)
                self.global_step = step = prev + cfg.num_envs
                if step > cfg.learning_starts and cfg.gradient_steps > 0 and crossed(prev, step, cfg.train_freq):
                    if len(self.buffer) >= cfg.batch_size:
                        self._train_phase(cfg.gradient_steps)
                if crossed(prev, step, cfg.target_update_interval):
                    self._update_target()
                loop.record(prev, step, t.episodes)
        return self

    def interval_metrics(self, step: int) -> dict[str, float]:
        """Host-side values logged every ``log_interval`` (the losses come from ``meters``)."""
        metrics = {"charts/epsilon": self.epsilon(step)}
        if self.config.prioritized:
            metrics["charts/beta"] = self.beta(step)
        metrics["charts/num_updates"] = self.num_updates
        return metrics

    def progress_text(self, step: int) -> str:
        return f"eps={self.epsilon(step):.3f}"

    # ---- evaluation --------------------------------------------------------------------------------

    # ---- checkpoints -------------------------------------------------------------------------------

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly (see the module docstring); the replay memory's
        ``state_dict`` (a copy of the whole memory) only with ``include_replay`` (``save`` streams it instead)."""
        state = {
            "config": self.config.to_dict(),
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": {"global_step": self.global_step, "num_updates": self.num_updates},
            "meters": self.meters.state_dict(),
            "rng": {"numpy": self.rng.bit_generator.state, "torch": torch_rng_state()},
            "runner": self.runner.state_dict(),
        }
        if include_replay:
            state["buffer"] = self.buffer.state_dict()
        return state

    def load_networks(self, state: dict[str, Any]) -> None:
        """Restores the online and target networks from a checkpoint payload."""
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output into this agent (same env, network and buffer settings)."""
        state = self.upgrade_state(state)
        self.load_networks(state)
        self.optimizer.load_state_dict(state["optimizer"])
        if "buffer" in state:  # else the caller streams it in (see AgentBase.from_checkpoint)
            self.buffer.load_state_dict(state["buffer"])
        c = state["counters"]
        self.global_step, self.num_updates = int(c["global_step"]), int(c["num_updates"])
        self.meters.load_state_dict(state["meters"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        set_torch_rng_state(state["rng"]["torch"])
        self.runner.load_state_dict(state["runner"])


    @classmethod
    def upgrade_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint payload of fastrl 0.1's first DQN layout (env state and episode statistics under
        ``"envs"``/``"counters"``, loss sums as ``"loss_sums"``) in today's layout; others pass unchanged."""
        if "runner" in state or "envs" not in state:
            return state
        c, envs = state["counters"], state["envs"]
        state = dict(state)
        state["runner"] = {**envs, "num_episodes": c["num_episodes"], "recent_returns": c["recent_returns"],
                           "episode_return": c["episode_return"], "episode_length": c["episode_length"]}
        count = int(c["loss_count"])
        state["meters"] = {"names": ["losses/td_loss", "losses/q_values"], "sums": state["loss_sums"],
                           "counts": [count, count]}
        state["counters"] = {"global_step": c["global_step"], "num_updates": c["num_updates"]}
        return state
