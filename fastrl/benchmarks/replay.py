"""``fastrl bench replay``: fastrl's replay memory beside SB3's ReplayBuffer and cpprb, in one process.

Every case runs fastrl and each peer on the same pre-generated data (continuous episodes that end in
a termination, so that every library sees a realistic stream) and prints one table row per peer
with both rates and the ratio. Rates are the median of a few timed repeats. A peer that is not
installed is reported and skipped.

Cases:
- CartPole-sized transitions (obs 4 float32, discrete action): one-at-a-time ``add``, ``add`` of
  64 envs at once, ``sample(32)``, prioritized ``sample(32)`` + ``update_priorities``.
- Atari-sized (84x84 uint8 frames, stack 4): ``add`` and ``sample(32)`` at a 100K capacity, and
  the memory each library needs (process RSS growth while building and filling the buffer).
- ``sample(32)`` of fastrl as the capacity grows from 1e4 to 1e7 (should stay flat).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import fastrl
from fastrl._text import plain


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def _rate(fn: Callable[[int], None], ops: int, repeats: int, units_per_op: float = 1.0) -> float:
    """Median units/s of ``fn(ops)`` over ``repeats`` timed runs (after one short warm-up)."""
    fn(max(1, ops // 20))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(ops)
        rates.append(ops * units_per_op / (time.perf_counter() - t0))
    return statistics.median(rates)


def _sample32(sample: Callable[[int], Any]) -> Callable[[int], None]:
    """A runner for ``_rate``: ``n`` calls of ``sample(32)``."""

    def run(n: int) -> None:
        for _ in range(n):
            sample(32)

    return run


def _fmt_rate(r: float, unit: str) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if r >= scale:
            return f"{r / scale:.2f}{suffix} {unit}"
    return f"{r:.1f} {unit}"


class _Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        print(f"{'case':<34} {'fastrl':>16} {'peer':<28} {'peer rate':>16} {'ratio':>8}  target", flush=True)

    def row(self, case: str, ours: float, peer: str, theirs: float | None, unit: str, target: str = "") -> None:
        if theirs is None:
            line = (case, _fmt_rate(ours, unit), peer, "-", "-", target)
        else:
            line = (case, _fmt_rate(ours, unit), peer, _fmt_rate(theirs, unit), f"{ours / theirs:.1f}x", target)
        self.rows.append(line)
        print(f"{line[0]:<34} {line[1]:>16} {line[2]:<28} {line[3]:>16} {line[4]:>8}  {line[5]}", flush=True)


def _peers() -> dict[str, Any]:
    found: dict[str, Any] = {}
    try:
        import cpprb

        found["cpprb"] = cpprb
    except ImportError:
        print("cpprb is not installed: its comparisons are skipped (pip install 'fastrl[bench]')")
    try:
        import gymnasium as gym
        from stable_baselines3.common.buffers import ReplayBuffer as Sb3Buffer

        found["sb3"] = (Sb3Buffer, gym)
    except ImportError:
        print("stable-baselines3 is not installed: its comparisons are skipped (pip install 'fastrl[bench]')")
    return found


# ---- the workloads (also used by the pytest-benchmark suite in bench/) ----------------------------

#: cpprb's field spec for a CartPole transition
CPPRB_CARTPOLE_FIELDS = {"obs": {"shape": 4}, "act": {"dtype": np.int64}, "rew": {}, "next_obs": {"shape": 4},
                         "done": {}}


def cpprb_atari_buffer(cpprb: Any, capacity: int) -> Any:
    """cpprb's Atari replay buffer in its frame-compressed mode (``stack_compress``: one copy of each frame,
    frames stacked on the last axis, ``(84, 84, 4)``), its most economical Atari setting."""
    return cpprb.ReplayBuffer(capacity, {"obs": {"shape": (84, 84, 4), "dtype": np.uint8},
                                         "act": {"dtype": np.int64}, "rew": {}, "done": {}},
                              next_of="obs", stack_compress="obs")


def sb3_buffer(sb3_cls: Any, gym: Any, capacity: int, atari: bool = False) -> Any:
    """SB3's ``ReplayBuffer`` for CartPole transitions, or Atari frame stacks ``(4, 84, 84)`` uint8."""
    if atari:
        return sb3_cls(capacity, gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(6),
                       device="cpu", handle_timeout_termination=False)
    return sb3_cls(capacity, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2), device="cpu")


