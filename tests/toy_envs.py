"""Small gymnasium envs registered for tests (imported by the tests that use them)."""

import gymnasium as gym
import numpy as np


class PointEnv(gym.Env):
    """A point in R^dim that moves by its action (a Box in [-1, 1]^dim, scaled by 0.1); reward -|x|^2.

    Reset draws x uniformly in [-1, 1]^dim from the env's seed. It terminates when |x| < ``goal`` (if goal > 0);
    the time limit (truncation) comes from the registration. Deterministic given its reset seed and actions.
    """

    def __init__(self, dim: int = 3, goal: float = 0.0):
        self.dim = dim
        self.goal = goal
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (dim,), np.float32)
        self.x = np.zeros(dim, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, self.dim).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        action = np.clip(np.asarray(action, np.float32), -1, 1)
        self.x = (self.x + 0.1 * action).astype(np.float32)
        dist2 = float(np.sum(self.x.astype(np.float64) ** 2))
        terminated = bool(self.goal > 0 and dist2 < self.goal**2)
        return self.x.copy(), -dist2, terminated, False, {}


gym.register("FastrlTestPoint-v0", entry_point=PointEnv, max_episode_steps=20)
gym.register("FastrlTestPointGoal-v0", entry_point=lambda: PointEnv(dim=2, goal=0.3), max_episode_steps=30)


class MultiDiscreteEnv(gym.Env):
    """One-step episodes with a MultiDiscrete action space (neither Discrete nor Box)."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, True, False, {}


gym.register("FastrlTestMultiDiscrete-v0", entry_point=MultiDiscreteEnv)


class CountEnv(gym.Env):
    """obs = [t, episode id]; reward 1 + t; Discrete(2) actions; terminates when t == terminate_at (the time
    limit comes from the registration). A truncation's next observation is [limit, id], a reset's [0, new id]."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, terminate_at=10**9):
        self.terminate_at = terminate_at
        self.t = 0
        self.episode = 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.episode = float(self.np_random.integers(1, 10**6))
        return np.array([0, self.episode], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.t, self.episode], np.float32)
        return obs, float(self.t), self.t == self.terminate_at, False, {}


gym.register("FastrlTestCountTrunc-v0", entry_point=CountEnv, max_episode_steps=3)
gym.register("FastrlTestCountTerm-v0", entry_point=lambda: CountEnv(terminate_at=2), max_episode_steps=50)
