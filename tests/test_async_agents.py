"""A3C and NSQ on Hogwild workers, and the shared async layer: configs, shared optimizers, rollouts and their
truncation-correct targets, reproducibility with one worker, learning, checkpoints, errors and clean shutdown."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
import toy_envs  # noqa: F401  (registers the test envs)
from torch import nn

from fastrl.agents import A3C, NSQ, A3CConfig, NSQConfig, WorkerError, load_agent
from fastrl.agents.a3c import _Worker as A3CWorker
from fastrl.agents.actor_critic import ActorCritic
from fastrl.agents.hogwild import shared_optimizer
from fastrl.agents.nsq import FINAL_EPSILONS
from fastrl.agents.nsq import _Worker as NSQWorker
from fastrl.nets import LSTMCore
from fastrl.optim import FlatRMSprop


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


class _Link:
    """The worker side of the pool, in-process: a step counter and sinks for reports."""

    def __init__(self) -> None:
        self.global_step = 0
        self.finished: list[tuple[float, int]] = []

    def add_steps(self, n: int) -> tuple[int, int]:
        self.global_step += n
        return self.global_step - n, self.global_step

    def episodes(self, finished: list[tuple[float, int]]) -> None:
        self.finished.extend(finished)

    def add(self, name: str, value: float, count: int = 1) -> None:
        assert np.isfinite(value), name


# ---- configs ---------------------------------------------------------------------------------------


def test_configs_presets_and_errors():
    cfg = A3CConfig(env_id="CartPole-v1")
    assert (cfg.num_workers, cfg.num_envs, cfg.t_max, cfg.rms_eps, cfg.learning_rate_final) == (2, 8, 5, 1e-5, 0.0)
    assert A3CConfig(env_id="Acrobot-v1").rms_eps == 0.1  # PFRL's settings where no preset applies
    atari = A3CConfig(env_id="PongNoFrameskip-v4")
    assert (atari.num_workers, atari.t_max, atari.rms_eps, atari.ent_coef, atari.max_grad_norm) == (16, 5, 0.1,
                                                                                                    0.01, 40.0)
    nsq = NSQConfig(env_id="ALE/Breakout-v5")
    assert (nsq.i_target, nsq.exploration_final_eps, nsq.rms_eps) == (40_000, None, 0.1)
    assert nsq.exploration_fraction * nsq.total_steps == pytest.approx(1_000_000)
    for cls in (A3CConfig, NSQConfig):
        for bad in (dict(num_workers=0), dict(t_max=0), dict(device="cuda"), dict(optimizer="sgd"),
                    dict(learning_rate_final=-1.0), dict(lstm_size=0)):
            with pytest.raises(ValueError, match=next(iter(bad))):
                cls(**bad)
        assert cls.from_dict(cls().to_dict()) == cls()
    with pytest.raises(ValueError, match="exploration_final_eps"):
        NSQConfig(exploration_final_eps=1.5)
    with pytest.raises(ValueError, match="Discrete"):
        A3C(env_id="Pendulum-v1")
    with pytest.raises(ValueError, match="Discrete"):
        NSQ(env_id="Pendulum-v1")


# ---- shared pieces ---------------------------------------------------------------------------------


def test_shared_rmsprop_eps_inside_sqrt_and_shared_memory():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    start = [p.detach().clone() for p in net.parameters()]
    opt = FlatRMSprop(net, lr=0.01, alpha=0.9, eps=0.1, eps_inside_sqrt=True).share_memory_()
    assert opt.params.is_shared() and opt.square_avg.is_shared()
    assert all(p.data_ptr() >= opt.params.data_ptr() for p in net.parameters())  # still views of the buffer
    grad = torch.randn(opt.params.numel())
    opt.step(grad)
    flat0 = torch.cat([p.reshape(-1) for p in start])
    v = 0.1 * grad * grad
    torch.testing.assert_close(opt.params, flat0 - 0.01 * grad / torch.sqrt(v + 0.1), rtol=0, atol=1e-7)
    torch.testing.assert_close(torch.cat([p.detach().reshape(-1) for p in net.parameters()]), opt.params)
    with pytest.raises(ValueError, match="grad"):
        FlatRMSprop(net, lr=0.01).step(torch.zeros(3))


def test_forked_process_updates_the_shared_model():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    cfg = A3CConfig(optimizer="adam", learning_rate=0.1, rms_eps=1e-8)
    opt = shared_optimizer(net, cfg)
    before = opt.params.clone()
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=lambda: opt.step(torch.ones(opt.params.numel())))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    # Adam's first step moves every parameter by lr against the gradient's sign; the parent sees it
    torch.testing.assert_close(opt.params, before - 0.1, rtol=0, atol=1e-5)
    assert float(opt.step_count) == 1.0 and float(opt.exp_avg_sq.min()) > 0


def test_lstm_unroll_matches_steps_with_resets():
    torch.manual_seed(0)
    core = LSTMCore(3, 5)
    x = torch.randn(4, 2, 3)
    starts = torch.tensor([[False, True], [True, False], [False, False], [False, True]])
    state = (torch.randn(2, 5), torch.randn(2, 5))
    hs, cs = core.unroll(x, state, starts)
    h, c = state
    for t in range(4):
        h, c = core(x[t], (h, c), starts[t])
        torch.testing.assert_close(hs[t], h)
        torch.testing.assert_close(cs[t], c)
    # a start zeroes the memory: the step equals one from the zero state
    h0, _ = core.cell(x[1, 0:1], core.initial_state(1))
    torch.testing.assert_close(hs[1, 0:1], h0)


def test_actor_critic_unroll_next_values_use_the_memory_after_each_step():
    torch.manual_seed(0)
    net = ActorCritic((4,), 3, (8,), recurrent=True, lstm_size=6)
    obs, next_obs = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    starts = torch.tensor([[True, True], [False, True], [False, False]])
    state = net.initial_state(2)
    logits, values, next_values = net.unroll(obs, next_obs, state, starts)
    mem = state
    for t in range(3):
        lg, v, mem = net(obs[t], mem, starts[t])
        torch.testing.assert_close(logits.reshape(3, 2, 3)[t], lg)
        torch.testing.assert_close(values.reshape(3, 2)[t], v)
        _, nv, _ = net(next_obs[t], mem)
        torch.testing.assert_close(next_values.reshape(3, 2)[t], nv)


# ---- rollouts and their targets (in-process) -------------------------------------------------------


def test_a3c_rollout_bootstraps_at_time_limits_not_at_terminations():
    # CountTrunc: a time limit after 3 steps (index 2); CountTerm: terminates every 2 steps (indices 1 and 3)
    for env_id, trunc_at, term_at in (("FastrlTestCountTrunc-v0", 2, ()), ("FastrlTestCountTerm-v0", None, (1, 3))):
        agent = A3C(env_id=env_id, num_workers=1, t_max=5, gamma=0.5, seed=0)
        try:
            worker, link = A3CWorker(agent, 0, 0), _Link()
            worker.rollout(link)
            assert link.global_step == 5
            ended = trunc_at if trunc_at is not None else term_at[0]
            # the transition that ended the episode keeps the TRUE final observation, not the reset one
            assert worker.next_obs[ended, 0, 0] == ended + 1 and worker.obs[ended + 1, 0, 0] == 0
            assert worker.truncated[:, 0].tolist() == [t == trunc_at for t in range(5)]
            assert worker.terminated[:, 0].tolist() == [t in term_at for t in range(5)]
            # next_values[t] is V(s_{t+1}): the next step's value inside an episode, its own value where the
            # episode ended (the final observation) or the rollout ends
            values = torch.arange(5, dtype=torch.float32)
            next_values = torch.tensor([1.0, 2.0, 3.0, 4.0, 14.0])
            next_values[ended] = 10.0 + ended
            adv, ret = worker._targets(values, next_values)
            expected, following = np.zeros(5), 0.0
            for t in reversed(range(5)):
                if worker.terminated[t, 0]:
                    following = 0.0
                elif worker.truncated[t, 0] or t == 4:
                    following = float(next_values[t])
                following = worker.rewards[t, 0] + 0.5 * following
                expected[t] = following
            np.testing.assert_allclose(ret.numpy(), expected, rtol=1e-6)
            np.testing.assert_allclose(adv.numpy(), expected - values.numpy(), rtol=1e-6)
            worker.runner.close()
        finally:
            agent.close()


def test_nsq_rollout_targets_and_target_copies():
    agent = NSQ(env_id="FastrlTestCountTrunc-v0", num_workers=1, t_max=4, gamma=0.5, i_target=4,
                exploration_final_eps=0.0, exploration_fraction=0.0, seed=0)
    try:
        worker, link = NSQWorker(agent, 0, 0), _Link()
        before = agent.target_params.clone()
        worker.rollout(link)
        # one update crossed i_target: the target is the updated Q-function
        assert not torch.equal(agent.target_params, before)
        torch.testing.assert_close(agent.target_params, agent.optimizer.params, rtol=0, atol=0)
        next_max = torch.tensor([1.0, 2.0, 3.0, 4.0])
        targets = worker._targets(next_max)
        # obs t: [0,0] [1,0] [2,0] (truncated after it) [0,1]; rewards 1 + t
        r = worker.rewards[:, 0]
        assert worker.truncated[:, 0].tolist() == [False, False, True, False]
        expected_last = r[3] + 0.5 * 4.0
        expected_trunc = r[2] + 0.5 * 3.0
        np.testing.assert_allclose(targets.reshape(-1), [r[0] + 0.5 * (r[1] + 0.5 * expected_trunc),
                                                         r[1] + 0.5 * expected_trunc, expected_trunc,
                                                         expected_last], rtol=1e-6)
        worker.runner.close()
    finally:
        agent.close()


def test_nsq_final_epsilons_are_drawn_per_worker():
    agent = NSQ(env_id="CartPole-v1", num_workers=1, seed=3)
    try:
        finals = set()
        for wid in range(12):
            worker = NSQWorker(agent, wid, 0)
            finals.add(worker.epsilon.end)
            assert worker.epsilon.start == 1.0
            worker.runner.close()
        assert finals == {eps for eps, _ in FINAL_EPSILONS}
    finally:
        agent.close()


# ---- workers: reproducibility, learning, checkpoints -----------------------------------------------


@pytest.mark.parametrize("cls", [A3C, NSQ])
def test_one_worker_is_reproducible(cls):
    params = []
    for _ in range(2):
        agent = cls(env_id="CartPole-v1", num_workers=1, seed=5, total_steps=3000, log_interval=500)
        agent.train()
        params.append(agent.optimizer.params.clone())
        assert agent.worker_pids and agent.num_episodes > 0
        agent.close()
        assert agent.worker_pids == []
    torch.testing.assert_close(params[0], params[1], rtol=0, atol=0)


@pytest.mark.parametrize("recurrent", [False, True])
def test_a3c_learns_cartpole(recurrent):
    # One worker: seeded and reproducible on a given machine. The recurrent network shares its torso between
    # the policy and the value, so the value loss (returns up to ~100) is scaled down to leave the policy room.
    kw = dict(recurrent=True, lstm_size=32, hidden_sizes=(64,), vf_coef=0.02) if recurrent else {}
    steps = 150_000 if recurrent else 300_000
    agent = A3C(env_id="CartPole-v1", num_workers=1, seed=0, total_steps=steps, **kw)
    try:
        agent.train()
        assert agent.global_step >= steps and agent.num_episodes > 100
        assert agent.num_updates == agent.global_step // (8 * 5)  # 8 envs, t_max 5
        # random play: ~22; this machine, seeds 0-4: 94-500 (MLP), 128-206 (LSTM)
        assert agent.evaluate(10).mean() > 60
    finally:
        agent.close()


def test_nsq_learns_cartpole():
    agent = NSQ(env_id="CartPole-v1", num_workers=1, seed=0, total_steps=150_000)
    try:
        agent.train()
        assert agent.evaluate(10).mean() > 60  # random play: ~22; this machine, seeds 0-2: 163-270
    finally:
        agent.close()


@pytest.mark.parametrize("cls", [A3C, NSQ])
def test_save_load_resume(tmp_path, cls):
    agent = cls(env_id="CartPole-v1", num_workers=2, seed=1, total_steps=4000, recurrent=cls is NSQ, lstm_size=16)
    try:
        agent.train(2000)
        path = agent.save(tmp_path / "ckpt.pt")
        step, episodes, updates = agent.global_step, agent.num_episodes, agent.num_updates
        params, saved_opt = agent.optimizer.params.clone(), agent.optimizer.state_dict()
    finally:
        agent.close()
    loaded = load_agent(path)
    try:
        assert isinstance(loaded, cls) and loaded.global_step == step and loaded.num_episodes == episodes
        assert loaded.num_updates == updates > 0
        torch.testing.assert_close(loaded.optimizer.params, params, rtol=0, atol=0)
        assert list(loaded.recent_returns) == list(agent.recent_returns)
        for name in ("square_avg", "step"):
            assert torch.equal(torch.as_tensor(loaded.optimizer.state_dict()[name]), torch.as_tensor(saved_opt[name]))
        if cls is NSQ:
            torch.testing.assert_close(loaded.target_params, agent.target_params)
        loaded.train()  # continues to total_steps with fresh workers
        assert loaded.global_step >= 4000
        actions = loaded.act(np.zeros((3, 4), np.float32))
        assert actions.shape == (3,)
        loaded.reset_memory()  # (NSQ here is recurrent: act carries a memory between calls)
        from_float64 = loaded.act(np.zeros((3, 4)))
        loaded.reset_memory()
        np.testing.assert_array_equal(from_float64, loaded.act(np.zeros((3, 4), np.float32)))
        with pytest.raises(ValueError, match="obs"):
            loaded.act(np.zeros((3, 5), np.float32))
    finally:
        loaded.close()
    small = cls.load(path, inference_only=True)
    assert small.global_step == step and small.worker_pids == []
    assert small.evaluate(2).shape == (2,)
    small.close()


# ---- errors and shutdown ---------------------------------------------------------------------------


class _CrashEnv(gym.Env):
    """CartPole's spaces; raises on its 30th step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t >= 30:
            raise RuntimeError("the env broke on purpose")
        return np.zeros(4, np.float32), 1.0, False, False, {}


