"""Ape-X DQN and DDPG: the actors' n-step assembly and exploration, the replay shards, the synchronous mode against
an in-process run, learning, and, on Ray (a local instance started once, and a two-node test cluster in a
subprocess), asynchronous training, failures of actors and shards, checkpoints and a clean shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from fastrl.agents import ApeXDDPG, ApeXDQN
from fastrl.distributed import ApeXDDPGActor, NStepAssembler, ReplayShard, apex_epsilons, apex_noise_scales

SMALL = dict(env_id="CartPole-v1", num_actors=2, actor_envs=2, weight_sync_interval=50, push_size=40,
             buffer_size=5000, min_replay_size=200, samples_per_insert=2.0, batch_size=32, hidden_sizes=(32,),
             target_update_interval=20, publish_interval=5, total_steps=100_000, log_interval=1000, seed=3)
SMALL_DDPG = dict(env_id="Pendulum-v1", num_actors=2, actor_envs=2, weight_sync_interval=50, push_size=40,
                  buffer_size=5000, min_replay_size=200, samples_per_insert=8.0, batch_size=32, hidden_sizes=(32, 32),
                  random_steps=100, publish_interval=5, total_steps=100_000, log_interval=1000, seed=3)


def test_apex_epsilons_are_the_papers():
    eps = apex_epsilons(8)
    assert eps[0] == pytest.approx(0.4) and eps[-1] == pytest.approx(0.4 ** 8)
    assert all(a > b for a, b in zip(eps, eps[1:], strict=False))
    assert apex_epsilons(1) == [0.4]
    with pytest.raises(ValueError, match="num_actors"):
        apex_epsilons(0)


def test_noise_scales_spread_geometrically():
    assert apex_noise_scales(1, 0.3, 0.05) == [0.3]
    scales = apex_noise_scales(4, 0.4, 0.05)
    assert scales[0] == pytest.approx(0.4) and scales[-1] == pytest.approx(0.05)
    np.testing.assert_allclose(np.diff(np.log(scales)), np.log(0.05 / 0.4) / 3)
    with pytest.raises(ValueError, match="num_actors"):
        apex_noise_scales(0, 0.3, 0.05)
    with pytest.raises(ValueError, match="low"):
        apex_noise_scales(2, 0.1, 0.2)
    with pytest.raises(ValueError, match="inf"):
        apex_noise_scales(3, float("inf"), 0.05)


def test_nstep_assembler_against_a_direct_computation():
    """Windows of n rewards, shortened by episode ends; terminations cut the bootstrap, truncations keep it."""
    rng = np.random.default_rng(0)
    n, gamma, steps = 3, 0.9, 60
    obs = rng.standard_normal((steps + 1, 2, 1))
    reward = rng.standard_normal((steps, 2))
    terminated = rng.random((steps, 2)) < 0.08
    truncated = ~terminated & (rng.random((steps, 2)) < 0.05)
    asm = NStepAssembler(2, n, gamma)
    got = []
    for t in range(steps):
        got += asm.step(obs[t], np.array([t, t]), reward[t], obs[t + 1], terminated[t], truncated[t])
    want = []
    for env in range(2):
        start = 0
        for t in range(steps):
            if terminated[t, env] or truncated[t, env]:
                for s in range(start, t + 1):
                    k = t + 1 - s
                    ret = sum(gamma ** i * reward[s + i, env] for i in range(k))
                    want.append((env, s, ret, 0.0 if terminated[t, env] else gamma ** k, t + 1))
                start = t + 1
            elif t + 1 - start >= n:
                want.append((env, start, sum(gamma ** i * reward[start + i, env] for i in range(n)), gamma ** n,
                             start + n))
                start += 1
    key = sorted((float(o[0]), int(a)) for o, a, *_ in got)
    assert len(got) == len(want) and key == sorted((float(obs[s, e, 0]), s) for e, s, *_ in want)
    by_start = {(float(o[0]), int(a)): (r, d, float(nx[0])) for o, a, r, d, nx in got}
    for env, s, ret, disc, nxt in want:
        r, d, nx = by_start[(float(obs[s, env, 0]), s)]
        assert r == pytest.approx(ret) and d == pytest.approx(disc) and nx == obs[nxt, env, 0]


def _shard(**kw):
    args = dict(capacity=100, obs_shape=(2,), obs_dtype=np.float32, action_shape=(), action_dtype=np.int64, seed=0)
    return ReplayShard(**{**args, **kw})


def _batch(b, start=0):
    obs = np.arange(start, start + b, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    return {"obs": obs, "action": np.arange(b) % 2, "reward": np.ones(b), "discount": np.linspace(0, 0.9, b),
            "next_obs": obs + 1}


def test_shard_keeps_discounts_and_limits_the_sample_rate():
    shard = _shard(min_size=20, samples_per_insert=1.0)
    shard.add(_batch(10), np.ones(10))
    assert shard.sample(4, 0.4) is None  # below min_size
    shard.add(_batch(30, 10), np.ones(30))
    allowed = 1.0 * (40 - 20) + 8  # samples_per_insert * (inserted - min_size) plus one batch of slack
    got = 0
    while (batch := shard.sample(8, 0.4)) is not None:
        got += 8
        expected = np.concatenate([_batch(10)["discount"], _batch(30)["discount"]]).astype(np.float32)
        np.testing.assert_array_equal(batch["discount"], expected[batch["obs"][:, 0].astype(int)])
        assert batch["weights"].shape == (8,)
    assert got <= allowed and got > allowed - 8
    state = shard.state_dict()
    other = _shard(min_size=20, samples_per_insert=1.0)
    other.load_state_dict(state)
    assert other.stats() == shard.stats()
    shard.add(_batch(5, 40), np.full(5, 3.0))
    assert shard.sample(8, 0.4) is not None  # new inserts free the learner again


def test_local_backend_trains_with_the_rate_limit():
    agent = ApeXDQN(**SMALL, backend="local")
    try:
        agent.train(3000)
        assert agent.global_step >= 3000 and agent.num_updates > 0 and agent.num_episodes > 0
        stats = agent.shard_stats()[0]
        assert stats["sampled"] <= 2.0 * (stats["inserted"] - 200) + 32
        assert stats["sampled"] == agent.num_updates * 32
        assert agent.act(np.zeros((3, 4), np.float32)).shape == (3,)
        assert agent.evaluate(2).shape == (2,)
        # loading an earlier state puts its weights into the actors too (their version is newer)
        saved = agent.state_dict()
        agent.train(2000)
        agent.load_state_dict(saved)
        for actor in agent.actors:
            np.testing.assert_array_equal(actor._flats[0].numpy(), agent._weights())
            assert actor.version == agent.version
    finally:
        agent.close()
    with pytest.raises(ValueError, match="min_replay_size"):
        ApeXDQN(**{**SMALL, "num_replay_shards": 4, "buffer_size": 600, "min_replay_size": 200}, backend="local")
    with pytest.raises(ValueError, match="samples_per_insert"):
        ApeXDQN(**{**SMALL, "samples_per_insert": float("inf")}, backend="local")
    with pytest.raises(ValueError, match="Discrete"):
        ApeXDQN(**{**SMALL, "env_id": "Pendulum-v1"}, backend="local")


def _flat(*nets: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for net in nets for p in net.parameters()]).numpy()


def test_ddpg_actor_explores_in_the_box_and_prioritizes_with_its_critic():
    """Uniform actions first, then mu(s) plus its own Gaussian noise, clipped to the box; initial priorities
    |R + discount * Q(s', mu(s')) - Q(s, a)| from the learner's networks, loaded as one flat array."""
    from fastrl.nets import Actor, Critics

    torch.manual_seed(0)
    ref_actor, ref_critic = Actor(3, 1, [-2.0], [2.0], (16,)), Critics(1, 3, 1, (16,))
    shard = ReplayShard(1000, (3,), np.float32, (1,), np.float32, min_size=1)
    common = dict(env_id="Pendulum-v1", env_kwargs={}, num_envs=3, seed=0, n_step=2, gamma=0.9, push_size=10,
                  shards=[shard], hidden_sizes=(16,))
    noisy = ApeXDDPGActor(noise_sigma=0.5, random_steps=30, **common)
    exact = ApeXDDPGActor(noise_sigma=0.0, random_steps=0, **common)
    try:
        for actor in (noisy, exact):
            actor.set_weights(_flat(ref_actor, ref_critic), version=0)
        obs = np.random.default_rng(1).standard_normal((3, 3)).astype(np.float32)
        with torch.no_grad():
            mu = ref_actor(torch.from_numpy(obs)).numpy()
        np.testing.assert_allclose(exact._act(obs), mu, rtol=1e-5, atol=1e-6)
        result = noisy.run(10)  # 30 env steps: uniform actions
        assert result["steps"] == 30 and result["transitions"] > 0 and len(shard.buffer) == result["transitions"]
        acts = np.stack([noisy._act(obs) for _ in range(200)])
        assert acts.dtype == np.float32 and acts.min() >= -2.0 and acts.max() <= 2.0
        spread = (acts - mu)[np.abs(acts) < 2.0]  # the noise where the box did not clip it
        assert 0.7 < spread.std() < 1.3  # 0.5 of the half-width (2)
        rng = np.random.default_rng(2)
        batch = {"obs": rng.standard_normal((6, 3)).astype(np.float32),
                 "action": rng.uniform(-2, 2, (6, 1)).astype(np.float32), "reward": rng.standard_normal(6),
                 "discount": np.array([0.81, 0.81, 0.0, 0.9, 0.81, 0.0], np.float32),
                 "next_obs": rng.standard_normal((6, 3)).astype(np.float32)}
        t = {k: torch.from_numpy(v) for k, v in batch.items()}
        with torch.no_grad():
            y = t["reward"] + t["discount"] * ref_critic.first(t["next_obs"], ref_actor(t["next_obs"]))
            want = (y - ref_critic.first(t["obs"], t["action"])).abs().numpy()
        np.testing.assert_allclose(noisy._priorities(batch), want, rtol=1e-5, atol=1e-6)
    finally:
        noisy.close()
        exact.close()


