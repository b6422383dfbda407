"""DDPG and TD3: presets, actions in the box, episode ends, TD3's three changes, exact resume, learning."""

import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401  (registers the test envs)

from fastrl.agents import DDPG, TD3, DDPGConfig, TD3Config, load_agent
from fastrl.agents.ddpg import PRESETS as DDPG_PRESETS
from fastrl.agents.td3 import PRESETS as TD3_PRESETS

AGENTS = [(DDPG, DDPGConfig), (TD3, TD3Config)]


def _small(cls, **kw):
    base = dict(env_id="Pendulum-v1", hidden_sizes=(16, 16), batch_size=16, learning_starts=50, buffer_size=2000,
                total_steps=2000, log_interval=100)
    base.update(kw)
    return cls(**base)


# ---- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, config_cls", AGENTS)
def test_presets(cls, config_cls):
    zoo = config_cls(env_id="Pendulum-v1")
    assert (zoo.total_steps, zoo.gamma, zoo.buffer_size, zoo.learning_starts, zoo.batch_size) == (
        20_000, 0.98, 200_000, 10_000, 256)
    assert (zoo.action_noise, zoo.action_noise_sigma, zoo.hidden_sizes, zoo.tau) == ("normal", 0.1, (400, 300), 0.005)
    car = config_cls(env_id="MountainCarContinuous-v0")
    assert car.action_noise == "ou" and car.action_noise_sigma == 0.5
    paper = config_cls(preset="paper")
    presets = DDPG_PRESETS if cls is DDPG else TD3_PRESETS
    for name, value in presets["paper"].items():
        assert getattr(paper, name) == value, name
    assert config_cls.from_dict(paper.to_dict()) == paper
    if cls is TD3:
        assert (zoo.policy_delay, zoo.target_policy_noise, zoo.target_noise_clip) == (2, 0.2, 0.5)
    else:
        assert paper.critic_action_layer == 1 and paper.critic_weight_decay == 1e-2 and paper.tau == 1e-3


@pytest.mark.parametrize("bad", [dict(action_noise="gauss"), dict(tau=0.0), dict(gamma=2.0), dict(batch_size=0),
                                 dict(critic_action_layer=2), dict(actor_learning_rate=-1.0), dict(preset="nope"),
                                 dict(critic_action_layer=1, hidden_sizes=(8,)), dict(action_noise_sigma=-0.1)])
def test_config_rejects_bad_values(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        DDPGConfig(**bad)
    with pytest.raises(ValueError, match="policy_delay"):
        TD3Config(policy_delay=0)


@pytest.mark.parametrize("cls", [DDPG, TD3])
def test_discrete_actions_are_refused(cls):
    with pytest.raises(ValueError, match="Box"):
        cls(env_id="CartPole-v1", buffer_size=100)


# ---- acting --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [DDPG, TD3])
def test_actions_stay_in_the_box_in_every_dimension(cls):
    agent = _small(cls, env_id="FastrlTestPoint-v0", seed=1, action_noise_sigma=5.0)
    assert agent.act_dim == 3
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32) * 100
    greedy = agent.act(obs)
    assert greedy.shape == (64, 3) and greedy.dtype == np.float32
    expected = agent.actor(torch.from_numpy(obs)).detach().numpy()
    np.testing.assert_array_equal(greedy, expected)
    noisy = agent.act(obs, deterministic=False)
    assert (noisy >= -1).all() and (noisy <= 1).all() and (noisy != greedy).any()
    with pytest.raises(ValueError, match="obs"):
        agent.act(np.zeros((2, 4), np.float32))
    agent.train(200)  # random actions first, then the actor's with noise; the env checks them
    assert agent.global_step == 200


def test_ou_noise_is_per_env_and_restarts_with_each_episode():
    agent = _small(DDPG, env_id="FastrlTestPoint-v0", num_envs=2, seed=2, action_noise="ou", learning_starts=0,
                   gradient_steps=0)
    agent.train(38)  # 19 steps per env: the processes have wandered
    assert (agent._ou_state != 0).all()
    agent.train(2)  # step 20 of each env's episode: a truncation, the noise starts again
    np.testing.assert_array_equal(agent._ou_state, 0.0)