gym.register("FastrlTestCrash-v0", entry_point=_CrashEnv)


@pytest.mark.parametrize("cls", [A3C, NSQ])
def test_a_failing_worker_stops_every_worker(cls):
    agent = cls(env_id="FastrlTestCrash-v0", num_workers=2, seed=0, total_steps=100_000)
    with pytest.raises(WorkerError, match="the env broke on purpose"):
        agent.train()
    assert agent.worker_pids == [] and multiprocessing.active_children() == []
    agent.close()


_SCRIPT = textwrap.dedent("""
    import signal
    # Ctrl-C as in a terminal: a test runner started in the background may hand down SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fastrl.agents import A3C
    agent = A3C(env_id="CartPole-v1", num_workers=2, seed=0, total_steps=10**9)
    def announce(a):
        if not getattr(a, "_announced", False):
            print("PIDS", *a.worker_pids, flush=True)
            a._announced = True
    agent.train(callback=announce, callback_interval=1000)
""")


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_interrupt_or_killed_main_process_leaves_no_worker(tmp_path, how):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), line + proc.stderr.read()
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        if how == "sigint":
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode != 0 and "KeyboardInterrupt" in err
        else:
            proc.kill()
            proc.wait(timeout=30)
        assert _wait_gone(pids), f"workers {pids} outlived the main process"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        for p in (proc.stdout, proc.stderr):
            p.close()


