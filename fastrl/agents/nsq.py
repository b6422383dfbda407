"""Asynchronous n-step Q-learning (Mnih et al., 2016; as ChainerRL's NSQ) in one file: config, worker, agent.

``num_workers`` processes share a Q-function, a target Q-function and an optimizer in shared memory
(:mod:`fastrl.agents.hogwild`). Each worker, over and over:

1. copies the shared parameters into its local Q-function;
2. steps its ``num_envs`` envs ``t_max`` times, epsilon-greedy on the local Q-values, with epsilon annealed
   linearly by the GLOBAL step from ``exploration_initial_eps`` to the worker's final epsilon over
   ``exploration_fraction * total_steps`` steps. The final epsilon is ``exploration_final_eps``, or, when that
   is None, drawn once per worker from {0.1, 0.01, 0.5} with probabilities {0.4, 0.3, 0.3} (the paper's
   scheme);
3. computes the n-step targets of the window with ``fastrl.returns.discounted_returns``::

       R_t = r_t + gamma * R_{t+1},   R after the window = max_a Q_target(s_T, a)

   truncation-correct: an episode that terminates inside the window contributes 0 after it, one cut by a
   time limit bootstraps from the target network's max at its true final observation;
4. takes the gradient of the summed Huber loss ``sum_t huber(Q(s_t, a_t) - R_t)`` on the local Q-function,
   clips its global norm to ``max_grad_norm`` and applies it to the shared parameters with the shared RMSprop
   (eps inside the square root) or Adam, the learning rate annealed linearly to ``learning_rate_final`` (0);
5. adds its steps to the global counter; the worker whose steps cross a multiple of ``i_target`` copies the
   shared Q-function into the shared target Q-function.

With ``recurrent=True`` both Q-functions have an LSTM after the torso; each worker carries the memory of
both across rollouts (the target's is rebuilt over each window from where it left off) and resets it at
episode starts. Hogwild updates race by design: see :mod:`fastrl.agents.a3c` for what a resume reproduces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastrl.agents.config import require_int, require_real
from fastrl.agents.hogwild import HogwildAgent, HogwildConfig, HogwildWorker, WorkerLink
from fastrl.agents.loop import crossed
from fastrl.nets import LSTMCore, LSTMState, torso
from fastrl.optim import flatten_parameters
from fastrl.returns import discounted_returns
from fastrl.schedules import LinearSchedule

__all__ = ["NSQConfig", "NSQ", "QFunction", "PRESETS", "FINAL_EPSILONS"]

#: the paper's per-worker final epsilons and their probabilities
FINAL_EPSILONS = ((0.1, 0.4), (0.01, 0.3), (0.5, 0.3))

PRESETS: dict[str, dict[str, Any]] = {
    # 2 workers of 4 envs each, ChainerRL's NSQ settings otherwise (t_max 5, shared RMSprop with eps 0.1
    # inside the square root, annealed to 0, per-worker final epsilons) but a learning rate of 2e-3, a target
    # copy every 1,000 global steps and epsilon annealed over the first 10% of the steps.
    "CartPole-v1": dict(num_workers=2, num_envs=4, total_steps=500_000, learning_rate=2e-3, i_target=1_000),
    # ChainerRL's Atari settings: 16 workers, t_max 5, RMSprop 7e-4 (eps 0.1) annealed to 0, a target copy
    # every 40,000 global steps, epsilon from 1 to the per-worker finals over 1M steps (4M frames), Nature CNN.
    # Set num_workers to the cores you have.
    "atari": dict(num_workers=16, num_envs=1, total_steps=80_000_000, i_target=40_000,
                  exploration_fraction=1_000_000 / 80_000_000, log_interval=100_000),
}

_DEFAULTS: dict[str, Any] = dict(
    total_steps=1_000_000, num_workers=2, num_envs=1, t_max=5, learning_rate=7e-4, learning_rate_final=0.0,
    gamma=0.99, i_target=40_000, exploration_fraction=0.1, exploration_initial_eps=1.0, exploration_final_eps=None,
    max_grad_norm=40.0, optimizer="rmsprop", rms_alpha=0.99, rms_eps=0.1, hidden_sizes=(64, 64), recurrent=False,
    lstm_size=256, eval_interval=0, torch_threads=None, log_interval=10_000, save_replay=False,
    stop_window=10,
)


@dataclass
class NSQConfig(HogwildConfig):
    """Every setting of an :class:`NSQ` run: the asynchronous agents' fields (:class:`HogwildConfig`), the
    target network's and exploration's. Fields left None come from the preset (``preset`` if named, else the
    one of ``env_id``; ``"atari"`` for every Atari id), then from the defaults (``exploration_final_eps``
    stays None: the per-worker draw). Steps are global env steps: every worker's env steps added together.
    ``num_envs`` is envs per worker."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    DEFAULTS: ClassVar[dict[str, Any]] = _DEFAULTS

    i_target: int | None = None
    """global steps between copies of the Q-function into the target Q-function."""
    exploration_fraction: float | None = None
    """fraction of ``total_steps`` over which epsilon falls from the initial to the final value."""
    exploration_initial_eps: float | None = None
    """epsilon at step 0."""
    exploration_final_eps: float | None = None
    """every worker's final epsilon (None: each worker draws one from {0.1, 0.01, 0.5}, p {0.4, 0.3, 0.3})."""

    def validate(self) -> None:
        super().validate()
        require_int(self, "i_target", 1)
        require_real(self, "exploration_fraction", 0, 1)
        require_real(self, "exploration_initial_eps", 0, 1)
        require_real(self, "exploration_final_eps", 0, 1, optional=True)


