"""A short Pong run through the whole pipeline: Atari envs, frame-stack replay, Nature CNN, save/load."""

import numpy as np
import pytest
import torch

from fastrl.agents import DQN, DQNConfig

pytestmark = [pytest.mark.atari, pytest.mark.slow]


def test_pong_smoke(tmp_path):
    cfg = DQNConfig(env_id="PongNoFrameskip-v4", seed=0, total_steps=1200, buffer_size=2000, learning_starts=800,
                    batch_size=8, train_freq=32, target_update_interval=200, log_interval=400, num_envs=2)
    agent = DQN(cfg)
    assert agent.obs_shape == (4, 84, 84) and agent.obs_dtype == np.uint8
    assert agent.buffer.capacity == 2000
    agent.train(1000)
    assert agent.num_updates == len(range(832, 1001, 32))  # one update per 32 steps after learning_starts
    batch = agent.buffer.sample(4)
    assert batch.obs.shape == (4, 4, 84, 84) and batch.obs.dtype == np.uint8
    # frames are stacked along axis 0: the newest frames of obs are the older frames of next_obs
    same_episode = batch.discount > 0
    np.testing.assert_array_equal(batch.obs[same_episode, 1:], batch.next_obs[same_episode, :3])
    agent.save(tmp_path / "pong.pt")
    resumed = DQN.load(tmp_path / "pong.pt")  # replays the envs' current games from their seeds
    np.testing.assert_array_equal(resumed.runner.obs, agent.runner.obs)
    agent.train(200)
    resumed.train(200)
    for x, y in zip(agent.q_net.parameters(), resumed.q_net.parameters(), strict=True):
        assert torch.equal(x, y)


def test_runner_counts_whole_games_and_treats_the_step_limit_as_truncation():
    # Breakout with episodic life: a lost life terminates the learning episode while the game goes on; a game
    # over terminates it too; the step limit truncates it. Logged episodes are whole games (or truncated ones).
    from fastrl.agents.runner import EnvRunner

    runner = EnvRunner("ALE/Breakout-v5", 2, seed=3, env_kwargs={"max_episode_steps": 120, "episodic_life": True})
    rng = np.random.default_rng(0)
    life_losses = game_ends = truncations = 0
    logged = []
    for _ in range(700):
        t = runner.step(rng.integers(0, 4, 2))
        lives = t.infos["lives"]
        assert not (t.terminated & t.truncated).any()
        life_losses += int((t.terminated & (lives > 0)).sum())
        game_ends += int((t.terminated & (lives == 0)).sum())
        truncations += int(t.truncated.sum())
        logged += t.episodes
    assert life_losses > 0 and truncations > 0
    # every game over and every truncation ends a logged game; a lost life does not
    assert runner.num_episodes == len(logged) == game_ends + truncations
    assert all(length <= 120 for _, length in logged)
    runner.close()
