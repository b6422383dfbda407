"""``fastrl bench dqn``: fastrl's DQN beside Stable-Baselines3's DQN, same settings, same process.

Both train on CartPole-v1 with rl-zoo's tuned SB3 hyperparameters (lr 2.3e-3, batch 64, buffer 100K,
learning_starts 1000, gamma 0.99, target update every 10 steps, train_freq 256 with 128 gradient steps,
epsilon 1 -> 0.04 over the first 16%, MLP 256x256, max_grad_norm 10, one env, plain DQN: no Double DQN).
Each library runs the same number of env steps on the CPU. Threads: by default each library runs as its
users run it: SB3 with torch's default thread count, fastrl with its CartPole preset's one torch thread (on a
2-core machine shared with other jobs a second thread was sometimes faster, sometimes slower); ``--threads``
and ``--sb3-threads`` set them. The table gives wall time, env steps per second, gradient steps per second and
the ratio, plus the greedy return each agent reached (20 episodes), so speed is not bought with a broken
learner.
"""

from __future__ import annotations

import argparse
import time

ZOO = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
           target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
           exploration_final_eps=0.04)


def run_fastrl(steps: int, seed: int, threads: int) -> dict[str, float]:
    """Trains fastrl's DQN with the zoo settings; returns wall time, steps/s, updates and greedy return."""
    from fastrl.agents import DQN, DQNConfig

    # learning_rate_final = learning_rate: a constant rate, as SB3's (the CartPole preset decays it to 0)
    cfg = DQNConfig(env_id="CartPole-v1", seed=seed, total_steps=steps, hidden_sizes=(256, 256), double=False,
                    dueling=False, n_step=1, prioritized=False, max_grad_norm=10.0, exploration_initial_eps=1.0,
                    tau=1.0, torch_threads=threads, learning_rate_final=ZOO["learning_rate"], **ZOO)
    agent = DQN(cfg)
    start = time.perf_counter()
    agent.train(steps)
    wall = time.perf_counter() - start
    ret = agent.evaluate(20)
    agent.close()
    return {"wall": wall, "sps": steps / wall, "updates": agent.num_updates, "return": float(ret.mean())}


def run_sb3(steps: int, seed: int, threads: int) -> dict[str, float] | None:
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
    model = SB3DQN("MlpPolicy", gym.make("CartPole-v1"), policy_kwargs=dict(net_arch=[256, 256]), seed=seed,
                   device="cpu", verbose=0, max_grad_norm=10.0, **ZOO)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    mean, _ = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=20, deterministic=True)
    return {"wall": wall, "sps": steps / wall, "updates": float(model._n_updates), "return": float(mean)}


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` (``--steps``, ``--quick``, ``--threads``, ``--seed``) and prints the comparison."""
    import torch

    parser = argparse.ArgumentParser(prog="fastrl bench dqn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per library (default: 50000)")
    parser.add_argument("--quick", action="store_true", help="10000 steps per library")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of fastrl (default: 1, its preset)")
    parser.add_argument("--sb3-threads", type=int, default=torch.get_num_threads(),
                        help=f"torch threads of SB3 (default: torch's default here, {torch.get_num_threads()})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 10_000 if args.quick else args.steps
    if steps <= ZOO["learning_starts"]:
        parser.error(f"--steps must exceed learning_starts ({ZOO['learning_starts']})")
    if args.threads <= 0 or args.sb3_threads <= 0:
        parser.error("--threads and --sb3-threads must be positive")

    print(f"DQN on CartPole-v1, rl-zoo settings, {steps} env steps each, CPU; torch threads: fastrl "
          f"{args.threads}, SB3 {args.sb3_threads}")
    results = {"fastrl": run_fastrl(steps, args.seed, args.threads)}
    sb3 = run_sb3(steps, args.seed, args.sb3_threads)
    if sb3 is None:
        print("stable-baselines3 is not installed (pip install \".[bench]\"): fastrl only")
    else:
        results["SB3"] = sb3
    print(f"{'library':<8} {'wall s':>8} {'steps/s':>9} {'updates/s':>10} {'greedy return':>14}")
    for name, r in results.items():
        print(f"{name:<8} {r['wall']:>8.1f} {r['sps']:>9.0f} {r['updates'] / r['wall']:>10.0f} {r['return']:>14.1f}")
    if sb3 is not None:
        print(f"fastrl / SB3 steps/s: {results['fastrl']['sps'] / sb3['sps']:.2f}x")
