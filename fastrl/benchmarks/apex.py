"""``fastrl bench apex``: Ape-X DQN's throughput on Ray beside the single-process DQN on the same settings.

CartPole-v1, the Ape-X preset's learner (MLP 256x256, batch 64, 3-step returns, prioritized replay, Adam 1e-3).

- Actor throughput: with 1, 2 and 4 actors (``--actors``; fractional CPUs on a small machine) and no rate
  limit, the transitions per second arriving in the replay shards, the learner's updates per second and the
  share of the learner's wall time spent waiting on Ray (for samples or actors).
- Like with like: Ape-X with 2 actors at the preset's ratio (at most 4 sampled transitions per inserted one,
  i.e. one update per 16 env steps) beside fastrl's single-process DQN with the same network, replay and one
  update per 16 env steps: env steps per second and updates per second.

Every Ape-X run starts its own Ray instance (not timed) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from fastrl._text import plain

LEARNER = dict(learning_rate=1e-3, batch_size=64, n_step=3, hidden_sizes=(256, 256), target_update_interval=250)


def run_apex(num_actors: int, steps: int, samples_per_insert: float, seed: int) -> dict[str, Any]:
    """Trains Ape-X for ``steps`` env steps; returns its rates."""
    from fastrl.agents import ApeXDQN

    agent = ApeXDQN(env_id="CartPole-v1", seed=seed, num_actors=num_actors, actor_envs=4, min_replay_size=1000,
                    samples_per_insert=samples_per_insert, total_steps=10 * steps, buffer_size=100_000,
                    torch_threads=1, **LEARNER)
    try:
        agent.train(min(2000, steps))  # warm-up: workers started, first weights published
        steps0, updates0, inserted0 = agent.global_step, agent.num_updates, agent.transitions
        wait0, train0 = agent.wait_seconds, agent.train_seconds
        start = time.perf_counter()
        agent.train(steps)
        wall = time.perf_counter() - start
        return {"actors": num_actors, "wall": wall, "env_sps": (agent.global_step - steps0) / wall,
                "transitions_s": (agent.transitions - inserted0) / wall,
                "updates_s": (agent.num_updates - updates0) / wall,
                "wait_share": (agent.wait_seconds - wait0) / max(agent.train_seconds - train0, 1e-9)}
    finally:
        agent.close()


def run_dqn(steps: int, seed: int) -> dict[str, Any]:
    """fastrl's single-process DQN with the same learner, one update per 16 env steps."""
    from fastrl.agents import DQN

    agent = DQN(env_id="CartPole-v1", seed=seed, total_steps=10 * steps, buffer_size=100_000, learning_starts=1000,
                train_freq=16, gradient_steps=1, prioritized=True, double=True, torch_threads=1,
                learning_rate_final=LEARNER["learning_rate"], **LEARNER)
    try:
        agent.train(min(2000, steps))
        steps0, updates0 = agent.global_step, agent.num_updates
        start = time.perf_counter()
        agent.train(steps)
        wall = time.perf_counter() - start
        return {"wall": wall, "env_sps": (agent.global_step - steps0) / wall,
                "updates_s": (agent.num_updates - updates0) / wall}
    finally:
        agent.close()


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` and prints the tables."""
    parser = argparse.ArgumentParser(prog="fastrl bench apex", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4], help="actor counts (default: 1 2 4)")
    parser.add_argument("--steps", type=int, default=60_000, help="timed env steps per run (default: 60000)")
    parser.add_argument("--quick", action="store_true", help="10000 timed steps per run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 10_000 if args.quick else args.steps
    if steps <= 0 or any(n <= 0 for n in args.actors):
        parser.error("--steps and --actors must be positive")
    try:
        import ray  # noqa: F401
    except ImportError:
        print('ray is not installed (pip install "fastrl[ray]"): Ape-X is skipped; fastrl DQN only')
        r = run_dqn(steps, args.seed)
        print(f"fastrl DQN (single process): {r['env_sps']:.0f} env steps/s, {r['updates_s']:.0f} updates/s")
        return

    print(f"Ape-X DQN on CartPole-v1, {steps} timed env steps per run, no rate limit")
    print(f"{'actors':>6} {'transitions/s':>14} {'env steps/s':>12} {'updates/s':>10} {'learner waiting':>16}")
    base = None
    for n in args.actors:
        r = run_apex(n, steps, float("inf"), args.seed)
        base = base or r["transitions_s"]
        print(f"{n:>6} {r['transitions_s']:>14.0f} {r['env_sps']:>12.0f} {r['updates_s']:>10.0f} "
              f"{100 * r['wait_share']:>15.0f}%   ({r['transitions_s'] / base:.2f}x the first row)")
    print("\nLike with like: one update per 16 env steps (Ape-X: samples_per_insert 4, batch 64)")
    apex = run_apex(2, steps, 4.0, args.seed)
    dqn = run_dqn(steps, args.seed)
    print(f"{'library':<26} {'env steps/s':>12} {'updates/s':>10}")
    print(f"{'fastrl Ape-X (2 actors)':<26} {apex['env_sps']:>12.0f} {apex['updates_s']:>10.0f}")
    print(f"{'fastrl DQN (one process)':<26} {dqn['env_sps']:>12.0f} {dqn['updates_s']:>10.0f}")
    print(f"Ape-X / DQN env steps/s: {apex['env_sps'] / dqn['env_sps']:.2f}x")
