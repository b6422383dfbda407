"""A replay shard: complete n-step transitions with priorities, sampled with rate limiting."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastrl.replay import PrioritizedReplayBuffer

__all__ = ["ReplayShard"]

_FIELDS = ("obs", "action", "reward", "discount", "next_obs")


class ReplayShard:
    """One shard of Ape-X's replay: a :class:`fastrl.PrioritizedReplayBuffer` of complete transitions.

    Actors send n-step transitions already assembled (``reward`` the discounted n-step sum, ``discount``
    ``gamma**k`` or 0 after a termination, ``next_obs`` the bootstrap observation) with their initial
    priorities; the shard stores them through ``add_with_priorities`` (the buffer with ``n_step=1``, and the
    per-transition discount kept beside it, by slot), samples prioritized batches and applies priority
    updates (stale indices, of overwritten transitions, are ignored by the buffer).

    Rate limiting, as Reverb's: :meth:`sample` returns None until the shard holds ``min_size`` transitions,
    and while the transitions sampled so far would exceed ``samples_per_insert`` per transition inserted
    since then (plus one batch of slack); the learner then waits for actors.

    Args:
        capacity: transitions kept.
        obs_shape, obs_dtype, action_shape, action_dtype: one transition's observation and action.
        alpha, eps: prioritization (see :class:`fastrl.PrioritizedReplayBuffer`).
        seed: the buffer's sampling RNG.
        min_size: transitions held before the first sample.
        samples_per_insert: the most transitions sampled per transition inserted (None: unlimited).
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any, action_shape: tuple[int, ...],
                 action_dtype: Any, *, alpha: float = 0.6, eps: float = 1e-6, seed: int = 0, min_size: int = 1,
                 samples_per_insert: float | None = None) -> None:
        self.buffer = PrioritizedReplayBuffer(capacity, tuple(obs_shape), np.dtype(obs_dtype), tuple(action_shape),
                                              np.dtype(action_dtype), num_envs=1, n_step=1, gamma=1.0, seed=seed,
                                              alpha=alpha, eps=eps)
        self.capacity = int(capacity)
        self.discount = np.zeros(capacity, dtype=np.float32)
        self.min_size = int(min_size)
        self.samples_per_insert = samples_per_insert
        self.inserted = 0  # transitions added so far
        self.sampled = 0  # transitions handed out in batches so far
        self._no = np.zeros(1, dtype=bool)

    def add(self, batch: dict[str, np.ndarray], priorities: np.ndarray) -> int:
        """Stores the ``B`` transitions of ``batch`` (arrays with a leading ``B`` axis: ``obs``, ``action``,
        ``reward``, ``discount``, ``next_obs``) with ``priorities`` ``(B,)``; returns the shard's size."""
        obs, action, reward, next_obs = batch["obs"], batch["action"], batch["reward"], batch["next_obs"]
        discount = np.asarray(batch["discount"], dtype=np.float32)
        priorities = np.asarray(priorities, dtype=np.float64)
        for i in range(len(obs)):
            index = self.buffer.add_with_priorities(obs[i:i + 1], action[i:i + 1], reward[i:i + 1],
                                                    next_obs[i:i + 1], self._no, self._no, priorities[i:i + 1])
            self.discount[index[0] % self.capacity] = discount[i]
        self.inserted += len(obs)
        return len(self.buffer)

    def can_sample(self, batch_size: int) -> bool:
        """Whether a batch may be sampled now (see the class docstring)."""
        if len(self.buffer) < max(self.min_size, batch_size):
            return False
        if self.samples_per_insert is None:
            return True
        allowed = self.samples_per_insert * max(self.inserted - self.min_size, 0) + batch_size
        return self.sampled + batch_size <= allowed

    def sample(self, batch_size: int, beta: float) -> dict[str, np.ndarray] | None:
        """A prioritized batch as a dict (the transition fields, ``indices`` and importance ``weights``), or
        None while the rate limiter holds sampling back."""
        if not self.can_sample(batch_size):
            return None
        b = self.buffer.sample(batch_size, beta)
        self.sampled += batch_size
        return {"obs": b.obs, "action": b.action, "reward": b.reward, "next_obs": b.next_obs,
                "discount": self.discount[b.indices % self.capacity], "indices": b.indices, "weights": b.weights}

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """New priorities for sampled transitions (those overwritten since are skipped)."""
        self.buffer.update_priorities(np.asarray(indices, dtype=np.int64), np.asarray(priorities, dtype=np.float64))

    def size(self) -> int:
        return len(self.buffer)

    def stats(self) -> dict[str, int]:
        """``size``, ``inserted`` and ``sampled`` transitions."""
        return {"size": len(self.buffer), "inserted": self.inserted, "sampled": self.sampled}

    def state_dict(self) -> dict[str, Any]:
        """Everything to restore this shard exactly: the buffer's state, the discounts and the counters."""
        return {"buffer": self.buffer.state_dict(), "discount": self.discount.copy(),
                "counters": {"inserted": self.inserted, "sampled": self.sampled}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output (a shard of the same configuration)."""
        self.buffer.load_state_dict(state["buffer"])
        np.copyto(self.discount, state["discount"])
        self.inserted = int(state["counters"]["inserted"])
        self.sampled = int(state["counters"]["sampled"])
