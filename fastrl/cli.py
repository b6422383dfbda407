"""The ``fastrl`` command line.

- ``fastrl train ALGO --env ID [--total-steps N] [--seed S] [--device cpu|cuda] [--<field> value ...]``
  trains an agent with a progress bar and writes ``runs/<name>/``: ``config.json`` (the resolved config),
  TensorBoard events and ``metrics.csv`` (the same scalars), and ``checkpoints/last.pt``;
- ``fastrl train --resume runs/<name>`` continues that run exactly where its last checkpoint left it;
- ``fastrl eval <run or checkpoint> [--episodes N] [--video DIR]`` prints the greedy return's mean and std;
- ``fastrl plot runs/<name> [...]`` writes a PNG learning curve of one or several runs;
- ``fastrl bench NAME`` runs a side-by-side throughput benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import types
import typing
import warnings
from importlib import import_module
from pathlib import Path
from typing import Any

from fastrl._text import plain
from fastrl.agents import REGISTRY, agent_classes, load_agent

CONFIG_NAME = "config.json"
CHECKPOINT = Path("checkpoints") / "last.pt"


def _cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    from fastrl.benchmarks import AVAILABLE

    if not args.names and any(a in ("-h", "--help") for a in rest):
        args.bench_parser.print_help()
        return 0
    names = args.names or list(AVAILABLE)
    for name in names:
        if name not in AVAILABLE:
            print(f"fastrl bench: error: unknown benchmark {name!r}; choose from {', '.join(AVAILABLE)}",
                  file=sys.stderr)
            return 2
    for name in names:
        try:
            module = import_module(f"fastrl.benchmarks.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"fastrl.benchmarks.{name}":
                print(f"fastrl bench: error: benchmark {name!r} is not available in this build", file=sys.stderr)
                return 2
            raise
        module.main(rest)
    return 0


# ---- train ---------------------------------------------------------------------------------------


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _or_none(convert: Any) -> Any:
    """``convert``, except that ``None`` (any case) or ``null`` gives None: the field is left to the preset or
    the default, as when the option is not given."""

    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null") else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names the type in its errors
    return parse


def _field_option(annotation: Any) -> dict[str, Any]:
    """argparse keyword arguments for a config field of type ``annotation`` (a resolved type, not a string:
    see :func:`config_options`). ``X | None`` is treated as ``X``, and its option also takes ``None``."""
    option = _field_option_of(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        option["type"] = _or_none(option["type"])  # a tuple field takes a lone None (see _given_fields)
    return option


def _field_option_of(annotation: Any) -> dict[str, Any]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            return {"type": str}
        annotation, args = inner[0], typing.get_args(inner[0])
    origin = typing.get_origin(annotation) or annotation
    if origin is tuple:
        item = args[0] if args and args[0] in (int, float, str) else int
        return {"type": item, "nargs": "+", "metavar": item.__name__.upper()}
    if origin is dict:
        return {"type": json.loads, "metavar": "JSON"}
    if origin is bool:  # --flag, --flag false, and --no-flag (added by config_options)
        return {"type": _parse_bool, "metavar": "BOOL", "nargs": "?", "const": True}
    if origin in (int, float):
        return {"type": origin}
    return {"type": str}


def field_docs(config_cls: type) -> dict[str, str]:
    """The one-line docstring under each field of a config dataclass (and of its dataclass bases), read
    from the source."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (e.g. a frozen build): options go without help
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
                docs[node.target.id] = str(after.value.value).strip()
    return docs