class QFunction(nn.Module):
    """Q-values ``(B, n_actions)`` from observations: a torso (MLP, or the Nature CNN for frames), an optional
    LSTM, a linear head."""

    def __init__(self, obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int] = (64, 64), *,
                 recurrent: bool = False, lstm_size: int = 256) -> None:
        super().__init__()
        self.torso = torso(obs_shape, hidden_sizes)
        features = self.torso.out_dim
        self.lstm = LSTMCore(features, lstm_size) if recurrent else None
        self.head = nn.Linear(lstm_size if recurrent else features, n_actions)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> LSTMState | None:
        """The memory of ``batch`` envs at their episodes' start (None without an LSTM)."""
        return None if self.lstm is None else self.lstm.initial_state(batch, device)

    def policy(self, obs: torch.Tensor, state: LSTMState | None = None, starts: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, LSTMState | None]:
        """One step: ``(q, new memory)``; ``starts`` ``(B,)`` bool empties the memory of envs whose episode
        starts at ``obs``."""
        x = self.torso(obs)
        if self.lstm is not None:
            assert state is not None, "a recurrent network needs its state"
            state = self.lstm(x, state, starts)
            x = state[0]
        return self.head(x), state

    def unroll(self, obs: torch.Tensor, state: LSTMState | None, starts: torch.Tensor
               ) -> tuple[torch.Tensor, LSTMState | None]:
        """A window ``obs`` ``(T, N, *obs_shape)`` from the memory it started with: ``(q (T*N, A), every
        step's memory (h, c), each (T*N, size), or None)``."""
        T, N = obs.shape[:2]
        x = self.torso(obs.reshape(T * N, *obs.shape[2:]))
        if self.lstm is None:
            return self.head(x), None
        assert state is not None, "a recurrent network needs its state"
        hs, cs = self.lstm.unroll(x.reshape(T, N, -1), state, starts)
        hs, cs = hs.reshape(T * N, -1), cs.reshape(T * N, -1)
        return self.head(hs), (hs, cs)

    def next_q(self, next_obs: torch.Tensor, memory: LSTMState | None) -> torch.Tensor:
        """Q-values of ``next_obs`` ``(T*N, *obs_shape)``, each with the memory after its step (from
        :meth:`unroll`)."""
        x = self.torso(next_obs)
        if self.lstm is not None:
            assert memory is not None
            x = self.lstm.cell(x, memory)[0]
        return self.head(x)


