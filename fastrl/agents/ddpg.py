"""DDPG (Lillicrap et al., 2016) in one file that reads top to bottom: config, networks, loss, loop.

A deterministic actor ``mu(s)`` (tanh scaled to the action box) and a critic ``Q(s, a)``, each with a
Polyak-averaged target copy. For a sampled transition ``(s, a, r, s', discount)``::

    y = r + discount * Q_target(s', mu_target(s'))                     critic target
    critic loss = mean((Q(s, a) - y)**2)                               (summed over critics, for TD3)
    actor loss  = -mean(Q_1(s, mu(s)))                                 (deterministic policy gradient)
    theta_target <- (1 - tau) * theta_target + tau * theta             after each actor update

where the replay memory gives ``r = sum_{i<k} gamma^i r_{t+i}`` and ``discount = gamma^k``, or 0 when the
episode terminated within the k steps. Pendulum never terminates: each episode is truncated at 200 steps,
``discount`` stays ``gamma^k`` there and the target bootstraps from the true final observation (the shared
env runner, :mod:`fastrl.agents.runner`, never hands over a reset observation as ``s'``).

Exploration adds Gaussian or Ornstein-Uhlenbeck noise to ``mu(s)`` in action units, as a fraction of the
box's half-width (SB3's convention), and clips to the box; before ``learning_starts`` actions are uniform.
TD3 (:mod:`fastrl.agents.td3`) is this agent with two critics, target policy smoothing and delayed actor
updates: the three methods it overrides are marked below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from fastrl.agents.base import AgentBase, check_run_fits, resolve_config, torch_device
from fastrl.agents.config import AgentConfig, require, require_int, require_real
from fastrl.agents.loop import DeviceMeans, TrainLoop, crossed
from fastrl.agents.runner import EnvRunner
from fastrl.checkpoint import set_torch_rng_state, torch_rng_state
from fastrl.losses import critic_mse_backward, dpg_actor_backward
from fastrl.nets import Actor, Critics
from fastrl.optim import FlatAdam, flatten_parameters
from fastrl.replay import ReplayBuffer

__all__ = ["DDPGConfig", "DDPG", "PRESETS", "actor_step", "critic_step"]

# rl-zoo's tuned settings for SB3's DDPG (and TD3: they are the same on these tasks), SB3's defaults elsewhere.
_ZOO_PENDULUM = dict(total_steps=20_000, gamma=0.98, buffer_size=200_000, learning_starts=10_000,
                     action_noise="normal", action_noise_sigma=0.1, learning_rate=1e-3, hidden_sizes=(400, 300),
                     train_freq=1, gradient_steps=1, batch_size=256, tau=0.005)
_ZOO_MOUNTAIN_CAR = dict(total_steps=300_000, action_noise="ou", action_noise_sigma=0.5, learning_rate=1e-3,
                         hidden_sizes=(400, 300), train_freq=1, gradient_steps=1, batch_size=256)

#: Presets by env id, and ``"paper"``: DDPG as published (Lillicrap et al., 2016, low-dimensional tasks),
#: selected with ``preset="paper"`` (``--preset paper``): 400-300 networks with the action entering the
#: critic's second layer, their initialisation, OU noise (theta 0.15, sigma 0.2), tau 1e-3, replay 1e6,
#: batch 64, Adam 1e-4 (actor) and 1e-3 with L2 1e-2 (critic), gamma 0.99, 300 Pendulum episodes. Unlike some
#: implementations it bootstraps at time limits and scales the tanh output to the action box.
PRESETS: dict[str, dict[str, Any]] = {
    "Pendulum-v1": _ZOO_PENDULUM,
    "MountainCarContinuous-v0": _ZOO_MOUNTAIN_CAR,
    "paper": dict(total_steps=60_000, hidden_sizes=(400, 300), critic_action_layer=1, actor_final_init=3e-3,
                  critic_final_init=3e-4, action_noise="ou", action_noise_sigma=0.2, ou_theta=0.15, ou_dt=1e-2,
                  tau=1e-3, buffer_size=1_000_000, batch_size=64, learning_starts=64, actor_learning_rate=1e-4,
                  critic_learning_rate=1e-3, critic_weight_decay=1e-2, gamma=0.99, train_freq=1,
                  gradient_steps=1),
}

_DEFAULTS: dict[str, Any] = dict(
    total_steps=100_000, num_envs=1, learning_rate=1e-3, critic_weight_decay=0.0, buffer_size=1_000_000,
    learning_starts=100, batch_size=256, tau=0.005, gamma=0.99, train_freq=1, gradient_steps=1,
    action_noise="normal", action_noise_sigma=0.1, ou_theta=0.15, ou_dt=1e-2, hidden_sizes=(400, 300),
    critic_action_layer=0, n_step=1, max_grad_norm=math.inf, torch_threads=1, compile=False, log_interval=1000,
    save_replay=True, stop_window=10,
)


@dataclass
class DDPGConfig(AgentConfig):
    """Every setting of a :class:`DDPG` run. Fields left None come from the preset (``preset`` if named, else
    the one of ``env_id``), then from the defaults. Steps are env steps (transitions), summed over envs."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    DEFAULTS: ClassVar[dict[str, Any]] = _DEFAULTS

    env_id: str = "Pendulum-v1"
    """gymnasium id of the task (a Box action space), made with ``fastrl.make_vec``."""
    learning_rate: float | None = None
    """Adam learning rate of the actor and the critic, unless the two fields below are set."""
    actor_learning_rate: float | None = None
    """Adam learning rate of the actor (None: ``learning_rate``)."""
    critic_learning_rate: float | None = None
    """Adam learning rate of the critic (None: ``learning_rate``)."""
    critic_weight_decay: float | None = None
    """L2 penalty on the critic's parameters (added to its gradient, as torch's Adam)."""
    buffer_size: int | None = None
    """replay capacity in transitions."""
    learning_starts: int | None = None
    """env steps of uniform random actions before the first gradient step."""
    batch_size: int | None = None
    """transitions per gradient step."""
    tau: float | None = None
    """Polyak coefficient of the target networks (1 copies)."""
    gamma: float | None = None
    """discount factor."""
    train_freq: int | None = None
    """env steps between training phases."""
    gradient_steps: int | None = None
    """gradient steps per training phase."""
    action_noise: str | None = None
    """exploration noise: "normal" (Gaussian), "ou" (Ornstein-Uhlenbeck, per env) or "none"."""
    action_noise_sigma: float | None = None
    """noise scale, as a fraction of the action box's half-width."""
    ou_theta: float | None = None
    """OU noise: rate of mean reversion."""
    ou_dt: float | None = None
    """OU noise: time step."""
    hidden_sizes: tuple[int, ...] | None = None
    """hidden layer sizes of the actor and the critic."""
    critic_action_layer: int | None = None
    """where the action enters the critic: 0 with the observation (SB3), 1 at the second layer (the paper)."""
    actor_final_init: float | None = None
    """the actor's last layer drawn from U(-x, x), its others by fan-in (the paper: 3e-3); None: torch's."""
    critic_final_init: float | None = None
    """the same for the critic (the paper: 3e-4 here; 3e-3 in its text)."""
    n_step: int | None = None
    """n of the n-step return assembled by the replay memory."""
    max_grad_norm: float | None = None
    """clip each network's global gradient norm to this (``inf``: no clipping)."""
    compile: bool | None = None
    """``torch.compile`` the actor and critic forward passes (autograd path; slower than the default on CPU)."""

    def validate(self) -> None:
        super().validate()
        for name in ("buffer_size", "batch_size", "train_freq", "n_step"):
            require_int(self, name, 1)
        require_int(self, "learning_starts", 0)
        require_int(self, "gradient_steps", 0)
        require_real(self, "learning_rate", 0, low_open=True)
        require_real(self, "actor_learning_rate", 0, low_open=True, optional=True)
        require_real(self, "critic_learning_rate", 0, low_open=True, optional=True)
        require_real(self, "critic_weight_decay", 0)
        require_real(self, "tau", 0, 1, low_open=True)
        require_real(self, "gamma", 0, 1)
        require(self, "action_noise", self.action_noise in ("normal", "ou", "none"), '"normal", "ou" or "none"')
        require_real(self, "action_noise_sigma", 0)
        require_real(self, "ou_theta", 0)
        require_real(self, "ou_dt", 0, low_open=True)
        require(self, "hidden_sizes", len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0, "positive sizes")
        require(self, "critic_action_layer", self.critic_action_layer in (0, 1), "0 or 1")
        require(self, "critic_action_layer", self.critic_action_layer == 0 or len(self.hidden_sizes) >= 2,
                "0 with fewer than two hidden layers")
        require_real(self, "actor_final_init", 0, low_open=True, optional=True)
        require_real(self, "critic_final_init", 0, low_open=True, optional=True)
        require_real(self, "max_grad_norm", 0, low_open=True)