# ---- episode ends --------------------------------------------------------------------------------


class _All:
    """Many uniform draws of the whole buffer, concatenated: every stored transition is almost surely there."""

    def __init__(self, buffer):
        batches = [buffer.sample(len(buffer)) for _ in range(6)]
        for name in ("obs", "action", "next_obs", "discount"):
            setattr(self, name, np.concatenate([getattr(b, name) for b in batches]))


@pytest.mark.parametrize("cls", [DDPG, TD3])
def test_truncations_bootstrap_from_the_true_final_observation(cls):
    # PointEnv: next_obs = obs + 0.1 * action exactly, and every episode is truncated at 20 steps.
    agent = _small(cls, env_id="FastrlTestPoint-v0", num_envs=2, seed=3, gamma=0.5, learning_starts=10**6)
    agent.train(100)
    b = _All(agent.buffer)
    np.testing.assert_allclose(b.next_obs, b.obs + 0.1 * b.action, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.discount, 0.5)  # never 0: nothing terminated
    assert agent.num_episodes == 2 * (50 // 20)


def test_pendulum_is_all_truncations():
    agent = _small(TD3, seed=4, learning_starts=10**6)
    agent.train(450)
    b = _All(agent.buffer)
    np.testing.assert_allclose(b.discount, agent.config.gamma)
    assert agent.num_episodes == 2 and len(agent.recent_returns) == 2


def test_terminations_cut_the_bootstrap():
    agent = _small(DDPG, env_id="FastrlTestPointGoal-v0", seed=5, gamma=0.5, learning_starts=10**6)
    agent.train(600)
    b = _All(agent.buffer)
    ended = np.sqrt((b.next_obs.astype(np.float64) ** 2).sum(1)) < 0.3
    assert ended.any() and (~ended).any()
    np.testing.assert_array_equal(b.discount[ended], 0.0)
    np.testing.assert_allclose(b.discount[~ended], 0.5)


# ---- TD3's three changes -------------------------------------------------------------------------


def test_td3_target_takes_the_smaller_critic_and_smooths_the_target_action():
    agent = _small(TD3, seed=6, target_policy_noise=0.2, target_noise_clip=0.5)
    assert len(agent.critic.critics) == 2
    with torch.no_grad():
        for p in agent.critic_target.critics[1].parameters():
            p.add_(torch.randn_like(p))
    next_obs = torch.randn(500, 3)
    torch.manual_seed(0)
    a = agent._next_action(next_obs)
    mu = agent.actor_target(next_obs)
    # the noise is clipped at 0.5 of the half-width (2): |a - mu| <= 1 where mu + noise stays in the box
    assert (a >= -2).all() and (a <= 2).all() and (a != mu).any()
    inside = (mu.abs() < 1).squeeze(1)
    assert ((a - mu).abs()[inside] <= 1.0 + 1e-6).all()
    q = agent.critic_target(next_obs, a)
    torch.testing.assert_close(agent.critic_target.min_value(next_obs, a), torch.minimum(q[0], q[1]))
    ddpg = _small(DDPG, seed=6)
    torch.testing.assert_close(ddpg._next_action(next_obs), ddpg.actor_target(next_obs))


def test_td3_updates_the_actor_every_policy_delay_critic_updates():
    agent = _small(TD3, seed=7, learning_starts=20, policy_delay=3)
    actor_before = agent.actor_optimizer.params.clone()
    target_before = agent._critic_target_params.clone()
    agent.train(21)  # the first critic update (num_updates 1): no actor update yet
    assert agent.num_updates == 1
    assert torch.equal(agent.actor_optimizer.params, actor_before)
    assert torch.equal(agent._critic_target_params, target_before)
    agent.train(2)  # update 3: the actor and the targets move
    assert agent.num_updates == 3
    assert not torch.equal(agent.actor_optimizer.params, actor_before)
    assert not torch.equal(agent._critic_target_params, target_before)


@pytest.mark.parametrize("cls", [DDPG, TD3])
def test_hand_written_gradients_train_like_autograd(cls):
    # Each gradient equals autograd's to float rounding (tests/test_losses.py). Adam's first steps move every
    # parameter by about lr * sign(gradient), so a rounding-sized difference in a near-zero gradient can move
    # a parameter by up to 2 * lr: after 20 updates the runs agree within that.
    hand = _small(cls, seed=8, learning_starts=100)
    auto = _small(cls, seed=8, learning_starts=100)
    auto._hand_grad = False
    assert hand._hand_grad
    hand.train(120)
    auto.train(120)
    assert hand.num_updates == auto.num_updates == 20
    lr = hand.config.learning_rate
    for x, y in zip([*hand.actor.parameters(), *hand.critic.parameters()],
                    [*auto.actor.parameters(), *auto.critic.parameters()], strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=2 * lr)


def test_paper_preset_architecture_trains():
    agent = DDPG(preset="paper", hidden_sizes=(32, 24), buffer_size=500, total_steps=300, log_interval=100)
    assert not agent._hand_grad and agent.critic.critics[0].obs_layer is not None
    assert agent.critic_optimizer.weight_decay == 1e-2 and agent.actor_optimizer.lr == 1e-4
    agent.train(150)
    assert agent.num_updates == 150 - 64


# ---- save / load / resume ------------------------------------------------------------------------


def _assert_same(a, b):
    for name in ("actor", "critic", "actor_target", "critic_target"):
        for (k, x), (_, y) in zip(getattr(a, name).state_dict().items(), getattr(b, name).state_dict().items(),
                                  strict=True):
            assert torch.equal(x, y), (name, k)
    assert (a.global_step, a.num_updates, a.num_episodes) == (b.global_step, b.num_updates, b.num_episodes)
    np.testing.assert_array_equal(a.runner.obs, b.runner.obs)
    np.testing.assert_array_equal(a._ou_state, b._ou_state)


@pytest.mark.parametrize("cls, variant", [
    (DDPG, dict()),
    (TD3, dict()),
    (DDPG, dict(env_id="FastrlTestPoint-v0", num_envs=3, action_noise="ou", n_step=2, critic_weight_decay=0.01)),
    (TD3, dict(num_envs=2, critic_action_layer=1, actor_final_init=3e-3, max_grad_norm=1.0)),
])
def test_save_load_resume_is_bit_exact(tmp_path, cls, variant):
    kw = dict(seed=9, learning_starts=100, **variant)
    straight = _small(cls, **kw).train(600)
    half = _small(cls, **kw).train(300)
    half.save(tmp_path / "ckpt.pt")
    half.train(60)  # the original keeps going: the checkpoint shares no state with it
    resumed = cls.load(tmp_path / "ckpt.pt")
    assert resumed.global_step == 300
    resumed.train(300)
    _assert_same(straight, resumed)
    np.testing.assert_array_equal(straight.buffer.sample(32).obs, resumed.buffer.sample(32).obs)
    any_kind = load_agent(tmp_path / "ckpt.pt", inference_only=True)
    assert type(any_kind) is cls and any_kind.global_step == 300
    with pytest.raises(ValueError, match="holds a"):
        (TD3 if cls is DDPG else DDPG).load(tmp_path / "ckpt.pt")


# ---- learning ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("cls, steps", [(DDPG, 5000), (TD3, 8000)])
def test_learns_pendulum(cls, steps):
    # A random policy scores about -1200 on Pendulum. rl-zoo's settings with 64x64 networks, batch 128 and
    # 1K random steps reach about -150 in these budgets (seeds 0 and 1); the bar leaves room for the CPU's
    # rounding.
    agent = cls(env_id="Pendulum-v1", seed=0, hidden_sizes=(64, 64), learning_starts=1000, total_steps=steps,
                batch_size=128)
    agent.train()
    returns = agent.evaluate(10)
    assert returns.mean() > -400, returns


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", [DDPG, TD3])
def test_trains_on_cuda(cls):
    agent = _small(cls, seed=10, device="cuda", learning_starts=100)
    agent.train(300)
    assert agent.num_updates > 0 and next(agent.actor.parameters()).is_cuda
    assert agent.act(np.zeros((2, 3), np.float32)).shape == (2, 1)
