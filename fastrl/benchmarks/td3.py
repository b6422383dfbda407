"""``fastrl bench td3``: fastrl's TD3 beside Stable-Baselines3's and the floor (a bare eager update of the same
networks), on Pendulum-v1 with rl-zoo's settings at 400x300 and at 64x64; see
:mod:`fastrl.benchmarks._actor_critic`."""

from __future__ import annotations

from fastrl.benchmarks._actor_critic import main as _main


def main(argv: list[str] | None = None) -> None:
    """Parses ``argv`` (``--steps``, ``--warmup``, ``--quick``, ``--settings``, ``--threads``, ``--seed``) and prints
    the comparison."""
    _main("td3", argv)