def test_a3c_atari_smoke_through_the_command_line(tmp_path, capsys):
    from fastrl.cli import main

    assert main(["train", "a3c", "--env", "PongNoFrameskip-v4", "--num-workers", "2", "--total-steps", "400",
                 "--log-interval", "200", "--no-progress", "--no-tensorboard", "--runs-dir", str(tmp_path),
                 "--name", "pong", "--eval-episodes", "0"]) == 0
    agent = A3C.load(tmp_path / "pong" / "checkpoints" / "last.pt")
    try:
        assert agent.global_step >= 400 and agent.obs_shape == (4, 84, 84)
        assert agent.config.rms_eps == 0.1 and agent.config.num_workers == 2  # the Atari preset, workers overridden
        frames = np.zeros((2, 4, 84, 84), np.uint8)
        assert agent.act(frames).shape == (2,)
    finally:
        agent.close()


def test_sample_categorical_draws_from_the_softmax():
    from fastrl.agents.actor_critic import sample_categorical

    logits = torch.tensor([[0.0, 1.0, -1.0], [5.0, -5.0, 0.0]]).repeat(50_000, 1)
    actions = sample_categorical(logits, np.random.default_rng(0))
    assert actions.dtype == np.int64 and actions.shape == (100_000,)
    for row in range(2):
        freq = np.bincount(actions[row::2], minlength=3) / 50_000
        np.testing.assert_allclose(freq, torch.softmax(logits[row], 0).numpy(), atol=0.01)
