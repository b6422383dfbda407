"""DQN: config presets, episode ends, TD targets, exact save/load/resume, learning."""

from pathlib import Path

import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401  (registers the test envs, FastrlTestCountTrunc-v0 and -Term-v0 among them)

from fastrl.agents import DQN, DQNConfig
from fastrl.agents.dqn import PRESETS


def _tiny(**kw):
    base = dict(total_steps=2000, learning_starts=10**6, buffer_size=1000, batch_size=16, hidden_sizes=(8,),
                gamma=0.5, log_interval=10**6)
    base.update(kw)
    return DQNConfig(**base)


# ---- config --------------------------------------------------------------------------------------


def test_presets_and_overrides():
    cfg = DQNConfig(env_id="CartPole-v1")
    for name, value in PRESETS["CartPole-v1"].items():
        assert getattr(cfg, name) == value, name
    cfg = DQNConfig(env_id="CartPole-v1", learning_rate=1e-3, batch_size=32)
    assert cfg.learning_rate == 1e-3 and cfg.batch_size == 32 and cfg.train_freq == 256
    atari = DQNConfig(env_id="PongNoFrameskip-v4")
    assert atari.buffer_size == 1_000_000 and atari.learning_rate == 1e-4 and atari.clip_rewards
    assert DQNConfig(env_id="ALE/Breakout-v5").train_freq == 4
    # every spelling ale-py registers is Atari, by the vector layer's one definition
    for env_id in ("Pong-v4", "Pong-v0", "ALE/Pong-v5", "SpaceInvaders-v4", "BreakoutNoFrameskip-v4"):
        cfg = DQNConfig(env_id=env_id)
        assert cfg.buffer_size == 1_000_000 and cfg.clip_rewards, env_id
    other = DQNConfig(env_id="Acrobot-v1")
    assert other.n_step == 1 and other.double is False and other.hidden_sizes == (256, 256)
    rebuilt = DQNConfig(**cfg.to_dict())
    assert rebuilt == cfg


@pytest.mark.parametrize("bad", [dict(learning_rate=0), dict(gamma=1.5), dict(tau=0), dict(batch_size=0),
                                 dict(num_envs=0), dict(exploration_fraction=2.0), dict(hidden_sizes=()),
                                 dict(n_step=0), dict(env_id="")])
def test_config_rejects_bad_values(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name if name != "env_id" else "env_id"):
        DQNConfig(**{"env_id": "CartPole-v1", **bad})


def test_rejects_continuous_actions():
    with pytest.raises(ValueError, match="Discrete"):
        DQN(DQNConfig(env_id="Pendulum-v1", buffer_size=100))


# ---- episode ends --------------------------------------------------------------------------------


class _Transitions:
    def __init__(self, batches):
        for name in ("obs", "action", "reward", "next_obs", "discount"):
            setattr(self, name, np.concatenate([getattr(b, name) for b in batches]))


def _all_transitions(agent):
    n = len(agent.buffer)
    return _Transitions([agent.buffer.sample(n) for _ in range(6)])  # many draws cover every transition


