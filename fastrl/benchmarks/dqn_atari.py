"""``fastrl bench dqn_atari``: DQN training on Pong, fastrl beside Stable-Baselines3 and the floor.

Both libraries train the Nature CNN (4 stacked 84x84 grayscale frames) with plain DQN: batch 32, Adam 1e-4,
gamma 0.99, Huber loss, a target copy every 1000 updates, the DQN preprocessing of PongNoFrameskip-v4 (frame
skip 4, max-pooling, no-op resets; SB3 through its ``make_atari_env`` + ``VecFrameStack``), one env, on the
CPU with the same torch thread count (2 by default). Two settings:

- ``source``: one gradient step per env step (the compact Pong recipe, ``--preset pong-100k``);
- ``nature``: one gradient step per 4 env steps (the Nature paper).

Each library first fills its replay memory with ``--warmup`` random steps (untimed), then trains for
``--steps`` env steps, timed. The floor is what one training step cannot avoid, each part measured alone:
a bare eager-mode update of the same network on a random uint8 batch (``nn.Sequential``, ``torch.optim.Adam``,
the target network's forward pass, Huber loss) times the updates per env step, one forward pass to act on one
observation, and one env step of ale-py's own vector env. On a CPU the network's arithmetic is nearly all of it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from fastrl._text import plain

SETTINGS = {"source": 1, "nature": 4}  # env steps per gradient step
COMMON = dict(batch_size=32, learning_rate=1e-4, gamma=0.99, target_update_interval=1000)


def run_fastrl(train_freq: int, warmup: int, steps: int, seed: int, threads: int) -> float:
    """Seconds per env step of fastrl's DQN on Pong, after ``warmup`` untimed steps."""
    from fastrl.agents import DQN

    agent = DQN(env_id="PongNoFrameskip-v4", seed=seed, total_steps=warmup + steps, buffer_size=max(warmup + steps,
                1000), learning_starts=warmup, train_freq=train_freq, gradient_steps=1, double=False, n_step=1,
                max_grad_norm=float("inf"), torch_threads=threads, exploration_fraction=0.5,
                exploration_final_eps=0.01, log_interval=10**9, **COMMON)
    agent.train(warmup)
    start = time.perf_counter()
    agent.train(steps)
    wall = time.perf_counter() - start
    agent.close()
    return wall / steps


def run_sb3(train_freq: int, warmup: int, steps: int, seed: int, threads: int) -> float | None:
    """The same with Stable-Baselines3 (None when it is not installed)."""
    import torch

    torch.set_num_threads(threads)
    try:
        import ale_py
        import gymnasium as gym
        from stable_baselines3 import DQN as SB3DQN
        from stable_baselines3.common.env_util import make_atari_env
        from stable_baselines3.common.vec_env import VecFrameStack
    except ImportError:
        return None
    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=seed), n_stack=4)
    model = SB3DQN("CnnPolicy", env, buffer_size=max(warmup + steps, 1000), learning_starts=warmup,
                   train_freq=train_freq, gradient_steps=1, exploration_fraction=0.5, exploration_final_eps=0.01,
                   max_grad_norm=float("inf"), optimize_memory_usage=False, seed=seed, device="cpu", verbose=0,
                   **COMMON)
    model.learn(total_timesteps=warmup)
    start = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    wall = time.perf_counter() - start
    env.close()
    return wall / steps


def _per_call(fn: Any, calls: int) -> float:
    for _ in range(max(calls // 10, 3)):  # warm-up
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run_floor(seed: int, threads: int, updates: int) -> dict[str, float]:
    """Seconds per bare update, per forward pass on one observation and per ale-py env step."""
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    def nature_cnn() -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
                             nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 512),
                             nn.ReLU(), nn.Linear(512, 6))

    q, target = nature_cnn(), nature_cnn()
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=COMMON["learning_rate"])
    g = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8, generator=g)
    next_obs = torch.randint(0, 256, (32, 4, 84, 84), dtype=torch.uint8, generator=g)
    action, reward = torch.randint(0, 6, (32,), generator=g), torch.zeros(32)

    def update() -> None:
        with torch.no_grad():
            y = reward + 0.99 * target(next_obs.float().div_(255)).max(dim=1).values
        q_sa = q(obs.float().div_(255)).gather(1, action.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q_sa, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    one = obs[:1]

    def act() -> None:
        with torch.no_grad():
            q(one.float().div_(255)).argmax(dim=1)

    import ale_py
    from ale_py import roms

    ale = ale_py.ALEVectorInterface(
        rom_path=roms.get_rom_path("pong"), num_envs=1, frame_skip=4, stack_num=4, img_height=84, img_width=84,
        grayscale=True, maxpool=True, noop_max=31, use_fire_reset=False, episodic_life=False, life_loss_info=False,
        reward_clipping=False, max_episode_steps=108_000, repeat_action_probability=0.0, full_action_space=False,
        batch_size=0, num_threads=1, thread_affinity_offset=-1, autoreset_mode="NextStep")
    ale.reset([0], [seed])
    rng = np.random.default_rng(seed)
    actions = [rng.integers(0, 6, 1) for _ in range(64)]
    paddle = np.ones(1, dtype=np.float32)
    counter = [0]

    def env_step() -> None:
        ale.send(actions[counter[0] & 63], paddle)
        ale.recv()
        counter[0] += 1

    return {"update": _per_call(update, updates), "act": _per_call(act, 200), "env": _per_call(env_step, 2000)}


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` and prints both settings: fastrl, SB3 and the floor in ms per env step."""
    parser = argparse.ArgumentParser(prog="fastrl bench dqn_atari", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["source", "nature"],
                        help="settings to run (default: both)")
    parser.add_argument("--steps", type=int, default=400, help="timed env steps per library and setting "
                        "(default: 400)")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed random steps first (default: 1000)")
    parser.add_argument("--quick", action="store_true", help="100 timed steps after 300 warm-up steps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every library (default: 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps, warmup = (100, 300) if args.quick else (args.steps, args.warmup)
    if steps <= 0 or warmup < 32 or args.threads <= 0:
        parser.error("--steps and --threads must be positive and --warmup at least one batch (32)")

    print(f"DQN on PongNoFrameskip-v4 (Nature CNN, batch 32), {steps} timed env steps per library after {warmup} "
          f"warm-up steps, CPU, {args.threads} torch thread(s)")
    floor = run_floor(args.seed, args.threads, updates=max(steps // 4, 20))
    print(f"floor parts: bare update {floor['update'] * 1e3:.2f} ms, act {floor['act'] * 1e3:.2f} ms, "
          f"env step {floor['env'] * 1e3:.3f} ms")
    print(f"{'setting':<8} {'library':<8} {'ms/step':>8} {'steps/s':>8} {'vs floor':>9} {'vs SB3':>7}")
    for name in args.settings:
        freq = SETTINGS[name]
        floor_step = floor["update"] / freq + floor["act"] + floor["env"]
        rows = {"floor": floor_step, "fastrl": run_fastrl(freq, warmup, steps, args.seed, args.threads)}
        sb3 = run_sb3(freq, warmup, steps, args.seed, args.threads)
        if sb3 is not None:
            rows["SB3"] = sb3
        for lib, sec in rows.items():
            vs_sb3 = f"{sb3 / sec:.2f}x" if sb3 is not None and lib == "fastrl" else ""
            print(f"{name:<8} {lib:<8} {sec * 1e3:>8.2f} {1 / sec:>8.1f} {sec / floor_step:>8.2f}x {vs_sb3:>7}")
        if sb3 is None:
            print("stable-baselines3 is not installed (pip install \".[bench]\"): no SB3 row")