# ---- CartPole-sized data ---------------------------------------------------------------------


def cartpole_stream(num_envs: int, steps: int, episode_len: int, seed: int) -> dict[str, np.ndarray]:
    """``steps`` consecutive steps of ``num_envs`` envs: obs[t + 1] == next_obs[t] inside an episode,
    and every env terminates at the end of each ``episode_len`` steps."""
    rng = np.random.default_rng(seed)
    states = rng.standard_normal((steps + 1, num_envs, 4)).astype(np.float32)
    terminated = np.zeros((steps, num_envs), bool)
    terminated[episode_len - 1 :: episode_len] = True
    return {
        "obs": states[:-1],
        "next_obs": states[1:],
        "action": rng.integers(0, 2, (steps, num_envs)).astype(np.int64),
        "reward": np.ones((steps, num_envs), np.float32),
        "terminated": terminated,
        "truncated": np.zeros((steps, num_envs), bool),
    }


def _bench_cartpole(table: _Table, peers: dict[str, Any], quick: bool) -> None:
    repeats = 3
    steps = 20_000 if quick else 100_000
    capacity = 100_000
    d = cartpole_stream(1, steps, 200, seed=0)
    # Per-step argument lists, built up front so that every library gets ready-made arrays.
    obs, nobs, act = list(d["obs"]), list(d["next_obs"]), list(d["action"])
    rew, term, trunc = list(d["reward"]), list(d["terminated"]), list(d["truncated"])

    def fill_fastrl(buf: Any, n: int) -> None:
        add = buf.add
        for t in range(n):
            add(obs[t], act[t], rew[t], nobs[t], term[t], trunc[t])

    buf = fastrl.ReplayBuffer(capacity, (4,), np.float32, (), np.int64, seed=0)
    ours = _rate(lambda n: fill_fastrl(buf, n), steps, repeats)

    if "sb3" in peers:
        sb = sb3_buffer(*peers["sb3"], capacity)
        sb_act = [a.reshape(1, 1) for a in act]
        infos = [{}]

        def fill_sb3(n: int) -> None:
            add = sb.add
            for t in range(n):
                add(obs[t], nobs[t], sb_act[t], rew[t], term[t], infos)

        table.row("add x1 (CartPole)", ours, "SB3 ReplayBuffer", _rate(fill_sb3, steps, repeats), "tr/s", ">= 5x")
    if "cpprb" in peers:
        cpprb = peers["cpprb"]
        cb = cpprb.ReplayBuffer(capacity, CPPRB_CARTPOLE_FIELDS)

        def fill_cpprb(n: int) -> None:
            add = cb.add
            for t in range(n):
                add(obs=obs[t], act=act[t], rew=rew[t], next_obs=nobs[t], done=term[t])

        table.row("add x1 (CartPole)", ours, "cpprb ReplayBuffer", _rate(fill_cpprb, max(1, steps // 5), repeats),
                  "tr/s")
    if not peers:
        table.row("add x1 (CartPole)", ours, "(no peer)", None, "tr/s")

    # ---- 64 envs at once ----
    envs = 64
    bsteps = 500 if quick else 2_000
    d64 = cartpole_stream(envs, bsteps, 200, seed=1)
    b_obs, b_nobs, b_act = list(d64["obs"]), list(d64["next_obs"]), list(d64["action"])
    b_rew, b_term, b_trunc = list(d64["reward"]), list(d64["terminated"]), list(d64["truncated"])
    buf64 = fastrl.ReplayBuffer(capacity, (4,), np.float32, (), np.int64, num_envs=envs, seed=0)

    def fill64(n: int) -> None:
        add = buf64.add
        for t in range(n):
            add(b_obs[t], b_act[t], b_rew[t], b_nobs[t], b_term[t], b_trunc[t])

    ours = _rate(fill64, bsteps, repeats, envs)
    if "cpprb" in peers:
        cb64 = peers["cpprb"].ReplayBuffer(capacity, CPPRB_CARTPOLE_FIELDS)
        b_act2 = [a.reshape(envs, 1) for a in b_act]

        def fill64_cpprb(n: int) -> None:
            add = cb64.add
            for t in range(n):
                add(obs=b_obs[t], act=b_act2[t], rew=b_rew[t], next_obs=b_nobs[t], done=b_term[t])

        table.row("add x64 envs (CartPole)", ours, "cpprb ReplayBuffer (batch)", _rate(fill64_cpprb, bsteps, repeats,
                                                                                       envs), "tr/s", ">= 10x")
    else:
        table.row("add x64 envs (CartPole)", ours, "(cpprb missing)", None, "tr/s")

    # ---- sample(32) from full buffers ----
    n_sample = 20_000 if quick else 100_000
    for _ in range(max(0, capacity // steps - 1)):
        fill_fastrl(buf, steps)

    sample_fastrl = _sample32(buf.sample)

    ours = _rate(sample_fastrl, n_sample, repeats)
    best_peer: tuple[str, float] | None = None
    if "sb3" in peers:
        for _ in range(max(0, capacity // steps - 1)):
            fill_sb3(steps)

        sample_sb3 = _sample32(sb.sample)

        r = _rate(sample_sb3, max(1, n_sample // 20), repeats)
        table.row("sample(32) (CartPole)", ours, "SB3 ReplayBuffer", r, "batch/s")
        best_peer = ("SB3", r)
    if "cpprb" in peers:
        for _ in range(max(0, capacity // steps)):
            cb.add(obs=d["obs"][:, 0], act=d["action"], rew=d["reward"], next_obs=d["next_obs"][:, 0],
                   done=d["terminated"])

        sample_cpprb = _sample32(cb.sample)

        r = _rate(sample_cpprb, max(1, n_sample // 5), repeats)
        table.row("sample(32) (CartPole)", ours, "cpprb ReplayBuffer", r, "batch/s")
        if best_peer is None or r > best_peer[1]:
            best_peer = ("cpprb", r)
    if best_peer is not None:
        table.row("sample(32) (CartPole)", ours, f"faster peer ({best_peer[0]})", best_peer[1], "batch/s", ">= 10x")

    # ---- prioritized sample(32) + update_priorities ----
    pbuf = fastrl.PrioritizedReplayBuffer(capacity, (4,), np.float32, (), np.int64, seed=0)
    for _ in range(max(1, capacity // steps)):
        fill_fastrl(pbuf, steps)
    prio = np.random.default_rng(2).random(32) + 0.01

    def per_fastrl(n: int) -> None:
        s, u = pbuf.sample, pbuf.update_priorities
        for _ in range(n):
            u(s(32, 0.4).indices, prio)

    ours = _rate(per_fastrl, n_sample, repeats)
    if "cpprb" in peers:
        pcb = peers["cpprb"].PrioritizedReplayBuffer(capacity, CPPRB_CARTPOLE_FIELDS, alpha=0.6)
        for _ in range(max(1, capacity // steps)):
            pcb.add(obs=d["obs"][:, 0], act=d["action"], rew=d["reward"], next_obs=d["next_obs"][:, 0],
                    done=d["terminated"])

        def per_cpprb(n: int) -> None:
            s, u = pcb.sample, pcb.update_priorities
            for _ in range(n):
                u(s(32, beta=0.4)["indexes"], prio)

        table.row("PER sample(32)+update (CartPole)", ours, "cpprb PrioritizedReplayBuffer",
                  _rate(per_cpprb, max(1, n_sample // 5), repeats), "round/s", ">= 10x")
    else:
        table.row("PER sample(32)+update (CartPole)", ours, "(cpprb missing)", None, "round/s")


# ---- Atari-sized data ---------------------------------------------------------------------------


def atari_episode(length: int, seed: int) -> dict[str, np.ndarray]:
    """One episode of frame stacks (length, 4, 84, 84) as gymnasium's FrameStackObservation makes
    them (the first stack repeats the reset frame), ending in a termination."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (length + 1, 84, 84), dtype=np.uint8)
    padded = np.concatenate([np.repeat(frames[:1], 3, axis=0), frames])  # 3 padding frames + frames
    idx = np.arange(length + 1)[:, None] + np.arange(4)[None, :]
    stacks = padded[idx]  # (length + 1, 4, 84, 84): stacks[t] ends with frames[t]
    terminated = np.zeros(length, bool)
    terminated[-1] = True
    return {"obs": stacks[:-1], "next_obs": stacks[1:], "terminated": terminated,
            "action": rng.integers(0, 6, length).astype(np.int64),
            "reward": rng.integers(0, 2, length).astype(np.float32)}


def _bench_atari(table: _Table, peers: dict[str, Any], quick: bool) -> None:
    capacity = 20_000 if quick else 100_000
    length = 500
    ep = atari_episode(length, seed=3)
    obs = [o[None] for o in ep["obs"]]
    nobs = [o[None] for o in ep["next_obs"]]
    act = [a.reshape(1) for a in ep["action"]]
    rew = [r.reshape(1) for r in ep["reward"]]
    term = [t.reshape(1) for t in ep["terminated"]]
    trunc = [np.zeros(1, bool)] * length
    repeats = 3
    n_add = min(capacity, 20_000)
    n_sample = 2_000 if quick else 10_000
    memory: list[tuple[str, float]] = []
    gc.collect()

    # fastrl: build, fill to capacity (measuring RSS growth), then time add and sample.
    rss0 = _rss_bytes()
    buf = fastrl.ReplayBuffer(capacity, (4, 84, 84), np.uint8, (), np.int64, frame_stack=4, seed=0)

    def fill_fastrl(n: int) -> None:
        add = buf.add
        for t in range(n):
            i = t % length
            add(obs[i], act[i], rew[i], nobs[i], term[i], trunc[i])

    fill_fastrl(capacity)
    memory.append(("fastrl", _rss_bytes() - rss0))
    add_ours = _rate(fill_fastrl, n_add, repeats)

    sample_fastrl = _sample32(buf.sample)

    sample_ours = _rate(sample_fastrl, n_sample, repeats)
    buf = None  # frees the fastrl buffer before the peers are measured
    gc.collect()

    if "cpprb" in peers:
        cpprb = peers["cpprb"]
        c_obs = [np.ascontiguousarray(o.transpose(1, 2, 0)) for o in ep["obs"]]  # cpprb stacks on the last axis
        c_nobs = [np.ascontiguousarray(o.transpose(1, 2, 0)) for o in ep["next_obs"]]
        rss0 = _rss_bytes()
        cb = cpprb_atari_buffer(cpprb, capacity)

        def fill_cpprb(n: int) -> None:
            add = cb.add
            for t in range(n):
                i = t % length
                add(obs=c_obs[i], act=act[i], rew=rew[i], next_obs=c_nobs[i], done=term[i])
                if i == length - 1:
                    cb.on_episode_end()

        fill_cpprb(capacity)
        memory.append(("cpprb (stack_compress)", _rss_bytes() - rss0))
        n_peer = max(1, n_add // 4)
        table.row("add (Atari 84x84x4)", add_ours, "cpprb (stack_compress)", _rate(fill_cpprb, n_peer, repeats),
                  "tr/s", ">= 5x")

        sample_cpprb = _sample32(cb.sample)

        table.row("sample(32) (Atari 84x84x4)", sample_ours, "cpprb (stack_compress)",
                  _rate(sample_cpprb, max(1, n_sample // 10), repeats), "batch/s", ">= 5x")
        del cb, c_obs, c_nobs
        gc.collect()
    else:
        table.row("add (Atari 84x84x4)", add_ours, "(cpprb missing)", None, "tr/s")
        table.row("sample(32) (Atari 84x84x4)", sample_ours, "(cpprb missing)", None, "batch/s")

    if "sb3" in peers:
        rss0 = _rss_bytes()
        sb = sb3_buffer(*peers["sb3"], capacity, atari=True)
        sb_act = [a.reshape(1, 1) for a in act]
        infos = [{}]

        def fill_sb3(n: int) -> None:
            add = sb.add
            for t in range(n):
                i = t % length
                add(obs[i], nobs[i], sb_act[i], rew[i], term[i], infos)

        fill_sb3(capacity)
        memory.append(("SB3 ReplayBuffer", _rss_bytes() - rss0))
        table.row("add (Atari 84x84x4)", add_ours, "SB3 ReplayBuffer", _rate(fill_sb3, max(1, n_add // 4), repeats),
                  "tr/s")

        sample_sb3 = _sample32(sb.sample)

        table.row("sample(32) (Atari 84x84x4)", sample_ours, "SB3 ReplayBuffer",
                  _rate(sample_sb3, max(1, n_sample // 20), repeats), "batch/s")
        del sb
        gc.collect()

    raw = capacity * 84 * 84
    print(f"\nmemory, Atari {capacity} transitions (84x84 uint8 frames, stack 4; raw frames alone {raw / 1e9:.3f} GB):")
    for name, b in memory:
        target = "  (target <= 0.75 GB at 100K)" if name == "fastrl" and capacity == 100_000 else ""
        print(f"  {name:<26} RSS growth {b / 1e9:.3f} GB{target}")
    print()


def _bench_flat(quick: bool) -> None:
    caps = [10_000, 100_000, 1_000_000] if quick else [10_000, 100_000, 1_000_000, 10_000_000]
    envs = 1000
    d = cartpole_stream(envs, 100, 100, seed=4)
    a_obs, a_nobs, a_act = list(d["obs"]), list(d["next_obs"]), list(d["action"])
    a_rew, a_term, a_trunc = list(d["reward"]), list(d["terminated"]), list(d["truncated"])
    print("fastrl sample(32) vs capacity (CartPole-sized, full buffer):")
    for cap in caps:
        buf = fastrl.ReplayBuffer(cap, (4,), np.float32, (), np.int64, num_envs=envs, seed=0)
        for t in range(cap // envs):
            i = t % 100
            buf.add(a_obs[i], a_act[i], a_rew[i], a_nobs[i], a_term[i], a_trunc[i])

        sample = _sample32(buf.sample)

        r = _rate(sample, 20_000 if quick else 100_000, 3)
        print(f"  capacity {cap:>10,}: {_fmt_rate(r, 'batch/s')}")
        del buf
        gc.collect()


def main(argv: list[str] | None = None) -> None:
    """Runs the replay benchmarks and prints one table row per (case, peer)."""
    parser = argparse.ArgumentParser(prog="fastrl bench replay", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run (smaller buffers, fewer ops)")
    parser.add_argument("--cases", default="cartpole,atari,flat",
                        help="comma-separated subset of: cartpole, atari, flat (default: all)")
    args = parser.parse_args(argv)
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    unknown = cases - {"cartpole", "atari", "flat"}
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    print(f"fastrl {fastrl.__version__} replay benchmark: one process, {os.cpu_count()} CPUs, "
          f"{'quick' if args.quick else 'full'} run; rates are transitions (tr), batches or rounds per second\n")
    peers = _peers()
    table = _Table()
    if "cartpole" in cases:
        _bench_cartpole(table, peers, args.quick)
    if "atari" in cases:
        _bench_atari(table, peers, args.quick)
    if "flat" in cases:
        _bench_flat(args.quick)