def test_apex_ddpg_local_backend_checks_and_keeps_actors_in_step(tmp_path):
    agent = ApeXDDPG(**SMALL_DDPG, backend="local")
    try:
        agent.train(1500)
        stats = agent.shard_stats()[0]
        assert stats["sampled"] == agent.num_updates * 32 > 0
        assert stats["sampled"] <= 8.0 * (stats["inserted"] - 200) + 32
        actions = agent.act(np.zeros((4, 3), np.float32))
        assert actions.shape == (4, 1) and actions.dtype == np.float32
        explored = agent.act(np.zeros((200, 3), np.float32), deterministic=False)
        assert np.abs(explored).max() <= 2.0 and explored.std() > 0
        saved = agent.state_dict()
        agent.train(500)
        agent.load_state_dict(saved)
        for actor in agent.actors:  # the actors hold the learner's actor and critic
            np.testing.assert_array_equal(np.concatenate([f.numpy() for f in actor._flats]), agent._weights())
        np.testing.assert_array_equal(agent._weights(), _flat(agent.actor, agent.critic))
        # a checkpoint file holds the learner, the counters and the shard
        agent.save(tmp_path / "apex-ddpg.pt")
        resumed = ApeXDDPG.load(tmp_path / "apex-ddpg.pt")
        try:
            assert (resumed.global_step, resumed.num_updates) == (agent.global_step, agent.num_updates)
            assert resumed.shard_stats() == agent.shard_stats()
            obs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
            np.testing.assert_array_equal(resumed.act(obs), agent.act(obs))
            for name in ("actor_target", "critic_target"):
                np.testing.assert_array_equal(_flat(getattr(resumed, name)), _flat(getattr(agent, name)))
            # the resumed run's fresh actors hold trained weights: no second phase of uniform actions
            fresh = resumed.actors[0]
            assert fresh.steps == 0 < fresh.random_steps and fresh.version == agent.version > 0
            fresh.noise_sigma = 0.0
            np.testing.assert_allclose(fresh._act(obs[:2]), agent.act(obs[:2]), rtol=1e-5, atol=1e-6)
            resumed.train(300)
        finally:
            resumed.close()
    finally:
        agent.close()
    with pytest.raises(ValueError, match="Box"):
        ApeXDDPG(**{**SMALL_DDPG, "env_id": "CartPole-v1"}, backend="local")
    with pytest.raises(ValueError, match="noise_sigma_max"):
        ApeXDDPG(**SMALL_DDPG, noise_sigma_max=0.01, noise_sigma_min=0.1, backend="local")
    with pytest.raises(ValueError, match="tau"):
        ApeXDDPG(**SMALL_DDPG, tau=0.0, backend="local")


