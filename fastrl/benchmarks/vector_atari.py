"""Atari stepping throughput: fastrl's ``make_vec("ALE/Pong-v5")`` beside ale-py's ``AtariVectorEnv`` and
EnvPool, on the same game with the same preprocessing, in one process.

Every library gets the same settings: frame skip 4 with max-pooling, 84x84 grayscale, a stack of 4,
up to 30 reset no-ops, no FIRE at reset, sticky actions 0.25 (ALE v5), reward clipping, no episodic life,
27000-step time limit; the same pre-drawn random actions; ``num_envs`` envs on ``num_threads`` threads,
every step waits for all envs (``batch_size == num_envs``). Many short timed rounds rotate over the
libraries so that load from other processes hits each alike; the totals are reported as agent steps/s
(one step = one action in one env) and frames/s (x frame skip), with the median round beside them.

Usage: ``fastrl bench vector_atari [--quick] [--num-envs 8] [--num-threads 2] [--steps 25] [--rounds 96]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

FRAME_SKIP = 4
STICKY = 0.25
MAX_STEPS = 27_000


def _fastrl(num_envs: int, num_threads: int, seed: int) -> tuple[Callable, Callable]:
    from fastrl.vector import make_vec

    env = make_vec("ALE/Pong-v5", num_envs, seed=seed, num_threads=num_threads, frameskip=FRAME_SKIP,
                   repeat_action_probability=STICKY, episodic_life=False, reward_clipping=True, noop_max=30,
                   use_fire_reset=False, max_episode_steps=MAX_STEPS)
    return env.reset, env.step


def _ale_py(num_envs: int, num_threads: int, seed: int) -> tuple[Callable, Callable]:
    from ale_py.vector_env import AtariVectorEnv

    env = AtariVectorEnv("pong", num_envs, num_threads=num_threads, frameskip=FRAME_SKIP,
                         repeat_action_probability=STICKY, episodic_life=False, reward_clipping=True,
                         noop_max=30, use_fire_reset=False, max_num_frames_per_episode=MAX_STEPS * FRAME_SKIP)
    return (lambda: env.reset(seed=seed)), env.step


def _envpool(num_envs: int, num_threads: int, seed: int) -> tuple[Callable, Callable]:
    import envpool

    env = envpool.make_gymnasium("Pong-v5", num_envs=num_envs, batch_size=num_envs, num_threads=num_threads,
                                 seed=seed, frame_skip=FRAME_SKIP, repeat_action_probability=STICKY,
                                 episodic_life=False, reward_clip=True, noop_max=30, use_fire_reset=False,
                                 stack_num=4, img_height=84, img_width=84, gray_scale=True,
                                 max_episode_steps=MAX_STEPS)
    return env.reset, env.step


PEERS = {"fastrl": _fastrl, "ale-py AtariVectorEnv": _ale_py, "EnvPool": _envpool}


def _time_steps(step: Callable, actions: np.ndarray) -> float:
    """Seconds for ``len(actions)`` batched steps."""
    start = time.perf_counter()
    for a in actions:
        step(a)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Runs the benchmark and prints a table of steps/s, frames/s and the ratio fastrl / peer."""
    parser = argparse.ArgumentParser(
        prog="fastrl bench vector_atari", description="Pong steps/s: fastrl beside ale-py and EnvPool"
    )
    parser.add_argument("--quick", action="store_true", help="short run (24 rounds instead of 96)")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25, help="timed batched steps per library per round")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 96, quick 24)")
    args = parser.parse_args(argv)
    steps = args.steps
    rounds = args.rounds or (24 if args.quick else 96)
    warmup = 50

    envs = {}
    for name, factory in PEERS.items():
        try:
            envs[name] = factory(args.num_envs, args.num_threads, 0)
        except ImportError as err:
            print(f"{name}: not installed ({err}); skipped")
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 6, (rounds, steps, args.num_envs)).astype(np.int32)
    for reset, step in envs.values():
        reset()
        _time_steps(step, rng.integers(0, 6, (warmup, args.num_envs)).astype(np.int32))
    # Many short rounds in a rotating order: load from other processes, which drifts over seconds, then
    # falls on every library alike, and the totals compare the libraries on the same moments.
    seconds: dict[str, list[float]] = {name: [] for name in envs}
    names = list(envs)
    for k in range(rounds):
        for name in names[k % len(names):] + names[: k % len(names)]:
            seconds[name].append(_time_steps(envs[name][1], actions[k]))

    print(f"Pong (ALE/Pong-v5 settings), {args.num_envs} envs, {args.num_threads} threads, "
          f"{rounds} interleaved rounds x {steps} batched steps per library")
    print(f"{'library':<24}{'agent steps/s':>15}{'frames/s':>12}{'median round':>15}{'fastrl / this':>15}")
    rate = {name: rounds * steps * args.num_envs / sum(s) for name, s in seconds.items()}
    median = {name: steps * args.num_envs / float(np.median(s)) for name, s in seconds.items()}
    for name, r in rate.items():
        ratio = f"{rate['fastrl'] / r:.3f}" if "fastrl" in rate else "-"
        print(f"{name:<24}{r:>15,.0f}{r * FRAME_SKIP:>12,.0f}{median[name]:>15,.0f}{ratio:>15}")
    peers = [name for name in rate if name != "fastrl"]
    if "fastrl" in rate and peers:
        print(f"fastrl / faster peer: {rate['fastrl'] / max(rate[p] for p in peers):.3f} (totals), "
              f"{median['fastrl'] / max(median[p] for p in peers):.3f} (median rounds)")


if __name__ == "__main__":
    main()
