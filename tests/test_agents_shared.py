"""The machinery every agent shares: config presets and checks, the env runner, the loop's meters, the
registry and evaluation."""

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401  (registers the test envs)

from fastrl.agents import REGISTRY, agent_classes
from fastrl.agents.config import AgentConfig, require_int, require_real
from fastrl.agents.evaluation import evaluate_policy, evaluation_env_kwargs
from fastrl.agents.loop import DeviceMeans, crossed
from fastrl.agents.runner import EnvRunner

# ---- config --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Config(AgentConfig):
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "CartPole-v1": dict(lr=0.5), "atari": dict(lr=0.25), "named": dict(lr=0.125, sizes=[3, 4])}
    DEFAULTS: ClassVar[dict[str, Any]] = dict(lr=1.0, n=2, sizes=(8,))

    env_id: str = "CartPole-v1"
    preset: str | None = None
    lr: float | None = None
    n: int | None = None
    sizes: tuple[int, ...] | None = None

    def validate(self) -> None:
        require_real(self, "lr", 0, low_open=True)
        require_int(self, "n", 1)


def test_config_fills_from_named_preset_env_preset_then_defaults():
    assert (_Config().lr, _Config().n, _Config().sizes) == (0.5, 2, (8,))
    assert _Config(env_id="Pendulum-v1").lr == 1.0
    assert _Config(env_id="PongNoFrameskip-v4").lr == 0.25 and _Config(env_id="Pong-v4").lr == 0.25
    named = _Config(env_id="Pendulum-v1", preset="named")
    assert named.lr == 0.125 and named.sizes == (3, 4)
    assert _Config(preset="named", lr=2.0).lr == 2.0  # explicit fields win
    assert _Config.from_dict(named.to_dict()) == named and named.to_dict()["sizes"] == [3, 4]


@pytest.mark.parametrize("kwargs, name", [(dict(lr=0.0), "lr"), (dict(lr=float("nan")), "lr"), (dict(n=0), "n"),
                                          (dict(n=True), "n"), (dict(n=1.5), "n"), (dict(env_id=""), "env_id"),
                                          (dict(preset="nope"), "preset"), (dict(sizes=5), "sizes")])