@pytest.mark.slow
def test_apex_ddpg_preset_learns_pendulum():
    """The Pendulum preset, in the synchronous in-process mode (its updates are decided by the rate limiter):
    from about -1400 (random) to a greedy return above -400 within 16K env steps."""
    agent = ApeXDDPG(env_id="Pendulum-v1", backend="local", seed=0)
    try:
        agent.train(16_000)
        assert agent.evaluate(10).mean() > -400
    finally:
        agent.close()


# ---- on Ray ------------------------------------------------------------------------------------------


def _ray_children() -> list[str]:
    """Command lines of this process's live child processes that belong to Ray."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and "ray" in cmd:
            found.append(cmd)
    return found


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for this module's tests (2 CPUs, no dashboard), shut down after them; no Ray
    process may outlive it."""
    ray = pytest.importorskip("ray")
    from fastrl.distributed import init_ray

    if not ray.is_initialized():
        init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    assert not _ray_children()


@pytest.fixture(autouse=True)
def hard_timeout():
    """A Ray test that hangs fails after 300 s instead of stalling the run."""
    import signal

    def expire(signum, frame):
        raise TimeoutError("test exceeded its 300 s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.ray
@pytest.mark.parametrize("agent_cls, small", [(ApeXDQN, SMALL), (ApeXDDPG, SMALL_DDPG)], ids=["dqn", "ddpg"])
def test_sync_mode_on_ray_equals_the_local_run(ray_instance, agent_cls, small):
    """One actor, one shard, fixed interleaving: replay contents and learner losses equal the in-process run."""
    cfg = {**small, "num_actors": 1}
    local = agent_cls(**cfg, backend="local")
    remote = agent_cls(**cfg, sync=True)
    try:
        local.train(1200)
        remote.train(1200)
        assert local.global_step == remote.global_step and local.num_updates == remote.num_updates > 0
        assert local.losses == remote.losses
        a, b = local.state_dict()["shards"][0], remote.state_dict()["shards"][0]
        for key, value in a["buffer"].items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, b["buffer"][key], err_msg=key)
        np.testing.assert_array_equal(a["discount"], b["discount"])
    finally:
        local.close()
        remote.close()