def config_options(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Adds an option ``--field-name`` per field of the dataclass ``config_cls`` (``--env`` too for
    ``env_id``), typed from its annotation and documented by the field's docstring. Annotations are resolved
    with ``typing.get_type_hints``, so string annotations (PEP 563) and real types both work."""
    group = parser.add_argument_group("config fields (default: the preset of --env)")
    docs = field_docs(config_cls)
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flag = f.name.replace("_", "-")
        flags = ["--env", f"--{flag}"] if f.name == "env_id" else [f"--{flag}"]
        doc = plain(docs.get(f.name, "")).replace("%", "%%") or None
        option = _field_option(hints[f.name])
        is_bool = option.get("metavar") == "BOOL"
        if doc and is_bool:
            doc = f"{doc} (--no-{flag}: false)"
        group.add_argument(*flags, dest=f.name, default=None, help=doc, **option)
        if is_bool:
            group.add_argument(f"--no-{flag}", dest=f.name, action="store_false", default=None,
                               help=argparse.SUPPRESS)


def _run_dir_for(args: argparse.Namespace, config: Any, algo: str) -> Path:
    name = args.name or f"{config.env_id.replace('/', '-')}__{algo}__{config.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    return Path(args.runs_dir) / name


def _checkpoint_interval(args: argparse.Namespace, total_steps: int) -> int:
    if args.checkpoint_interval is not None:
        return max(int(args.checkpoint_interval), 0)
    return max(total_steps // 10, 1000)


def _given_fields(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """The config fields given on the command line; ``None`` (``--field None``, or ``--sizes None`` for a
    tuple field) leaves a field to the preset or the default, as not giving it does."""
    fields = {}
    for f in dataclasses.fields(config_cls):
        value = getattr(args, f.name, None)
        if isinstance(value, list) and None in value:
            if len(value) > 1:
                raise ValueError(f"--{f.name.replace('_', '-')} takes None alone or a list of values, got {value}")
            value = None
        if value is not None:
            fields[f.name] = value
    return fields


def _cmd_train(args: argparse.Namespace, rest: list[str]) -> int:
    from fastrl.logger import Logger

    if args.resume:
        run_dir = Path(args.resume)
        cfg_path = run_dir / CONFIG_NAME
        if not cfg_path.is_file():
            print(f"fastrl train: error: --resume {str(run_dir)!r} is not a run directory (no {CONFIG_NAME})",
                  file=sys.stderr)
            return 2
        try:
            saved = json.loads(cfg_path.read_text())
            algo = saved["algo"]
            agent_cls, _ = agent_classes(algo)
        except (ValueError, KeyError, TypeError) as err:
            print(f"fastrl train: error: cannot resume {str(run_dir)!r}: {CONFIG_NAME} is not a fastrl run config "
                  f"({err})", file=sys.stderr)
            return 2
        if args.video and _video_missing("train", str(saved.get("config", {}).get("env_id", ""))):
            return 2
        overrides = {}
        # --total-steps extends (or shortens) the budget; schedules defined as fractions stretch with it.
        if args.total_steps_override is not None:
            overrides["total_steps"] = args.total_steps_override
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                agent = agent_cls.load(run_dir / CHECKPOINT, **overrides)
        except (OSError, ValueError, MemoryError) as err:
            print(f"fastrl train: error: cannot resume {str(run_dir)!r}: {err}", file=sys.stderr)
            return 2
        for w in caught:  # e.g. a run saved without its replay memory: say so in one line
            print(f"fastrl train: note: {w.message}", file=sys.stderr)
        if overrides:
            saved["config"] = agent.config.to_dict()
            cfg_path.write_text(json.dumps(saved, indent=2) + "\n")
        print(f"resuming {run_dir} at step {agent.global_step} of {agent.config.total_steps}")
        resume_step: int | None = agent.global_step
    else:
        if args.algo is None:
            print("fastrl train: error: name an algorithm (e.g. `fastrl train dqn --env CartPole-v1`) or --resume",
                  file=sys.stderr)
            return 2
        algo = args.algo
        agent_cls, config_cls = agent_classes(algo)
        try:
            fields = _given_fields(args, config_cls)
        except ValueError as err:
            print(f"fastrl train: error: {err}", file=sys.stderr)
            return 2
        if args.total_steps_override is not None:
            fields["total_steps"] = args.total_steps_override
        try:
            config = config_cls(**fields)
        except (TypeError, ValueError) as err:
            print(f"fastrl train: error: {err}", file=sys.stderr)
            return 2
        if args.video and _video_missing("train", config.env_id):
            return 2
        run_dir = _run_dir_for(args, config, algo)
        if (run_dir / CONFIG_NAME).exists():
            print(f"fastrl train: error: run directory {str(run_dir)!r} exists; continue it with "
                  f"`fastrl train --resume {run_dir}` or pick another --name", file=sys.stderr)
            return 2
        try:
            agent = agent_cls(config)  # before the run directory exists: a refused config leaves none behind
        except (ValueError, MemoryError) as err:  # a bad setting, or a run too large for this machine
            print(f"fastrl train: error: {err}", file=sys.stderr)
            return 2
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_NAME).write_text(json.dumps({"algo": algo, "config": config.to_dict()}, indent=2) + "\n")
        print(f"run directory: {run_dir}")
        resume_step = None

    checkpoint_path = run_dir / CHECKPOINT
    interval = _checkpoint_interval(args, agent.config.total_steps)
    logger = Logger(run_dir, tensorboard=not args.no_tensorboard, resume_step=resume_step)
    try:
        def checkpoint(a: Any) -> None:
            a.save(checkpoint_path)
            logger.flush()

        remaining = max(agent.config.total_steps - agent.global_step, 0)
        steps = remaining if args.steps is None else min(args.steps, remaining)
        agent.train(steps, logger=logger, progress=not args.no_progress, callback=checkpoint,
                    callback_interval=interval)
        agent.save(checkpoint_path)
        if args.eval_episodes > 0 and agent.global_step >= agent.config.total_steps:
            returns = agent.evaluate(args.eval_episodes)
            logger.log("charts/eval_return", float(returns.mean()), agent.global_step)
            print(f"greedy return over {len(returns)} episodes: {returns.mean():.2f} +- {returns.std():.2f}")
        if args.video and agent.global_step >= agent.config.total_steps:
            _record(agent, run_dir / "videos", 3)
    finally:
        logger.close()
        agent.close()
    print(f"checkpoint: {checkpoint_path}")
    return 0


# ---- eval ----------------------------------------------------------------------------------------


def _resolve_checkpoint(target: str) -> Path:
    """The checkpoint file of a run directory, or ``target`` itself when it is a file."""
    path = Path(target)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise OSError(f"{target!r} is not a run directory (no {CONFIG_NAME})")
        return path / CHECKPOINT
    if not path.is_file():
        raise OSError(f"{target!r} is neither a run directory nor a checkpoint file")
    return path


def _cmd_eval(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        agent = load_agent(_resolve_checkpoint(args.target), device=args.device, inference_only=True)
    except (OSError, ValueError) as err:
        print(f"fastrl eval: error: {err}", file=sys.stderr)
        return 2
    try:
        if args.video and _video_missing("eval", agent.config.env_id):
            return 2
        seed = agent.config.seed + 10_000 if args.seed is None else args.seed
        returns = agent.evaluate(args.episodes, seed=seed)
        print(f"{agent.config.env_id}: greedy return over {len(returns)} episodes: "
              f"{returns.mean():.2f} +- {returns.std():.2f} (min {returns.min():.1f}, max {returns.max():.1f}, "
              f"step {agent.global_step})")
        if args.video:
            _record(agent, args.video, min(args.episodes, 3), seed)
    finally:
        agent.close()
    return 0


def _video_missing(cmd: str, env_id: str) -> bool:
    """Says (one line) which extra ``--video`` needs when recording ``env_id`` cannot work here."""
    from fastrl.agents.evaluation import missing_video_dependencies

    missing = missing_video_dependencies(env_id)
    if missing:
        print(f"fastrl {cmd}: error: --video needs {' and '.join(missing)}: pip install \"fastrl[video]\"",
              file=sys.stderr)
    return bool(missing)


def _record(agent: Any, video_dir: str | Path, episodes: int, seed: int | None = None) -> None:
    for rec in agent.record_video(video_dir, episodes, seed=seed):
        print(f"video: {rec.path} ({rec.frames} frames, return {rec.episode_return:.2f})")


# ---- plot ----------------------------------------------------------------------------------------


def _cmd_plot(args: argparse.Namespace, rest: list[str]) -> int:
    from fastrl.logger import CSV_NAME, read_metrics

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("fastrl plot: error: needs matplotlib (`pip install matplotlib` or `pip install \".[plot]\"`)",
              file=sys.stderr)
        return 1
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.2))
    plotted = 0
    for run in args.runs:
        csv_path = Path(run) / CSV_NAME if Path(run).is_dir() else Path(run)
        try:
            rows = read_metrics(csv_path)
        except OSError as err:
            print(f"fastrl plot: error: {run!r}: {err}", file=sys.stderr)
            return 2
        points = sorted((s, v) for s, t, v, _ in rows if t == args.tag)
        if not points:
            print(f"fastrl plot: error: {run!r} has no {args.tag!r} values yet", file=sys.stderr)
            continue
        steps, values = np.array(points).T
        label = Path(run).name if Path(run).is_dir() else Path(run).parent.name
        ax.plot(steps, values, alpha=0.25 if args.smooth > 1 else 1.0, color=f"C{plotted}")
        if args.smooth > 1 and len(values) >= args.smooth:
            kernel = np.ones(args.smooth) / args.smooth
            ax.plot(steps[args.smooth - 1:], np.convolve(values, kernel, mode="valid"), color=f"C{plotted}",
                    label=f"{label} (mean of {args.smooth})")
        else:
            ax.plot([], [], color=f"C{plotted}", label=label)
        plotted += 1
    if not plotted:
        plt.close(fig)
        return 2
    ax.set_xlabel("env steps")
    ax.set_ylabel(args.tag)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    out = Path(args.out) if args.out else (Path(args.runs[0]) if Path(args.runs[0]).is_dir()
                                           else Path(args.runs[0]).parent) / "learning_curve.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"plot: {out}")
    return 0


# ---- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastrl", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    # Options of a run, on `fastrl train` (for --resume) and on every `fastrl train ALGO`.
    run_options = argparse.ArgumentParser(add_help=False)
    run_options.add_argument("--name", help="run name (default: <env>__<algo>__<seed>__<time>)")
    run_options.add_argument("--runs-dir", default="runs", help="parent directory of runs (default: runs)")
    run_options.add_argument("--checkpoint-interval", type=int, metavar="STEPS",
                             help="env steps between checkpoints (default: a tenth of the run; 0: only at the end)")
    run_options.add_argument("--steps", type=int, metavar="N",
                             help="stop after N env steps in this invocation (continue later with --resume)")
    run_options.add_argument("--eval-episodes", type=int, default=20,
                             help="greedy episodes evaluated at the end (default: 20; 0: none)")
    run_options.add_argument("--video", action="store_true",
                             help="at the end, record 3 greedy episodes as mp4 into <run>/videos (needs the "
                             "[video] extra)")
    run_options.add_argument("--no-progress", action="store_true", help="no progress bar")
    run_options.add_argument("--no-tensorboard", action="store_true", help="CSV metrics only")

    train = sub.add_parser(
        "train", parents=[run_options],
        help="train an agent (progress bar, TensorBoard + CSV metrics, checkpoints)",
        description="Trains an agent and writes runs/<name>/: config.json, metrics.csv, TensorBoard events "
        "and checkpoints/last.pt. `fastrl train ALGO -h` lists the algorithm's config fields; fields not "
        "given come from the preset of --env.",
    )
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    train.add_argument("--total-steps", dest="total_steps_override", type=int, metavar="N",
                       help="with --resume: the run's new total length in env steps")
    train.set_defaults(func=_cmd_train, algo=None)
    algos = train.add_subparsers(dest="algo", metavar="ALGO", title="algorithms")
    for name, entry in sorted(REGISTRY.items()):
        _, config_cls = agent_classes(name)
        algo = algos.add_parser(name, parents=[run_options], help=entry.summary,
                                description=f"Trains {entry.summary}. Config fields not given come from the "
                                "preset of --env.")
        config_options(algo, config_cls)
        algo.set_defaults(func=_cmd_train, total_steps_override=None)

    ev = sub.add_parser("eval", help="greedy return of a trained agent (mean and std)",
                        description="Runs the greedy policy of a run's last checkpoint (or a checkpoint file).")
    ev.add_argument("target", help="run directory or checkpoint file")
    ev.add_argument("--episodes", type=int, default=20, help="episodes (default: 20)")
    ev.add_argument("--seed", type=int, help="seed of the evaluation envs (default: the run's seed + 10000)")
    ev.add_argument("--device", help="torch device (default: the run's)")
    ev.add_argument("--video", metavar="DIR", help="also record up to 3 of the episodes as mp4 into DIR (needs the "
                    "[video] extra)")
    ev.set_defaults(func=_cmd_eval)

    plot = sub.add_parser("plot", help="PNG learning curve of one or several runs (needs matplotlib)")
    plot.add_argument("runs", nargs="+", help="run directories (or their metrics.csv files)")
    plot.add_argument("--out", help="output PNG (default: <first run>/learning_curve.png)")
    plot.add_argument("--tag", default="charts/episodic_return", help="metric to plot")
    plot.add_argument("--smooth", type=int, default=10, help="moving-average window in points (default: 10)")
    plot.set_defaults(func=_cmd_plot)

    from fastrl.benchmarks import AVAILABLE

    # No -h of its own: `fastrl bench NAME --help` is the benchmark's help; `fastrl bench --help` is this one's.
    bench = sub.add_parser(
        "bench", add_help=False,
        help="throughput of fastrl beside its peers, measured on this machine",
        description="Runs fastrl and its peers on the same work in one process and prints ratios. "
        "Options after the names are passed to each benchmark (try `fastrl bench replay --help`).",
    )
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help=f"benchmarks to run (default: all): {', '.join(AVAILABLE)}")
    bench.set_defaults(func=_cmd_bench, passthrough=True, bench_parser=bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "eval" and args.episodes <= 0:
        parser.error("--episodes must be positive")
    return int(args.func(args, rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