def critic_step(critics: Critics, optimizer: FlatAdam, obs: torch.Tensor, action: torch.Tensor, y: torch.Tensor,
                weights: torch.Tensor | None = None, *, hand_grad: bool, max_grad_norm: float,
                forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One Adam step of the critics on ``sum_k mean_i w_i (Q_k(s_i, a_i) - y_i)**2`` (``w`` = 1 without
    ``weights``), with the gradient by hand (:func:`fastrl.losses.critic_mse_backward`) or by autograd through
    ``forward`` (default: the critics), clipped to ``max_grad_norm`` (inf: not clipped). Returns the loss and
    the ``(n_critics, B)`` Q-values, detached. Shared by DDPG, TD3 and Ape-X DDPG."""
    if hand_grad:  # the gradients are written over the old ones: no zero_grad
        loss, q = critic_mse_backward(critics, obs, action, y, weights, accumulate=False)
    else:
        optimizer.zero_grad()
        q = (critics if forward is None else forward)(obs, action)      # (n_critics, B)
        squares = (q - y).square() if weights is None else (q - y).square() * weights
        loss = squares.mean(dim=1).sum()                                 # each critic's loss, summed
        loss.backward()
    if not math.isinf(max_grad_norm):
        optimizer.clip_grad_norm_(max_grad_norm)
    optimizer.step()
    return loss.detach(), q.detach()


def actor_step(actor: Actor, critics: Critics, optimizer: FlatAdam, obs: torch.Tensor, *, hand_grad: bool,
               max_grad_norm: float, forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """One Adam step of the actor on the deterministic policy gradient through the first critic,
    ``-mean Q_1(s, mu(s))``, for the actor's parameters only (on the autograd path, through ``forward``, default
    the actor, the critics collect gradients too, zeroed before their next step). Returns the loss, detached."""
    if hand_grad:
        loss = dpg_actor_backward(actor, critics.critics[0], obs, accumulate=False)
    else:
        optimizer.zero_grad()
        loss = -critics.first(obs, (actor if forward is None else forward)(obs)).mean()
        loss.backward()
    if not math.isinf(max_grad_norm):
        optimizer.clip_grad_norm_(max_grad_norm)
    optimizer.step()
    return loss.detach()


class DDPG(AgentBase):
    """A DDPG agent: its envs, replay memory, actor, critic(s), their targets and optimizers, and counters.

    ``agent.train(steps)`` runs ``steps`` more env steps; ``agent.act(obs)`` gives actions in the action box;
    ``agent.save(path)`` / ``DDPG.load(path)`` checkpoint and resume exactly (save after k steps + load +
    train m equals k + m straight through, bit for bit on CPU).
    """

    KIND = "ddpg"
    CONFIG: ClassVar[type] = DDPGConfig
    N_CRITICS = 1

    def __init__(self, config: DDPGConfig | None = None, **overrides: Any) -> None:
        self.config = cfg = resolve_config(self.CONFIG, config, overrides)
        self.device = torch_device(cfg.device, cfg.torch_threads)

        # Envs: the shared runner resets each finished env from its own episode seed.
        self.runner = EnvRunner(cfg.env_id, cfg.num_envs, cfg.seed, cfg.env_kwargs)
        space = self.runner.action_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            self.runner.close()
            raise ValueError(f"env_id {cfg.env_id!r} has a {space} action space; {type(self).__name__} needs a "
                             "one-dimensional Box")
        if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
            self.runner.close()
            raise ValueError(f"env_id {cfg.env_id!r} has an unbounded action box; {type(self).__name__} needs "
                             "finite bounds")
        self.obs_shape, self.act_dim = self.runner.obs_shape, int(space.shape[0])
        obs_dim = int(np.prod(self.obs_shape))
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self._half_width = (self.high - self.low) / 2

        # Networks: actor and critic(s), target copies, one flat parameter buffer and Adam each.
        torch.manual_seed(cfg.seed)

        def actor() -> Actor:
            return Actor(obs_dim, self.act_dim, self.low, self.high, cfg.hidden_sizes, cfg.actor_final_init)

        def critics() -> Critics:
            return Critics(self.N_CRITICS, obs_dim, self.act_dim, cfg.hidden_sizes, cfg.critic_action_layer,
                           cfg.critic_final_init)

        self.actor, self.critic = actor().to(self.device), critics().to(self.device)
        self.actor_target, self.critic_target = actor().to(self.device), critics().to(self.device)
        for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
            target.load_state_dict(net.state_dict())
            target.requires_grad_(False)
        lr = cfg.learning_rate
        self.actor_optimizer = FlatAdam(self.actor, lr=cfg.actor_learning_rate or lr)
        self.critic_optimizer = FlatAdam(self.critic, lr=cfg.critic_learning_rate or lr,
                                         weight_decay=cfg.critic_weight_decay)
        self._actor_target_params = flatten_parameters(self.actor_target)
        self._critic_target_params = flatten_parameters(self.critic_target)
        # forward passes: compiled, or the modules' forward methods called directly (no module-call overhead)
        fwd = torch.compile if cfg.compile else (lambda m: m.forward)
        self._mu, self._mu_target, self._q = fwd(self.actor), fwd(self.actor_target), fwd(self.critic)
        self._scale = torch.as_tensor(self._half_width, device=self.device)
        # MLPs on the CPU get their gradients by hand (fastrl.losses: the same math as autograd, without its
        # graph, which costs a large share of a small network's step); autograd elsewhere.
        self._hand_grad = self.device.type == "cpu" and not cfg.compile and cfg.critic_action_layer == 0

        # Replay memory of float32 actions in action units; n-step returns if asked. A run that cannot fit in
        # memory is refused here, before the memory is allocated.
        try:
            check_run_fits(cfg, self.runner, [self.actor, self.critic, self.actor_target, self.critic_target],
                           action_shape=(self.act_dim,), action_dtype=np.float32, frame_stack=1)
        except MemoryError:
            self.runner.close()
            raise
        self.buffer = ReplayBuffer(cfg.buffer_size, self.obs_shape, self.runner.obs_dtype, action_shape=(self.act_dim,),
                                   action_dtype=np.float32, num_envs=cfg.num_envs, n_step=cfg.n_step,
                                   gamma=cfg.gamma, seed=cfg.seed)
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xDD96]))
        self._ou_state = np.zeros((cfg.num_envs, self.act_dim))  # OU noise of each env's current episode
        self._pin = self.device.type == "cuda"  # pinned host memory + non_blocking copies for a GPU

        self.global_step = 0   # env steps (transitions) so far
        self.num_updates = 0   # critic gradient steps so far
        self.meters = DeviceMeans(self.device, ("losses/critic_loss", "losses/actor_loss", "losses/q_values"))

    # ---- acting ------------------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Actions ``(B, act_dim)`` float32 in the action box for observations ``(B, *obs_shape)``: the actor's,
        plus exploration noise (Gaussian, at ``action_noise_sigma``) when ``deterministic`` is false."""
        obs_t = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(np.asarray(obs, dtype=np.float32))
        if obs_t.shape[1:] != self.obs_shape:
            raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs_t.shape)}")
        mu = self._mu(obs_t.to(self.device)).cpu().numpy()
        if deterministic:
            return mu
        return self._in_box(mu, self.rng.standard_normal(mu.shape) * self.config.action_noise_sigma)

    def _explore(self, obs: np.ndarray) -> np.ndarray:
        """Actions of the training envs: uniform before ``learning_starts``, then the actor plus noise."""
        cfg = self.config
        if self.global_step < cfg.learning_starts:
            return self.rng.uniform(self.low, self.high, (cfg.num_envs, self.act_dim)).astype(np.float32)
        with torch.no_grad():
            mu = self._mu(torch.from_numpy(obs).to(self.device)).cpu().numpy()
        if cfg.action_noise == "none":
            return mu
        if cfg.action_noise == "normal":
            noise = self.rng.standard_normal(mu.shape) * cfg.action_noise_sigma
        else:  # Ornstein-Uhlenbeck: x += theta * (0 - x) * dt + sigma * sqrt(dt) * N(0, 1)
            x = self._ou_state
            x += -cfg.ou_theta * x * cfg.ou_dt + cfg.action_noise_sigma * math.sqrt(cfg.ou_dt) * \
                self.rng.standard_normal(x.shape)
            noise = x
        return self._in_box(mu, noise)

    def _in_box(self, mu: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """``mu`` plus ``noise`` given in half-widths of the box, clipped to the box, as float32."""
        return np.clip(mu + noise * self._half_width, self.low, self.high).astype(np.float32)

    # ---- learning ----------------------------------------------------------------------------------

    def _next_action(self, next_obs: torch.Tensor) -> torch.Tensor:
        """``a' = mu_target(s')``, the action the target bootstraps with. [TD3: smoothed with clipped noise]"""
        return self._mu_target(next_obs)

    def _actor_due(self) -> bool:
        """Whether this critic update is followed by an actor and target update. [TD3: every policy_delay]"""
        return True

    def _update(self, obs, action, reward, discount, next_obs) -> None:
        """One gradient step of the critic(s) and, when due, of the actor plus the target updates."""
        cfg = self.config
        with torch.no_grad():
            # min over critics: DDPG has one; TD3's clipped double Q takes the smaller of two.
            q_next = self.critic_target.min_value(next_obs, self._next_action(next_obs))
            y = reward + discount * q_next
        critic_loss, q = critic_step(self.critic, self.critic_optimizer, obs, action, y, hand_grad=self._hand_grad,
                                     max_grad_norm=cfg.max_grad_norm, forward=self._q)
        self.num_updates += 1
        self.meters.add("losses/critic_loss", critic_loss, 1)
        self.meters.add("losses/q_values", q[0].mean(), 1)
        if not self._actor_due():
            return
        actor_loss = actor_step(self.actor, self.critic, self.actor_optimizer, obs, hand_grad=self._hand_grad,
                                max_grad_norm=cfg.max_grad_norm, forward=self._mu)
        self.meters.add("losses/actor_loss", actor_loss, 1)
        with torch.no_grad():  # Polyak averaging: one fused op per network
            self._actor_target_params.lerp_(self.actor_optimizer.params, cfg.tau)
            self._critic_target_params.lerp_(self.critic_optimizer.params, cfg.tau)

    def _train_phase(self, num_steps: int) -> None:
        cfg = self.config
        for _ in range(num_steps):
            b = self.buffer.sample(cfg.batch_size, as_torch=True, pin_memory=self._pin)
            if self.device.type != "cpu":
                b = b.to(self.device)
            self._update(b.obs, b.action, b.reward, b.discount, b.next_obs)

    # ---- the loop ----------------------------------------------------------------------------------

    def train(self, steps: int | None = None, *, logger: Any = None, progress: bool = False,
              callback: Callable[[Any], None] | None = None, callback_interval: int = 0) -> DDPG:
        """Trains for ``steps`` more env steps (default: up to ``config.total_steps``); returns ``self``.

        ``logger`` gets ``charts/*``, ``losses/*`` and ``perf/sps``; ``progress`` shows a tqdm bar;
        ``callback(agent)`` runs every ``callback_interval`` env steps (e.g. checkpoints).
        """
        cfg = self.config
        with TrainLoop(self, steps, log_interval=cfg.log_interval, logger=logger, progress=progress,
                       callback=callback, callback_interval=callback_interval) as loop:
            while loop.running:
                prev = self.global_step
                t = self.runner.step(self._explore(self.runner.obs))
                # next_obs is the true final observation where an episode ended: truncations bootstrap from it.
                self.buffer.add(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.truncated)
                if cfg.action_noise == "ou":  # each env's noise process starts afresh with its next episode
                    self._ou_state[t.terminated | t.truncated] = 0.0
                self.global_step = step = prev + cfg.num_envs
                if step > cfg.learning_starts and cfg.gradient_steps > 0 and crossed(prev, step, cfg.train_freq):
                    if len(self.buffer) >= cfg.batch_size:
                        self._train_phase(cfg.gradient_steps)
                loop.record(prev, step, t.episodes)
        return self

    def interval_metrics(self, step: int) -> dict[str, float]:
        """Host-side values logged every ``log_interval`` (the losses come from ``meters``)."""
        return {"charts/num_updates": self.num_updates}

    def progress_text(self, step: int) -> str:
        return ""

    # ---- checkpoints -------------------------------------------------------------------------------

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly: networks, optimizers, counters, RNGs, envs, and the replay
        memory's ``state_dict`` (a copy of the whole memory) with ``include_replay`` (``save`` streams it instead)."""
        state = {
            "config": self.config.to_dict(),
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(), "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "counters": {"global_step": self.global_step, "num_updates": self.num_updates},
            "meters": self.meters.state_dict(),
            "noise": {"ou_state": self._ou_state.copy()},
            "rng": {"numpy": self.rng.bit_generator.state, "torch": torch_rng_state()},
            "runner": self.runner.state_dict(),
        }
        if include_replay:
            state["buffer"] = self.buffer.state_dict()
        return state

    def load_networks(self, state: dict[str, Any]) -> None:
        """Restores the actor, critic(s) and their targets from a checkpoint payload."""
        for name in ("actor", "critic", "actor_target", "critic_target"):
            getattr(self, name).load_state_dict(state[name])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output into this agent (same env, network and buffer settings)."""
        self.load_networks(state)
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if "buffer" in state:  # else the caller streams it in (see AgentBase.from_checkpoint)
            self.buffer.load_state_dict(state["buffer"])
        c = state["counters"]
        self.global_step, self.num_updates = int(c["global_step"]), int(c["num_updates"])
        self.meters.load_state_dict(state["meters"])
        self._ou_state = np.array(state["noise"]["ou_state"], dtype=np.float64).reshape(self._ou_state.shape)
        self.rng.bit_generator.state = state["rng"]["numpy"]
        set_torch_rng_state(state["rng"]["torch"])
        self.runner.load_state_dict(state["runner"])