def test_truncation_stores_the_true_final_observation():
    agent = DQN(_tiny(env_id="FastrlTestCountTrunc-v0", num_envs=2, seed=1))
    agent.train(40)
    b = _all_transitions(agent)
    # next_obs is always the step after obs in the same episode, never a reset observation ([0, new id])
    np.testing.assert_array_equal(b.next_obs[:, 0], b.obs[:, 0] + 1)
    np.testing.assert_array_equal(b.next_obs[:, 1], b.obs[:, 1])
    assert (b.next_obs[:, 0] == 3).any()  # truncated transitions are there, ending in the final obs
    # truncation bootstraps: discount is gamma everywhere
    np.testing.assert_allclose(b.discount, 0.5)
    np.testing.assert_allclose(b.reward, b.next_obs[:, 0])
    assert agent.num_episodes == 2 * (20 // 3)  # 20 steps per env, truncated every 3


def test_termination_cuts_the_bootstrap_and_nstep_stops_there():
    agent = DQN(_tiny(env_id="FastrlTestCountTerm-v0", num_envs=1, seed=2, n_step=3))
    agent.train(30)
    b = _all_transitions(agent)
    first = b.obs[:, 0] == 0
    second = b.obs[:, 0] == 1
    assert first.any() and second.any() and not (b.obs[:, 0] >= 2).any()
    # from t=0: rewards 1 + 0.5 * 2, terminated at t=2 -> discount 0, next_obs the terminal obs
    np.testing.assert_allclose(b.reward[first], 1 + 0.5 * 2)
    np.testing.assert_allclose(b.discount[first], 0.0)
    np.testing.assert_allclose(b.reward[second], 2.0)
    np.testing.assert_allclose(b.discount[second], 0.0)
    np.testing.assert_array_equal(b.next_obs[:, 0], 2)
    np.testing.assert_array_equal(b.next_obs[:, 1], b.obs[:, 1])


@pytest.mark.parametrize("double", [False, True])
def test_td_target_uses_discount_and_target_network(double):
    agent = DQN(_tiny(env_id="CartPole-v1", double=double, seed=3))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in agent.target_net.parameters():
            p.add_(torch.randn_like(p))  # make target and online networks differ
    next_obs = torch.randn(4, 4)
    reward = torch.tensor([1.0, 2.0, 3.0, 4.0])
    discount = torch.tensor([0.0, 0.5, 0.25, 0.0])  # terminated, bootstrapped, bootstrapped, terminated
    q_t = agent.target_net(next_obs).detach()
    if double:
        expected_next = q_t.gather(1, agent.q_net(next_obs).argmax(1, keepdim=True)).squeeze(1)
    else:
        expected_next = q_t.max(1).values
    q_next = agent._bootstrap(next_obs, q_t)
    torch.testing.assert_close(q_next, expected_next)
    y = agent._td_target(reward, discount, next_obs, q_t)
    torch.testing.assert_close(y, reward + discount * expected_next)
    assert y[0] == 1.0 and y[3] == 4.0  # no bootstrap where the episode terminated
    obs, action = torch.randn(4, 4), torch.tensor([0, 1, 1, 0])
    q_sa = agent.q_net(obs).gather(1, action[:, None]).squeeze(1)
    loss, q = agent._td_loss(obs, action, y)
    torch.testing.assert_close(q, q_sa)
    torch.testing.assert_close(loss, torch.nn.functional.smooth_l1_loss(q_sa, y))
    weights = torch.tensor([0.5, 1.0, 2.0, 0.0])
    loss, _ = agent._td_loss(obs, action, y, weights)
    torch.testing.assert_close(loss, (torch.nn.functional.smooth_l1_loss(q_sa, y, reduction="none") * weights).mean())


@pytest.mark.parametrize("variant", [dict(), dict(prioritized=True, double=True, n_step=2)])
def test_hand_written_gradient_trains_like_autograd(variant):
    # The MLP agent on CPU computes the TD gradient by hand; the autograd path must give the same run.
    kw = dict(env_id="CartPole-v1", seed=9, learning_starts=200, train_freq=8, gradient_steps=2, batch_size=32,
              target_update_interval=50, hidden_sizes=(64, 64), total_steps=1000, **variant)
    hand = DQN(_tiny(**kw))
    assert hand._hand_grad
    reference = DQN(_tiny(**kw))
    reference._hand_grad = False
    hand.train(600)
    reference.train(600)
    assert hand.num_updates > 0
    _assert_same_agent(hand, reference)


# ---- acting --------------------------------------------------------------------------------------


def test_act_greedy_matches_q_net():
    agent = DQN(_tiny(env_id="CartPole-v1", seed=4))
    obs = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    expected = agent.q_net(torch.from_numpy(obs)).argmax(1).numpy()
    np.testing.assert_array_equal(agent.act(obs), expected)
    assert agent.act(obs, deterministic=False).shape == (7,)
    with pytest.raises(ValueError, match="obs"):
        agent.act(np.zeros((2, 5), np.float32))


# ---- save / load / resume ------------------------------------------------------------------------


def _assert_same_agent(a, b, recent=None):
    for (name, x), (_, y) in zip(a.q_net.state_dict().items(), b.q_net.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    for (name, x), (_, y) in zip(a.target_net.state_dict().items(), b.target_net.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    assert (a.global_step, a.num_updates, a.num_episodes) == (b.global_step, b.num_updates, b.num_episodes)
    np.testing.assert_array_equal(a.runner.obs, b.runner.obs)
    n = recent or max(len(a.recent_returns), len(b.recent_returns))
    assert list(a.recent_returns)[-n:] == list(b.recent_returns)[-n:]


@pytest.mark.parametrize("variant", [
    dict(),
    dict(num_envs=3, n_step=3, prioritized=True, double=True, dueling=True, tau=0.1),
])
def test_save_load_resume_is_bit_exact(tmp_path, variant):
    kw = dict(env_id="CartPole-v1", seed=5, learning_starts=300, train_freq=16, gradient_steps=4, batch_size=32,
              target_update_interval=100, hidden_sizes=(32, 32), total_steps=3000, log_interval=500,
              buffer_size=5000, **variant)
    straight = DQN(DQNConfig(**kw)).train(2400)
    half = DQN(DQNConfig(**kw)).train(1200)
    half.save(tmp_path / "ckpt.pt")
    half.train(300)  # the original keeps going: the checkpoint must not share state with it
    resumed = DQN.load(tmp_path / "ckpt.pt")
    assert resumed.global_step == 1200
    resumed.train(1200)
    _assert_same_agent(straight, resumed)
    batch_a, batch_b = straight.buffer.sample(64), resumed.buffer.sample(64)
    np.testing.assert_array_equal(batch_a.obs, batch_b.obs)


def test_load_inference_only_and_device_override(tmp_path):
    agent = DQN(_tiny(env_id="CartPole-v1", seed=6, learning_starts=100, train_freq=8)).train(400)
    agent.save(tmp_path / "a.pt")
    light = DQN.load(tmp_path / "a.pt", inference_only=True, device="cpu")
    assert light.buffer.capacity == light.config.batch_size and light.global_step == 400
    obs = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(light.act(obs), agent.act(obs))


def test_evaluate_returns_one_value_per_episode():
    agent = DQN(_tiny(env_id="CartPole-v1", seed=7))
    returns = agent.evaluate(5, max_envs=2)
    assert returns.shape == (5,) and (returns >= 1).all() and (returns <= 500).all()
    with pytest.raises(ValueError, match="episodes"):
        agent.evaluate(0)


# ---- learning ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_learns_cartpole_with_its_preset():
    # A random policy scores about 22. The CartPole preset, shortened to 12K steps (so its 16% exploration
    # phase is ~2K steps), reaches a greedy return far above that; the seed is fixed.
    agent = DQN(DQNConfig(env_id="CartPole-v1", seed=0, total_steps=12_000))
    agent.train()
    returns = agent.evaluate(10)
    assert returns.mean() > 100, returns


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda():
    agent = DQN(_tiny(env_id="CartPole-v1", seed=8, device="cuda", learning_starts=200, train_freq=4))
    agent.train(600)
    assert agent.num_updates > 0
    assert next(agent.q_net.parameters()).is_cuda
    assert agent.act(np.zeros((2, 4), np.float32)).shape == (2,)


def test_loads_a_checkpoint_of_the_first_layout():
    # Written by fastrl 0.1 before the agent machinery was shared (env state under "envs", loss sums apart).
    legacy = DQN.load(Path(__file__).parent / "data" / "dqn_v0_cartpole.pt")
    assert legacy.global_step == 300
    fresh = DQN(DQNConfig(**legacy.config.to_dict())).train(300)
    _assert_same_agent(legacy, fresh, recent=20)  # that layout kept the last 20 returns, today's runner 100
    legacy.train(300)
    fresh.train(300)
    assert legacy.num_updates > 0
    _assert_same_agent(legacy, fresh, recent=20)


def test_checkpoints_cost_what_the_replay_memory_holds(tmp_path):
    # 1M slots, 300 transitions held: the file holds those, not the capacity (16 MB of CartPole observations)
    agent = DQN(_tiny(env_id="CartPole-v1", seed=12, buffer_size=1_000_000, learning_starts=100, train_freq=8))
    agent.train(300)
    path = agent.save(tmp_path / "a.pt")
    assert path.stat().st_size < 500_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]
    resumed = DQN.load(path)
    assert len(resumed.buffer) == len(agent.buffer)
    agent.train(200)
    resumed.train(200)
    _assert_same_agent(agent, resumed)


def test_checkpoint_without_the_replay_memory(tmp_path):
    agent = DQN(_tiny(env_id="CartPole-v1", seed=13, save_replay=False, learning_starts=100, train_freq=8))
    agent.train(300)
    with_memory = DQN(_tiny(env_id="CartPole-v1", seed=13, learning_starts=100, train_freq=8)).train(300)
    small, full = agent.save(tmp_path / "small.pt"), with_memory.save(tmp_path / "full.pt")
    assert small.stat().st_size < full.stat().st_size
    with pytest.warns(RuntimeWarning, match="without its replay memory"):
        resumed = DQN.load(small)
    assert resumed.global_step == 300 and len(resumed.buffer) == 0
    resumed.train(200)  # refills and goes on
    assert len(resumed.buffer) > 0
    assert len(DQN.load(small, inference_only=True).buffer) == 0  # no warning: nothing to resume


def test_stopping_rule_and_exponential_exploration():
    # a bar CartPole's random play reaches at once: training stops at the first window's end
    agent = DQN(_tiny(env_id="CartPole-v1", seed=14, stop_mean_return=5.0, stop_window=3,
                      exploration_schedule="exponential", exploration_decay_steps=100))
    agent.train(5000)
    assert agent.num_episodes == 3 and agent.global_step < 200
    lo, hi = agent.config.exploration_final_eps, agent.config.exploration_initial_eps
    assert agent.epsilon(100) == pytest.approx(lo + (hi - lo) / np.e)
    with pytest.raises(ValueError, match="exploration_schedule"):
        DQNConfig(exploration_schedule="cosine")
    with pytest.raises(ValueError, match="stop_window"):
        DQNConfig(stop_window=500)


def test_named_pong_preset_and_strict_json_config():
    import json

    cfg = DQNConfig(preset="pong-100k")
    assert cfg.env_id == "PongNoFrameskip-v4" and cfg.buffer_size == 100_000 and cfg.train_freq == 1
    assert cfg.exploration_schedule == "exponential" and cfg.stop_mean_return == 19.0 and cfg.double is False
    d = cfg.to_dict()
    assert d["max_grad_norm"] == "inf" and "Infinity" not in json.dumps(d)
    assert DQNConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert DQNConfig(preset="pong-100k", env_id="BreakoutNoFrameskip-v4").env_id == "BreakoutNoFrameskip-v4"