@pytest.mark.ray
def test_async_training_survives_a_dead_actor_and_a_dead_shard(ray_instance, tmp_path):
    ray = ray_instance
    agent = ApeXDQN(**SMALL, shard_backup_interval=5)
    try:
        agent.train(2000)
        assert agent.global_step >= 2000 and agent.num_updates > 0
        nodes = ray.get([a.node.remote() for a in agent.actors])
        assert all(nodes)
        # an actor process dies: Ray restarts it and training goes on
        ray.kill(agent.actors[0], no_restart=False)
        agent.train(1500)
        assert agent.global_step >= 3500
        # the shard dies: it is rebuilt from its last backup
        before = agent.num_updates
        held = agent.shard_stats()[0]["size"]
        ray.kill(agent.shards[0], no_restart=True)
        agent.train(1500)
        assert agent.num_updates > before and agent.shard_stats()[0]["size"] >= min(held, 200)
        # actors restarted after the rebuild come back with their first arguments (the dead shard): they are
        # pointed to the new one and training goes on
        for actor in agent.actors:
            ray.kill(actor, no_restart=False)
        steps = agent.global_step
        agent.train(1500)
        assert agent.global_step >= steps + 1500 and agent.shard_stats()[0]["inserted"] > 0
        # a checkpoint holds the learner, the counters and the shards
        agent.save(tmp_path / "apex.pt")
        resumed = ApeXDQN.load(tmp_path / "apex.pt")
        try:
            assert (resumed.global_step, resumed.num_updates) == (agent.global_step, agent.num_updates)
            assert resumed.shard_stats()[0]["size"] == agent.shard_stats()[0]["size"]
            obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
            np.testing.assert_array_equal(resumed.act(obs), agent.act(obs))
            resumed.train(500)
        finally:
            resumed.close()
    finally:
        actor = agent.actors[0]
        agent.close()
    for _ in range(20):  # close() stopped the actors (ray.kill takes effect asynchronously)
        try:
            ray.get(actor.node.remote(), timeout=10)
        except ray.exceptions.RayActorError:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("an actor outlived close()")


