"""A short Pong run through the whole pipeline: Atari envs, frame-stack replay, Nature CNN, save/load."""

import numpy as np
import pytest
import torch

from fastrl.agents import DQN, DQNConfig

pytestmark = [pytest.mark.atari, pytest.mark.slow]


def test_pong_smoke(tmp_path):
    cfg = DQNConfig(env_id="PongNoFrameskip-v4", seed=0, total_steps=2000, buffer_size=3000, learning_starts=1000,
                    batch_size=8, train_freq=16, target_update_interval=500, log_interval=500, num_envs=2)
    agent = DQN(cfg)
    assert agent.obs_shape == (4, 84, 84) and agent.obs_dtype == np.uint8
    assert agent.buffer.capacity == 3000
    agent.train(1600)
    assert agent.num_updates == len(range(1008, 1601, 16))  # one update per 16 steps after learning_starts
    batch = agent.buffer.sample(4)
    assert batch.obs.shape == (4, 4, 84, 84) and batch.obs.dtype == np.uint8
    # frames are stacked along axis 0: the newest frame of obs is the second newest of next_obs (no reset)
    same_episode = batch.discount > 0
    np.testing.assert_array_equal(batch.obs[same_episode, 1:], batch.next_obs[same_episode, :3])
    agent.save(tmp_path / "pong.pt")
    resumed = DQN.load(tmp_path / "pong.pt")
    agent.train(400)
    resumed.train(400)
    for x, y in zip(agent.q_net.parameters(), resumed.q_net.parameters(), strict=True):
        assert torch.equal(x, y)
    returns = DQN.load(tmp_path / "pong.pt", inference_only=True).evaluate(1)
    assert -21 <= returns[0] <= 21
