"""``fastrl bench a2c``: fastrl's A2C beside Stable-Baselines3's A2C, same settings, same process.

Both train on CartPole-v1 with rl-zoo's tuned SB3 settings (8 envs, n_steps 5, RMSprop 7e-4 with alpha 0.99
and eps 1e-5, gamma 0.99, gae_lambda 1, ent_coef 0, vf_coef 0.5, max_grad_norm 0.5, 64x64 networks) on one
torch thread each, for the same number of env steps (summed over the envs), and print env steps per second,
the ratio and the greedy return each reached (20 episodes), so speed is not bought with a broken learner.
"""

from __future__ import annotations

import argparse
import time


def run_fastrl(steps: int, seed: int) -> dict[str, float]:
    """fastrl's A2C with the preset: wall time, env steps/s and greedy return."""
    from fastrl.agents import A2C

    agent = A2C(env_id="CartPole-v1", seed=seed, total_steps=steps, torch_threads=0)
    start = time.perf_counter()
    agent.train(steps)
    wall = time.perf_counter() - start
    ret = agent.evaluate(20)
    agent.close()
    return {"wall": wall, "sps": agent.global_step / wall, "return": float(ret.mean())}


def run_sb3(steps: int, seed: int) -> dict[str, float] | None:
    """The same run with Stable-Baselines3 (None when it is not installed)."""
    try:
        import gymnasium as gym
        from stable_baselines3 import A2C as SB3A2C
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.monitor import Monitor
    except ImportError:
        return None
    model = SB3A2C("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=seed), seed=seed, device="cpu",
                   verbose=0, ent_coef=0.0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    mean, _ = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=20, deterministic=True)
    return {"wall": wall, "sps": model.num_timesteps / wall, "return": float(mean)}


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` (``--steps``, ``--quick``, ``--threads``, ``--seed``) and prints the comparison."""
    import torch

    parser = argparse.ArgumentParser(
        prog="fastrl bench a2c",
        description="fastrl's A2C beside Stable-Baselines3's on CartPole-v1 with rl-zoo's settings (8 envs, "
        "n_steps 5), same env steps, one torch thread each: env steps per second, ratio, greedy return.")
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per library (default: 200000)")
    parser.add_argument("--quick", action="store_true", help="20000 steps per library")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each library (default: 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 20_000 if args.quick else args.steps
    if steps <= 0 or args.threads <= 0:
        parser.error("--steps and --threads must be positive")
    torch.set_num_threads(args.threads)
    print(f"A2C on CartPole-v1, rl-zoo settings (8 envs, n_steps 5), {steps} env steps each, CPU, "
          f"{args.threads} torch thread(s)")
    results = {"fastrl": run_fastrl(steps, args.seed)}
    sb3 = run_sb3(steps, args.seed)
    if sb3 is None:
        print("stable-baselines3 is not installed (pip install \".[bench]\"): fastrl only")
    else:
        results["SB3"] = sb3
    print(f"{'library':<8} {'wall s':>8} {'steps/s':>9} {'greedy return':>14}")
    for name, r in results.items():
        print(f"{name:<8} {r['wall']:>8.1f} {r['sps']:>9.0f} {r['return']:>14.1f}")
    if sb3 is not None:
        print(f"fastrl / SB3 steps/s: {results['fastrl']['sps'] / sb3['sps']:.2f}x")