def test_config_errors_name_the_field(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _Config(**kwargs)


def test_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown _Config fields \\['bogus'\\]"):
        _Config.from_dict({"bogus": 1})


# ---- the env runner -----------------------------------------------------------------------------


def _drive(runner, steps, rng):
    """Steps ``runner`` with random actions; returns the transitions (copied) and finished episodes."""
    space = runner.action_space
    out, episodes = [], []
    for _ in range(steps):
        a = rng.uniform(space.low, space.high, (runner.num_envs, *space.shape)).astype(space.dtype)
        t = runner.step(a)
        out.append((t.obs.copy(), t.action.copy(), t.reward.copy(), t.next_obs.copy(), t.terminated.copy(),
                    t.truncated.copy()))
        episodes += t.episodes
    return out, episodes


def test_runner_multidimensional_box_actions_and_true_final_observations():
    runner = EnvRunner("FastrlTestPoint-v0", 2, seed=3)
    assert runner.action_shape == (3,) and runner.action_dtype == np.float32
    steps, episodes = _drive(runner, 45, np.random.default_rng(0))
    for obs, a, r, next_obs, term, _ in steps:
        # next_obs is the step from obs (never a reset observation), also at the time limit
        np.testing.assert_allclose(next_obs, obs + 0.1 * a, rtol=0, atol=1e-6)
        np.testing.assert_allclose(r, -np.sum(next_obs.astype(np.float64) ** 2, axis=1))
        assert not term.any()
    assert [trunc.sum() for *_, trunc in steps].count(2) == 2  # both envs truncate at steps 20 and 40
    assert len(episodes) == 4 and all(length == 20 for _, length in episodes)
    assert runner.num_episodes == 4 and len(runner.recent_returns) == 4
    runner.close()


@pytest.mark.parametrize("env_id, num_envs", [("FastrlTestPoint-v0", 3), ("CartPole-v1", 4), ("Pendulum-v1", 2)])
def test_runner_state_replays_into_fresh_envs(env_id, num_envs):
    a, b = EnvRunner(env_id, num_envs, seed=5), EnvRunner(env_id, num_envs, seed=5)
    rng = np.random.default_rng(1)
    space = a.action_space

    def actions():
        if hasattr(space, "n"):
            return rng.integers(space.n, size=num_envs)
        return rng.uniform(space.low, space.high, (num_envs, *space.shape)).astype(space.dtype)

    for _ in range(57):
        a.step(actions())
    state = a.state_dict()
    b.load_state_dict(state)
    np.testing.assert_array_equal(b.obs, a.obs)
    assert b.num_episodes == a.num_episodes and list(b.recent_returns) == list(a.recent_returns)
    for _ in range(300):  # and they stay together, through many episode ends
        x = actions()
        ta, tb = a.step(x), b.step(x)
        np.testing.assert_array_equal(ta.next_obs, tb.next_obs)
        np.testing.assert_array_equal(ta.reward, tb.reward)
        assert ta.episodes == tb.episodes
    with pytest.raises(ValueError, match="num_envs"):
        EnvRunner(env_id, num_envs + 1, seed=5).load_state_dict(state)


def test_runner_returned_obs_stay_valid_until_the_next_step():
    runner = EnvRunner("CartPole-v1", 2, seed=0)
    first = runner.obs.copy()
    t = runner.step(np.zeros(2, np.int64))
    np.testing.assert_array_equal(t.obs, first)
    np.testing.assert_array_equal(runner.obs, t.next_obs)
    assert not np.shares_memory(runner.obs, t.obs)


def test_runner_rejects_other_action_spaces():
    with pytest.raises(ValueError, match="action space"):
        EnvRunner("FastrlTestMultiDiscrete-v0", 1, seed=0)


# ---- loop pieces ---------------------------------------------------------------------------------


def test_crossed():
    assert crossed(0, 4, 4) and not crossed(4, 7, 4) and crossed(7, 9, 4) and crossed(3, 12, 4)


def test_device_means():
    m = DeviceMeans("cpu", ("a", "b"))
    m.add("a", torch.tensor(3.0), 2)
    m.add("a", torch.tensor(1.0), 2)
    assert m.read() == {"a": 1.0}
    assert m.read() == {}
    m.add("b", torch.tensor(5.0), 1)
    state = m.state_dict()
    other = DeviceMeans("cpu", ("a", "b"))
    other.load_state_dict(state)
    assert other.read() == {"b": 5.0}
    with pytest.raises(ValueError, match="meters"):
        DeviceMeans("cpu", ("x",)).load_state_dict(state)


# ---- registry and evaluation ---------------------------------------------------------------------


def test_registry_names_importable_agents():
    for name in REGISTRY:
        agent_cls, config_cls = agent_classes(name)
        assert dataclasses.is_dataclass(config_cls) and hasattr(agent_cls, "from_checkpoint")
    with pytest.raises(ValueError, match="choose from"):
        agent_classes("nope")


def test_evaluate_policy_is_a_function_of_the_seed():
    def act(obs):
        return (obs[:, 2] > 0).astype(np.int64)  # push towards the pole's lean

    a = evaluate_policy(act, "CartPole-v1", 5, seed=1, max_envs=2)
    b = evaluate_policy(act, "CartPole-v1", 5, seed=1, max_envs=2)
    assert a.shape == (5,) and np.array_equal(a, b) and a.mean() > 30
    with pytest.raises(ValueError, match="episodes"):
        evaluate_policy(act, "CartPole-v1", 0, seed=1)
    assert evaluation_env_kwargs("PongNoFrameskip-v4") == {"episodic_life": False, "reward_clipping": False}
    assert evaluation_env_kwargs("CartPole-v1", {"max_episode_steps": 5}) == {"max_episode_steps": 5}


# ---- memory planning -----------------------------------------------------------------------------


def test_a_run_too_large_for_the_machine_is_refused_before_it_allocates(monkeypatch):
    import fastrl.memory
    from fastrl.agents import DDPG, DQN
    from fastrl.memory import RunTooLargeError, replay_memory_bytes

    # the figure is the one the replay memory itself checks, and it grows with the capacity
    one = replay_memory_bytes(1000, (4, 84, 84), np.uint8, frame_stack=4)
    assert 1000 * 7056 < one < 1000 * 7300 and replay_memory_bytes(2000, (4, 84, 84), np.uint8, frame_stack=4) > one
    monkeypatch.setattr(fastrl.memory, "available_bytes", lambda: 10 * 2**20)
    with pytest.raises(RunTooLargeError, match=r"--buffer-size \(buffer_size\)") as err:
        DQN(env_id="CartPole-v1", buffer_size=1_000_000)
    assert "replay memory of 1000000 transitions" in str(err.value) and "10 MB available" in str(err.value)
    with pytest.raises(MemoryError, match="buffer-size"):
        DDPG(env_id="Pendulum-v1", buffer_size=1_000_000)
    DQN(env_id="CartPole-v1", buffer_size=1000, hidden_sizes=(16,)).close()  # a small one fits