class _Worker(HogwildWorker):
    """One worker process (envs, local Q-function, rollout arrays), its epsilon schedule and the target
    network's memory: steps 1-5 of the module docstring."""

    def __init__(self, agent: NSQ, worker_id: int, start_step: int) -> None:
        super().__init__(agent, worker_id, start_step)
        cfg = self.config
        final = cfg.exploration_final_eps
        if final is None:
            values, probs = zip(*FINAL_EPSILONS, strict=True)
            final = float(self.rng.choice(values, p=probs))
        self.epsilon = LinearSchedule(cfg.exploration_initial_eps, final,
                                      cfg.exploration_fraction * cfg.total_steps)
        self.target_memory = self.local.initial_state(cfg.num_envs)

    def _epsilon_greedy(self, q: torch.Tensor, eps: float) -> np.ndarray:
        action = q.argmax(dim=1).numpy()
        explore = self.rng.random(len(action)) < eps
        if explore.any():
            action[explore] = self.rng.integers(q.shape[1], size=int(explore.sum()))
        return action

    def rollout(self, link: WorkerLink) -> None:
        cfg, agent = self.config, self.agent
        T, N = cfg.t_max, cfg.num_envs
        eps = self.epsilon(link.global_step)
        target_memory0 = self.target_memory
        memory0, before = self.collect(link, lambda q: self._epsilon_greedy(q, eps))
        obs, starts = torch.from_numpy(self.obs), torch.from_numpy(self.starts[:T])
        with torch.no_grad():
            _, target_steps = agent.target_net.unroll(obs, target_memory0, starts)
            next_q = agent.target_net.next_q(torch.from_numpy(self.next_obs).reshape(T * N, *obs.shape[2:]),
                                             target_steps)
            if target_steps is not None:  # the target's memory after the window's last step
                self.target_memory = (target_steps[0][-N:], target_steps[1][-N:])
            targets = self._targets(next_q.max(dim=1).values)
        q, _ = self.local.unroll(obs, memory0, starts)
        q_taken = q.gather(1, torch.from_numpy(self.actions.reshape(-1, 1))).squeeze(1)
        loss = F.huber_loss(q_taken, torch.from_numpy(targets.reshape(-1)), reduction="sum")
        self.grad.zero_()
        loss.backward()
        norm = self.apply(before)
        if crossed(before, before + T * N, cfg.i_target):
            agent.target_params.copy_(agent.optimizer.params)
        link.add("losses/td_loss", float(loss.detach()) / (T * N))
        link.add("losses/q_values", float(q_taken.detach().mean()))
        link.add("losses/grad_norm", float(norm))

    def _targets(self, next_max: torch.Tensor) -> np.ndarray:
        """The window's n-step targets ``(T, N)`` from ``max_a Q_target`` of each step's true next state
        ``(T * N,)`` (read where the window ends or an episode was truncated)."""
        T, N = self.rewards.shape
        return discounted_returns(self.rewards, self.terminated, self.truncated,
                                  next_max.numpy().reshape(T, N).astype(np.float32), self.config.gamma)


class NSQ(HogwildAgent):
    """An asynchronous n-step Q-learning agent: the shared Q-function, target Q-function and optimizer, the
    global step counter and the worker processes.

    ``agent.train(steps)`` runs ``steps`` more global env steps on the workers; ``agent.act(obs)`` picks
    greedy actions; ``agent.save(path)`` / ``NSQ.load(path)`` checkpoint and resume (networks, optimizer
    statistics, counters); ``agent.close()`` stops the workers.
    """

    KIND = "nsq"
    CONFIG: ClassVar[type] = NSQConfig
    WORKER: ClassVar[type] = _Worker
    METERS = ("losses/td_loss", "losses/q_values", "losses/grad_norm")

    def __init__(self, config: NSQConfig | None = None, **overrides: Any) -> None:
        self._init_hogwild(config, overrides)
        self.target_net = self.build_network()
        self.target_params = flatten_parameters(self.target_net).share_memory_()
        self.target_params.copy_(self.optimizer.params)
        self.target_net.requires_grad_(False)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 0x5E0]))

    def build_network(self) -> QFunction:
        """A fresh Q-function of this agent's architecture."""
        cfg = self.config
        return QFunction(self.obs_shape, self.n_actions, cfg.hidden_sizes, recurrent=cfg.recurrent,
                         lstm_size=cfg.lstm_size)

    def _explore(self, q: torch.Tensor) -> np.ndarray:
        """Epsilon-greedy actions at epsilon 0.05 (``act(obs, deterministic=False)``)."""
        greedy = q.argmax(dim=1).numpy()
        explore = self.rng.random(len(greedy)) < 0.05
        return np.where(explore, self.rng.integers(self.n_actions, size=len(greedy)), greedy)

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """:meth:`HogwildAgent.state_dict` and the shared target Q-function."""
        return {**super().state_dict(include_replay), "target_net": self.target_net.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output; running workers see it at their next rollout."""
        super().load_state_dict(state)
        self.target_net.load_state_dict(state["target_net"])
