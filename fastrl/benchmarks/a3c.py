"""``fastrl bench a3c``: fastrl's A3C beside PFRL's A3C, same settings, same machine, one after the other.

Both train on CartPole-v1 with Hogwild worker processes of one env each, t_max 5, a 64x64 policy MLP and a
separate 64x64 value MLP, shared RMSprop with eps 0.1 inside the square root (lr 7e-4, constant, alpha
0.99), beta 0.01, gamma 0.99 and gradient-norm clipping at 40, one torch thread per process, for the same
number of global env steps, with 1 and with 2 processes (``--processes``). Printed: global env steps per
second (worker start-up included, for both), the ratio at each process count, fastrl's scaling from 1
process to the most, and the greedy return each reached (20 episodes) so speed is not bought with a broken
learner. PFRL (``pip install --no-deps pfrl==0.4.0``) is optional; without it fastrl runs alone.
"""

from __future__ import annotations

import argparse
import time


def run_fastrl(steps: int, processes: int, seed: int) -> dict[str, float]:
    """fastrl's A3C with PFRL's settings: wall time, global env steps/s and greedy return."""
    from fastrl.agents import A3C

    agent = A3C(env_id="CartPole-v1", seed=seed, total_steps=steps, num_workers=processes, num_envs=1, t_max=5,
                hidden_sizes=(64, 64), learning_rate=7e-4, learning_rate_final=7e-4, rms_alpha=0.99, rms_eps=0.1,
                ent_coef=0.01, gamma=0.99, max_grad_norm=40.0)
    try:
        start = time.perf_counter()
        agent.train(steps)
        wall = time.perf_counter() - start
        ret = agent.evaluate(20)
    finally:
        agent.close()
    return {"wall": wall, "sps": agent.global_step / wall, "return": float(ret.mean())}


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` (``--steps``, ``--quick``, ``--processes``, ``--seed``) and prints the comparison."""
    from fastrl.benchmarks._pfrl_a3c import run_pfrl

    parser = argparse.ArgumentParser(
        prog="fastrl bench a3c",
        description="fastrl's A3C beside PFRL's on CartPole-v1 (one env per process, t_max 5, 64x64 MLPs, shared "
        "RMSprop with eps inside the square root), same global env steps: steps per second, ratio, scaling with "
        "processes, greedy return.")
    parser.add_argument("--steps", type=int, default=100_000, help="global env steps per run (default: 100000)")
    parser.add_argument("--quick", action="store_true", help="20000 steps per run")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="worker process counts to run (default: 1 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 20_000 if args.quick else args.steps
    if steps <= 0 or min(args.processes) <= 0:
        parser.error("--steps and --processes must be positive")
    print(f"A3C on CartPole-v1, PFRL's settings, {steps} global env steps per run, 1 torch thread per process")
    rows: list[tuple[str, int, dict[str, float]]] = []
    pfrl_missing = False
    for p in args.processes:
        rows.append(("fastrl", p, run_fastrl(steps, p, args.seed)))
        if not pfrl_missing:
            pfrl = run_pfrl(steps, p, args.seed)
            if pfrl is None:
                pfrl_missing = True
            else:
                rows.append(("PFRL", p, pfrl))
    if pfrl_missing:
        print("pfrl is not installed (pip install --no-deps pfrl==0.4.0): fastrl only")
    print(f"{'library':<8} {'procs':>5} {'wall s':>8} {'steps/s':>9} {'greedy return':>14}")
    for name, p, r in rows:
        print(f"{name:<8} {p:>5} {r['wall']:>8.1f} {r['sps']:>9.0f} {r['return']:>14.1f}")
    sps = {(name, p): r["sps"] for name, p, r in rows}
    for p in args.processes:
        if ("PFRL", p) in sps:
            print(f"fastrl / PFRL steps/s with {p} process(es): {sps['fastrl', p] / sps['PFRL', p]:.2f}x")
    low, high = min(args.processes), max(args.processes)
    if high > low:
        print(f"fastrl scaling, {high} vs {low} process(es): {sps['fastrl', high] / sps['fastrl', low]:.2f}x")
