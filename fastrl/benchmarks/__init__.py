"""Side-by-side throughput benchmarks against the libraries people use today.

Each module here measures fastrl and its peers on the same work in one process and prints a table
with the ratio; ``fastrl bench NAME`` runs module ``NAME``. Every module exposes
``main(argv: list[str] | None) -> None``. Peers come from the ``[bench]`` extra; a missing peer is
reported and skipped, never faked.
"""

AVAILABLE = ("replay", "vector", "vector_atari", "returns", "dqn", "dqn_atari", "ddpg", "td3", "a2c", "a3c", "apex")
