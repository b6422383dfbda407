"""``fastrl bench dqn``: fastrl's DQN beside Stable-Baselines3's DQN, same settings, same process, and the floor.

Two CartPole-v1 settings, plain DQN (no Double DQN, 1-step returns, Huber loss) on one env, each library at
the same learning rate, constant (fastrl's CartPole preset decays it; here it does not):

- ``zoo``: rl-zoo's tuned SB3 hyperparameters (MLP 256x256, lr 2.3e-3, batch 64, buffer 100K, learning_starts
  1000, target copy every 10 steps, 128 gradient steps every 256 env steps, epsilon 1 -> 0.04 over the first
  16%, gradient norm 10). Nearly all of the time is gradient steps: compute-bound.
- ``cleanrl``: CleanRL's ``dqn.py`` CartPole settings (MLP 120x84, lr 2.5e-4, batch 128, buffer 10K,
  learning_starts 10K, target copy every 500 steps, one gradient step every 10 env steps, epsilon 1 -> 0.05
  over the first half, no gradient clipping; CleanRL's MSE loss is Huber here on both sides). One update per
  10 env steps on a small network: acting, the replay add and the per-step bookkeeping weigh as much as the
  updates.

Both libraries run on the CPU with the same torch thread count (1 by default, ``--threads``). The table gives
wall time, env steps per second, gradient steps per second, microseconds per env step and the greedy return
each agent reached (20 episodes), so speed is not bought with a broken learner. The floor is a bare eager-mode
update of the same network on a random batch (``nn.Sequential``, ``torch.optim.Adam``, the target network's
forward pass, Huber loss): no env, no replay, no bookkeeping; fastrl's own update is timed alone beside it.
"""

from __future__ import annotations

import argparse
import time

from fastrl._text import plain

SETTINGS: dict[str, dict] = {
    "zoo": dict(hidden_sizes=(256, 256), learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
                exploration_fraction=0.16, exploration_final_eps=0.04, max_grad_norm=10.0),
    "cleanrl": dict(hidden_sizes=(120, 84), learning_rate=2.5e-4, batch_size=128, buffer_size=10_000,
                    learning_starts=10_000, gamma=0.99, target_update_interval=500, train_freq=10, gradient_steps=1,
                    exploration_fraction=0.5, exploration_final_eps=0.05, max_grad_norm=float("inf")),
}


def _fastrl_agent(setting: dict, steps: int, seed: int, threads: int):
    from fastrl.agents import DQN, DQNConfig

    cfg = DQNConfig(env_id="CartPole-v1", seed=seed, total_steps=steps, double=False, dueling=False, n_step=1,
                    prioritized=False, exploration_initial_eps=1.0, tau=1.0, torch_threads=threads,
                    learning_rate_final=setting["learning_rate"], **setting)
    return DQN(cfg)


def run_fastrl(setting: dict, steps: int, seed: int, threads: int) -> dict[str, float]:
    """Trains fastrl's DQN for ``steps`` env steps; returns wall time, steps/s, updates and greedy return."""
    agent = _fastrl_agent(setting, steps, seed, threads)
    start = time.perf_counter()
    agent.train(steps)
    wall = time.perf_counter() - start
    ret = agent.evaluate(20)
    agent.close()
    return {"wall": wall, "sps": steps / wall, "updates": agent.num_updates, "return": float(ret.mean())}


def run_sb3(setting: dict, steps: int, seed: int, threads: int) -> dict[str, float] | None:
    """The same run with Stable-Baselines3 (None when it is not installed)."""
    import torch

    torch.set_num_threads(threads)
    try:
        import gymnasium as gym
        from stable_baselines3 import DQN as SB3DQN
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.monitor import Monitor
    except ImportError:
        return None
    kwargs = {k: v for k, v in setting.items() if k != "hidden_sizes"}
    model = SB3DQN("MlpPolicy", gym.make("CartPole-v1"), policy_kwargs=dict(net_arch=list(setting["hidden_sizes"])),
                   seed=seed, device="cpu", verbose=0, tau=1.0, exploration_initial_eps=1.0, **kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    mean, _ = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=20, deterministic=True)
    return {"wall": wall, "sps": steps / wall, "updates": float(model._n_updates), "return": float(mean)}


