"""The ``fastrl`` command line."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module


def _cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    from fastrl.benchmarks import AVAILABLE

    names = args.names or list(AVAILABLE)
    for name in names:
        if name not in AVAILABLE:
            print(f"fastrl bench: unknown benchmark {name!r}; choose from {', '.join(AVAILABLE)}",
                  file=sys.stderr)
            return 2
    for name in names:
        try:
            module = import_module(f"fastrl.benchmarks.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"fastrl.benchmarks.{name}":
                print(f"fastrl bench: benchmark {name!r} is not available in this build", file=sys.stderr)
                return 2
            raise
        module.main(rest)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastrl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser(
        "bench",
        help="throughput of fastrl beside its peers, measured on this machine",
        description="Runs fastrl and its peers on the same work in one process and prints ratios. "
        "Options after the names are passed to each benchmark (try `fastrl bench replay --help`).",
    )
    bench.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    bench.set_defaults(func=_cmd_bench, passthrough=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return int(args.func(args, rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
