"""Shared code of ``fastrl bench td3`` and ``fastrl bench ddpg``: fastrl's agent, Stable-Baselines3's and the
floor, side by side in one process on Pendulum-v1.

Two settings: rl-zoo's tuned Pendulum settings (400x300 networks, batch 256: compute-bound on a CPU) and the
same with 64x64 networks (overhead-bound). Each library first collects ``learning_starts`` random steps
(untimed), then trains for ``--steps`` env steps with one gradient step per env step, timed. The floor is a
bare eager-mode update of the same networks on random batches: plain ``nn.Sequential`` modules,
``torch.optim.Adam`` and Polyak averaging with ``torch._foreach_lerp_``; no env, no replay, no bookkeeping.
Every library runs on the CPU with the same torch thread count (1 by default).
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

SETTINGS = {"zoo": (400, 300), "small": (64, 64)}
ZOO = dict(gamma=0.98, learning_rate=1e-3, train_freq=1, gradient_steps=1, batch_size=256, tau=0.005)


def run_fastrl(algo: str, hidden: tuple[int, ...], warmup: int, steps: int, seed: int) -> dict[str, float]:
    """fastrl's agent with rl-zoo's Pendulum settings and ``hidden`` networks: seconds per timed env step."""
    from fastrl.agents import DDPG, TD3

    cls = TD3 if algo == "td3" else DDPG
    agent = cls(env_id="Pendulum-v1", seed=seed, hidden_sizes=hidden, learning_starts=warmup,
                total_steps=warmup + steps, torch_threads=0, action_noise="normal", action_noise_sigma=0.1,
                buffer_size=200_000, **ZOO)
    agent.train(warmup)
    start = time.perf_counter()
    agent.train(steps)
    wall = time.perf_counter() - start
    agent.close()
    return {"step_s": wall / steps}


def run_sb3(algo: str, hidden: tuple[int, ...], warmup: int, steps: int, seed: int) -> dict[str, float] | None:
    """The same with Stable-Baselines3 (None when it is not installed)."""
    try:
        import gymnasium as gym
        import numpy as np
        from stable_baselines3 import DDPG as SB3DDPG
        from stable_baselines3 import TD3 as SB3TD3
        from stable_baselines3.common.noise import NormalActionNoise
    except ImportError:
        return None
    cls = SB3TD3 if algo == "td3" else SB3DDPG
    model = cls("MlpPolicy", gym.make("Pendulum-v1"), policy_kwargs=dict(net_arch=list(hidden)), seed=seed,
                device="cpu", verbose=0, buffer_size=200_000, learning_starts=warmup,
                action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)), **ZOO)
    model.learn(total_timesteps=warmup)
    start = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    wall = time.perf_counter() - start
    return {"step_s": wall / steps}


def run_floor(algo: str, hidden: tuple[int, ...], updates: int, seed: int) -> dict[str, float]:
    """A bare eager update of the same networks on random batches: seconds per update."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    obs_dim, act_dim, batch = 3, 1, ZOO["batch_size"]

    def mlp(inp: int, out: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(inp, h), nn.ReLU()]
            inp = h
        return nn.Sequential(*layers, nn.Linear(inp, out))

    actor = nn.Sequential(mlp(obs_dim, act_dim), nn.Tanh())
    critics = nn.ModuleList(mlp(obs_dim + act_dim, 1) for _ in range(2 if algo == "td3" else 1))
    actor_t, critics_t = copy.deepcopy(actor), copy.deepcopy(critics)
    opt_a = torch.optim.Adam(actor.parameters(), lr=1e-3)
    opt_c = torch.optim.Adam(critics.parameters(), lr=1e-3)
    pairs = [(list(actor_t.parameters()), list(actor.parameters())),
             (list(critics_t.parameters()), list(critics.parameters()))]
    delay = 2 if algo == "td3" else 1
    data = [tuple(torch.randn(batch, d) for d in (obs_dim, act_dim, 1, obs_dim)) for _ in range(16)]

    def update(i: int) -> None:
        obs, act, rew, next_obs = data[i % len(data)]
        with torch.no_grad():
            a2 = actor_t(next_obs) * 2.0
            if algo == "td3":
                a2 = (a2 + (torch.randn_like(a2) * 0.4).clamp(-1.0, 1.0)).clamp(-2.0, 2.0)
            x2 = torch.cat([next_obs, a2], 1)
            q2 = torch.min(torch.cat([c(x2) for c in critics_t], 1), dim=1, keepdim=True).values
            y = rew + 0.98 * q2
        x = torch.cat([obs, act], 1)
        loss = sum(nn.functional.mse_loss(c(x), y) for c in critics)
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()
        if i % delay == 0:
            actor_loss = -critics[0](torch.cat([obs, actor(obs) * 2.0], 1)).mean()
            opt_a.zero_grad()
            actor_loss.backward()
            opt_a.step()
            with torch.no_grad():
                for target, online in pairs:
                    torch._foreach_lerp_(target, online, 0.005)

    for i in range(max(updates // 10, 20)):  # warm-up
        update(i)
    start = time.perf_counter()
    for i in range(updates):
        update(i)
    return {"step_s": (time.perf_counter() - start) / updates}


def main(algo: str, argv: list[str] | None = None) -> None:
    """Parses ``argv`` and prints both settings, fastrl beside SB3 and the floor."""
    import torch

    parser = argparse.ArgumentParser(
        prog=f"fastrl bench {algo}",
        description=f"fastrl's {algo.upper()} beside Stable-Baselines3's and the floor (a bare eager-mode update of "
        "the same networks on random batches: no env, no replay, no bookkeeping), on Pendulum-v1 with rl-zoo's "
        "settings (batch 256, one gradient step per env step) at 400x300 and 64x64. Each library collects "
        "--warmup random steps untimed, then trains --steps env steps, timed.")
    parser.add_argument("--steps", type=int, default=3000, help="timed env steps (= gradient steps) per library")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed random steps first (learning_starts)")
    parser.add_argument("--quick", action="store_true", help="300 timed steps after 300 random ones")
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["zoo", "small"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every library (default: 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps, warmup = (300, 300) if args.quick else (args.steps, args.warmup)
    if steps <= 0 or warmup < ZOO["batch_size"] or args.threads <= 0:
        parser.error(f"--steps and --threads must be positive and --warmup at least {ZOO['batch_size']}")
    torch.set_num_threads(args.threads)
    print(f"{algo.upper()} on Pendulum-v1, rl-zoo settings (batch 256, one gradient step per env step), CPU, "
          f"{args.threads} torch thread(s); {steps} timed steps after {warmup} random ones")
    print(f"{'setting':<16} {'library':<8} {'ms/step':>8} {'steps/s':>8} {'vs floor':>9} {'vs SB3':>7}")
    for name in args.settings:
        hidden = SETTINGS[name]
        label = f"{name} {hidden[0]}x{hidden[1]}"
        rows: dict[str, Any] = {"floor": run_floor(algo, hidden, steps, args.seed),
                                "fastrl": run_fastrl(algo, hidden, warmup, steps, args.seed)}
        sb3 = run_sb3(algo, hidden, warmup, steps, args.seed)
        if sb3 is not None:
            rows["SB3"] = sb3
        floor = rows["floor"]["step_s"]
        for lib, r in rows.items():
            ratio_floor = f"{r['step_s'] / floor:.2f}x"
            ratio_sb3 = f"{sb3['step_s'] / r['step_s']:.2f}x" if sb3 is not None and lib == "fastrl" else ""
            print(f"{label:<16} {lib:<8} {r['step_s'] * 1e3:>8.2f} {1 / r['step_s']:>8.0f} {ratio_floor:>9} "
                  f"{ratio_sb3:>7}")
        if sb3 is None:
            print(f"{label:<16} stable-baselines3 is not installed (pip install \".[bench]\"): no SB3 row")
    print("ms/step: wall time per env step with its gradient step (floor: per bare update); "
          "vs SB3: SB3's time per step / fastrl's")
