"""A2C: presets, acting, episode ends in the rollout, exact resume, learning."""

import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401  (registers the test envs)

from fastrl.agents import A2C, A2CConfig


def _small(**kw):
    base = dict(env_id="CartPole-v1", num_envs=4, n_steps=5, hidden_sizes=(16,), total_steps=10_000,
                log_interval=1000)
    base.update(kw)
    return A2C(**base)


def test_presets_and_bad_values():
    cfg = A2CConfig(env_id="CartPole-v1")
    assert (cfg.num_envs, cfg.n_steps, cfg.total_steps, cfg.learning_rate, cfg.optimizer) == (
        8, 5, 500_000, 7e-4, "rmsprop")
    assert (cfg.gae_lambda, cfg.vf_coef, cfg.max_grad_norm, cfg.rms_eps) == (1.0, 0.5, 0.5, 1e-5)
    for bad in (dict(n_steps=0), dict(optimizer="sgd"), dict(gae_lambda=2.0), dict(ent_coef=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            A2CConfig(**bad)
    with pytest.raises(ValueError, match="Discrete"):
        A2C(env_id="Pendulum-v1")


def test_act():
    agent = _small(seed=1)
    obs = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    logits, _, _ = agent.net(torch.from_numpy(obs))
    np.testing.assert_array_equal(agent.act(obs), logits.argmax(1).numpy())
    sampled = agent.act(obs, deterministic=False)
    assert sampled.shape == (9,) and set(sampled.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="obs"):
        agent.act(np.zeros((2, 3), np.float32))


def test_rollouts_bootstrap_from_true_final_observations():
    agent = _small(env_id="FastrlTestCountTrunc-v0", seed=2)
    seen = []
    update = agent._update

    def spy(obs, actions, rewards, next_obs, terminated, truncated):
        seen.append((obs.copy(), next_obs.copy(), terminated.copy(), truncated.copy()))
        update(obs, actions, rewards, next_obs, terminated, truncated)

    agent._update = spy
    agent.train(200)
    assert len(seen) == 200 // 20 and agent.num_updates == 10
    for obs, next_obs, term, trunc in seen:
        # next_obs is the step after obs in the same episode, also at the time limit (never [0, new id])
        np.testing.assert_array_equal(next_obs[..., 0], obs[..., 0] + 1)
        np.testing.assert_array_equal(next_obs[..., 1], obs[..., 1])
        np.testing.assert_array_equal(trunc, next_obs[..., 0] == 3)
        assert not term.any()


def test_save_load_resume_is_bit_exact(tmp_path):
    straight = _small(seed=3).train(2000)
    half = _small(seed=3).train(1000)
    half.save(tmp_path / "a2c.pt")
    half.train(100)
    resumed = A2C.load(tmp_path / "a2c.pt")
    assert resumed.global_step == 1000
    resumed.train(1000)
    for x, y in zip(straight.net.parameters(), resumed.net.parameters(), strict=True):
        assert torch.equal(x, y)
    assert (straight.num_updates, straight.num_episodes) == (resumed.num_updates, resumed.num_episodes)
    np.testing.assert_array_equal(straight.runner.obs, resumed.runner.obs)


@pytest.mark.slow
def test_learns_cartpole():
    # A random policy scores about 22; the preset, cut to 80K steps, is far above it (seed fixed).
    agent = A2C(env_id="CartPole-v1", seed=0, total_steps=80_000)
    agent.train()
    assert agent.evaluate(10).mean() > 60


@pytest.mark.parametrize("ent_coef", [0.0, 0.01])
def test_hand_written_gradient_equals_autograd(ent_coef):
    hand = _small(seed=6, ent_coef=ent_coef)
    auto = _small(seed=6, ent_coef=ent_coef)
    auto._hand_grad = False
    assert hand._hand_grad
    rng = np.random.default_rng(0)
    T, N = 5, 4
    args = (rng.normal(size=(T, N, 4)).astype(np.float32), rng.integers(0, 2, (T, N)), rng.normal(size=(T, N)),
            rng.normal(size=(T, N, 4)).astype(np.float32), rng.random((T, N)) < 0.2, rng.random((T, N)) < 0.2)
    hand.config.max_grad_norm = auto.config.max_grad_norm = float("inf")  # compare raw gradients
    hand._update(*args)
    auto._update(*args)
    torch.testing.assert_close(hand.optimizer.grad, auto.optimizer.grad, rtol=1e-5, atol=1e-7)
    assert hand.optimizer.grad.abs().sum() > 0