def _time_per_call(fn, calls: int) -> float:
    for _ in range(max(calls // 10, 5)):  # warm-up
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run_floor(setting: dict, seed: int, threads: int, updates: int) -> float:
    """Seconds per bare eager-mode update of the setting's network on a random CartPole-shaped batch."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    def mlp() -> nn.Sequential:
        sizes = (4, *setting["hidden_sizes"])
        layers: list[nn.Module] = []
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], 2))

    q, target = mlp(), mlp()
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=setting["learning_rate"])
    b = setting["batch_size"]
    obs, next_obs = torch.randn(b, 4), torch.randn(b, 4)
    action, reward, discount = torch.randint(0, 2, (b,)), torch.ones(b), torch.full((b,), setting["gamma"])
    clip = setting["max_grad_norm"] != float("inf")

    def update() -> None:
        with torch.no_grad():
            y = reward + discount * target(next_obs).max(dim=1).values
        q_sa = q(obs).gather(1, action.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q_sa, y)
        opt.zero_grad()
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(q.parameters(), setting["max_grad_norm"])
        opt.step()

    return _time_per_call(update, updates)


def run_fastrl_update(setting: dict, seed: int, threads: int, updates: int) -> float:
    """Seconds per gradient step of fastrl's DQN alone (sampling from a full replay memory included), in the
    phases the setting runs (``gradient_steps`` updates per phase)."""
    import numpy as np

    agent = _fastrl_agent(setting, 10 * setting["learning_starts"], seed, threads)
    rng = np.random.default_rng(seed)
    n = min(setting["buffer_size"], 10_000)
    obs = rng.standard_normal((n, 4)).astype(np.float32)
    for i in range(n):
        agent.buffer.add(obs[i:i + 1], rng.integers(0, 2, 1), np.ones(1), obs[(i + 1) % n:(i + 1) % n + 1],
                         np.zeros(1, dtype=bool), np.zeros(1, dtype=bool))
    k = setting["gradient_steps"]
    per_phase = _time_per_call(lambda: agent._train_phase(k), max(updates // k, 5))
    agent.close()
    return per_phase / k


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` (``--settings``, ``--steps``, ``--quick``, ``--threads``, ``--seed``) and prints the
    comparison."""
    parser = argparse.ArgumentParser(prog="fastrl bench dqn", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["zoo", "cleanrl"],
                        help="settings to run (default: both)")
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per library (default: 50000)")
    parser.add_argument("--quick", action="store_true", help="15000 env steps per library")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every library (default: 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 15_000 if args.quick else args.steps
    for name in args.settings:
        if steps <= SETTINGS[name]["learning_starts"]:
            parser.error(f"--steps must exceed the {name} setting's learning_starts "
                         f"({SETTINGS[name]['learning_starts']})")
    if args.threads <= 0:
        parser.error("--threads must be positive")

    print(f"DQN on CartPole-v1, {steps} env steps per library, CPU, {args.threads} torch thread(s)")
    print(f"{'setting':<8} {'library':<8} {'wall s':>7} {'steps/s':>8} {'us/step':>8} {'updates/s':>10} "
          f"{'greedy return':>14}")
    summary = []
    for name in args.settings:
        setting = SETTINGS[name]
        results = {"fastrl": run_fastrl(setting, steps, args.seed, args.threads)}
        sb3 = run_sb3(setting, steps, args.seed, args.threads)
        if sb3 is not None:
            results["SB3"] = sb3
        for lib, r in results.items():
            print(f"{name:<8} {lib:<8} {r['wall']:>7.1f} {r['sps']:>8.0f} {1e6 / r['sps']:>8.1f} "
                  f"{r['updates'] / r['wall']:>10.0f} {r['return']:>14.1f}")
        updates = 2000 if name == "cleanrl" else 1024
        floor = run_floor(setting, args.seed, args.threads, updates)
        own = run_fastrl_update(setting, args.seed, args.threads, updates)
        print(f"{name:<8} {'floor':<8} {'':>7} {'':>8} {'':>8} {1 / floor:>10.0f}   (bare eager update)")
        fr = results["fastrl"]
        line = (f"{name}: fastrl's update {own * 1e6:.0f} us = {own / floor:.2f}x the floor's {floor * 1e6:.0f} us; "
                f"per env step {1e6 / fr['sps']:.1f} us, of which updates "
                f"{own * fr['updates'] / steps * 1e6:.1f} us")
        if sb3 is None:
            line += "; stable-baselines3 is not installed (pip install \".[bench]\"): no SB3 row"
        else:
            line += f"; fastrl / SB3 env steps/s: {fr['sps'] / sb3['sps']:.2f}x"
        summary.append(line)
    for line in summary:
        print(line)
