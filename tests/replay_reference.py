"""A slow, obviously-correct pure-Python model of fastrl's replay semantics, and a small stream
simulator that produces episodes with terminations, truncations, masks, stream breaks and
frame-stack padding. Tests compare the C++ buffer with this model transition by transition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Step:
    id: int
    env: int
    obs: np.ndarray
    action: np.ndarray
    reward: float  # as stored: float32
    next_obs: np.ndarray
    terminated: bool
    truncated: bool


class ReferenceReplay:
    """Keeps every added transition; derives what must be sampleable from the semantics alone.

    - Transitions get ids 0, 1, 2, ... in add order (envs in order within one add, masked envs
      skipped); the last ``capacity`` ids are alive.
    - Env i's transitions form its stream. Transition t's window runs over t, t+1, ... of its env
      until n_step steps, an episode end (terminated or truncated), or a break: the next transition
      of the env whose obs is not byte-equal to this one's next_obs.
    - A transition is sampleable when alive and its window is closed.
    """

    def __init__(self, capacity: int, n_step: int, gamma: float) -> None:
        self.capacity, self.n_step, self.gamma = capacity, n_step, gamma
        self.steps: list[Step] = []
        self.stream: dict[int, list[int]] = {}

    def add(self, env: int, obs, action, reward, next_obs, terminated, truncated) -> None:
        step = Step(len(self.steps), env, obs.copy(), np.array(action).copy(), float(np.float32(reward)),
                    next_obs.copy(), bool(terminated), bool(truncated))
        self.steps.append(step)
        self.stream.setdefault(env, []).append(step.id)

    def alive(self, i: int) -> bool:
        return i >= len(self.steps) - self.capacity

    def expected(self, i: int):
        """(obs, action, reward, next_obs, discount) of transition i, or None if not sampleable."""
        if not self.alive(i):
            return None
        first = self.steps[i]
        ids = self.stream[first.env]
        pos = ids.index(i)
        acc, k, last = 0.0, 0, first
        terminated = False
        while True:
            step = self.steps[ids[pos + k]]
            acc += (self.gamma ** k) * step.reward
            k += 1
            last = step
            if step.terminated or step.truncated:
                terminated = step.terminated
                break
            if pos + k >= len(ids):
                if k == self.n_step:
                    break
                return None  # window still open
            following = self.steps[ids[pos + k]]
            if following.obs.tobytes() != step.next_obs.tobytes():
                break  # the stream did not continue: closed like a truncation
            if k == self.n_step:
                break
        discount = 0.0 if terminated else self.gamma ** k
        return first.obs, first.action, np.float32(acc), last.next_obs, np.float32(discount)

    def sampleable(self) -> list[int]:
        return [i for i in range(len(self.steps)) if self.expected(i) is not None]


class StreamSimulator:
    """num_envs fake envs with small integer frames (so that coincidental equalities happen).

    Each step, env i: next_obs is its obs shifted by one frame plus a new frame (frame_stack > 1) or a
    fresh random obs; it terminates / truncates with the given probabilities (then resets with a
    random padding style); with probability p_break its next obs is replaced by an unrelated one (a
    stream that does not continue); with probability p_mask it is masked out for the step.
    """

    def __init__(self, rng: np.random.Generator, num_envs: int, obs_shape: tuple[int, ...], frame_stack: int,
                 dtype=np.uint8, p_term=0.1, p_trunc=0.1, p_break=0.05, p_mask=0.1, values=3) -> None:
        self.rng, self.num_envs, self.obs_shape, self.k = rng, num_envs, obs_shape, frame_stack
        self.dtype, self.values = np.dtype(dtype), values
        self.p_term, self.p_trunc, self.p_break, self.p_mask = p_term, p_trunc, p_break, p_mask
        self.cur = np.stack([self._reset() for _ in range(num_envs)])

    def _random(self, shape):
        return self.rng.integers(0, self.values, size=shape).astype(self.dtype)

    def _reset(self) -> np.ndarray:
        obs = self._random(self.obs_shape)
        if self.k > 1:
            style = self.rng.integers(3)
            if style == 0:  # zero padding
                obs[:-1] = 0
            elif style == 1:  # repeat the first frame
                obs[:] = obs[-1]
        return obs

    def step(self):
        """Returns the add() arguments for one step of every env."""
        n = self.num_envs
        obs = self.cur.copy()
        if self.k > 1:
            next_obs = np.concatenate([obs[:, 1:], self._random((n, 1, *self.obs_shape[1:]))], axis=1)
        else:
            next_obs = self._random((n, *self.obs_shape))
        action = self.rng.integers(0, 5, size=n).astype(np.int64)
        reward = self.rng.normal(size=n).astype(np.float32)
        terminated = self.rng.random(n) < self.p_term
        truncated = (self.rng.random(n) < self.p_trunc) & ~terminated
        mask = self.rng.random(n) >= self.p_mask
        for i in range(n):
            if not mask[i]:
                continue  # skipped: the env stays where it is
            if terminated[i] or truncated[i]:
                self.cur[i] = self._reset()
            elif self.rng.random() < self.p_break:
                self.cur[i] = self._reset()
            else:
                self.cur[i] = next_obs[i]
        return obs, action, reward, next_obs, terminated, truncated, mask