_CHILD = textwrap.dedent("""
    import os, sys
    from fastrl.agents import ApeXDQN
    cfg = dict(env_id="CartPole-v1", num_actors=2, actor_envs=2, weight_sync_interval=50, push_size=40,
               buffer_size=5000, min_replay_size=200, samples_per_insert=2.0, batch_size=32, hidden_sizes=(32,),
               total_steps=1000, seed=0)
    mode = sys.argv[1]
    if mode == "cluster":
        import ray
        from ray.cluster_utils import Cluster
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        worker = cluster.add_node(num_cpus=2)
        from fastrl.distributed import init_ray
        init_ray(address=cluster.address)
        agent = ApeXDQN(**cfg, address=cluster.address, actor_cpus=0.5)
        nodes = set(ray.get([a.node.remote() for a in agent.actors]))
        assert nodes == {worker.node_id}, (nodes, worker.node_id)
        agent.train(1000)
        assert agent.global_step >= 1000
        agent.close()
        ray.shutdown()
        cluster.shutdown()
    else:
        agent = ApeXDQN(**cfg)  # starts its own Ray instance
        agent.train(1000)
        agent.close()  # ... and stops it
    def children(pid):
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        stat = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(stat[1]) == pid and stat[0] != "Z":
                    out += [int(entry)] + children(int(entry))
        return out
    print("CHILDREN", children(os.getpid()))
""")


@pytest.mark.ray
@pytest.mark.parametrize("mode", ["own", "cluster"])
def test_close_leaves_no_process_and_actors_run_on_a_second_node(mode, tmp_path):
    """In a fresh process: an agent that starts Ray stops it again on close(); on a two-node cluster (a head
    without CPUs) the actors run on the second node. Either way no process of ours is left."""
    pytest.importorskip("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, timeout=240,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "CHILDREN []" in out.stdout, out.stdout[-2000:]


@pytest.mark.ray
def test_command_line_trains_and_evaluates_apex(ray_instance, tmp_path, capsys):
    from fastrl.cli import main

    args = ["train", "apex-dqn", "--env", "CartPole-v1", "--num-actors", "2", "--total-steps", "1500",
            "--actor-envs", "2", "--weight-sync-interval", "50", "--push-size", "40", "--buffer-size", "5000",
            "--min-replay-size", "200", "--samples-per-insert", "2", "--hidden-sizes", "32",
            "--runs-dir", str(tmp_path), "--name", "apex", "--no-progress", "--no-tensorboard", "--eval-episodes", "2"]
    assert main(args) == 0
    assert "greedy return over 2 episodes" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "apex"), "--episodes", "2"]) == 0  # in-process: no Ray workers
    assert "greedy return over 2 episodes" in capsys.readouterr().out
    assert main(["train", "--resume", str(tmp_path / "apex"), "--total-steps", "2500", "--no-progress",
                 "--no-tensorboard", "--eval-episodes", "0"]) == 0
    assert "resuming" in capsys.readouterr().out


@pytest.mark.ray
def test_command_line_trains_and_evaluates_apex_ddpg(ray_instance, tmp_path, capsys):
    from fastrl.cli import main

    args = ["train", "apex-ddpg", "--env", "Pendulum-v1", "--num-actors", "2", "--total-steps", "1200",
            "--actor-envs", "2", "--weight-sync-interval", "50", "--push-size", "40", "--buffer-size", "5000",
            "--min-replay-size", "200", "--samples-per-insert", "8", "--hidden-sizes", "32", "32",
            "--random-steps", "100", "--runs-dir", str(tmp_path), "--name", "apex-ddpg", "--no-progress",
            "--no-tensorboard", "--eval-episodes", "2"]
    assert main(args) == 0
    assert "greedy return over 2 episodes" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "apex-ddpg"), "--episodes", "2"]) == 0  # in-process: no Ray workers
    assert "greedy return over 2 episodes" in capsys.readouterr().out
