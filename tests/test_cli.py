"""The command line: train, resume, eval, plot on tiny budgets in a temporary directory."""

import argparse
import dataclasses
import importlib.util
import json
from typing import Any

import pytest
import torch

from fastrl.agents import DQN, REGISTRY, DQNConfig, agent_classes
from fastrl.cli import build_parser, config_options, main
from fastrl.logger import read_metrics

TINY = ["--env", "CartPole-v1", "--learning-starts", "200", "--train-freq", "8", "--gradient-steps", "2",
        "--hidden-sizes", "32", "32", "--batch-size", "32", "--buffer-size", "5000", "--log-interval", "100",
        "--eval-episodes", "2", "--no-progress"]


def _rows(run):
    # perf/sps and wall times are timings; every other metric must match step for step
    return [(s, t, v) for s, t, v, _ in read_metrics(run / "metrics.csv") if t != "perf/sps"]


def test_train_writes_the_run_directory(tmp_path, capsys):
    assert main(["train", "dqn", *TINY, "--total-steps", "600", "--seed", "1", "--runs-dir", str(tmp_path),
                 "--name", "a", "--double", "true", "--exploration-fraction", "0.5"]) == 0
    run = tmp_path / "a"
    saved = json.loads((run / "config.json").read_text())
    assert saved["algo"] == "dqn"
    cfg = saved["config"]
    assert (cfg["total_steps"], cfg["seed"], cfg["double"], cfg["hidden_sizes"]) == (600, 1, True, [32, 32])
    assert cfg["exploration_fraction"] == 0.5 and cfg["gradient_steps"] == 2 and cfg["learning_rate"] == 2.3e-3
    assert (run / "checkpoints" / "last.pt").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    tags = {t for _, t, _ in _rows(run)}
    assert {"charts/episodic_return", "charts/epsilon", "losses/td_loss", "charts/eval_return"} <= tags
    assert "greedy return over 2 episodes" in capsys.readouterr().out
    # the same name again is refused, with a hint to resume
    assert main(["train", "dqn", *TINY, "--runs-dir", str(tmp_path), "--name", "a"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_continues_exactly(tmp_path):
    common = [*TINY, "--seed", "2", "--runs-dir", str(tmp_path), "--eval-episodes", "0", "--no-tensorboard"]
    assert main(["train", "dqn", *common, "--total-steps", "1000", "--name", "straight"]) == 0
    assert main(["train", "dqn", *common, "--total-steps", "1000", "--steps", "500", "--name", "split"]) == 0
    assert DQN.load(tmp_path / "split" / "checkpoints" / "last.pt", inference_only=True).global_step == 500
    assert main(["train", "--resume", str(tmp_path / "split"), "--no-progress", "--eval-episodes", "0",
                 "--no-tensorboard"]) == 0
    straight = DQN.load(tmp_path / "straight" / "checkpoints" / "last.pt")
    split = DQN.load(tmp_path / "split" / "checkpoints" / "last.pt")
    assert split.global_step == straight.global_step == 1000
    for x, y in zip(straight.q_net.parameters(), split.q_net.parameters(), strict=True):
        assert torch.equal(x, y)
    # the metrics' step axis continues: same rows as the uninterrupted run
    assert _rows(tmp_path / "split") == _rows(tmp_path / "straight")
    assert json.loads((tmp_path / "split" / "config.json").read_text())["config"]["total_steps"] == 1000


def test_eval_and_plot(tmp_path, capsys):
    assert main(["train", "dqn", *TINY, "--total-steps", "400", "--runs-dir", str(tmp_path), "--name", "r"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "r"), "--episodes", "3"]) == 0
    out = capsys.readouterr().out
    assert "greedy return over 3 episodes" in out and "+-" in out
    assert main(["eval", str(tmp_path / "r" / "checkpoints" / "last.pt"), "--episodes", "1"]) == 0
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "neither" in capsys.readouterr().err
    if importlib.util.find_spec("matplotlib") is None:
        assert main(["plot", str(tmp_path / "r")]) == 1
        assert "matplotlib" in capsys.readouterr().err
    else:
        assert main(["plot", str(tmp_path / "r"), str(tmp_path / "r"), "--smooth", "2"]) == 0
        png = tmp_path / "r" / "learning_curve.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert main(["plot", str(tmp_path / "r"), "--tag", "losses/td_loss", "--out", str(tmp_path / "l.png")]) == 0
        assert (tmp_path / "l.png").is_file()


def test_bad_arguments(tmp_path, capsys):
    assert main(["train", "dqn", "--env", "CartPole-v1", "--learning-rate", "-1", "--runs-dir", str(tmp_path)]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 2
    assert main(["train"]) == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "dqn", "--double", "maybe"])
    with pytest.raises(SystemExit):
        main(["train", "dqn", "--no-such-field", "1"])


def test_help_lists_algorithms_and_their_fields(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name, entry in REGISTRY.items():
        assert name in out and entry.summary.split()[0] in out
    assert "--target-update-interval" not in out  # fields are listed per algorithm
    with pytest.raises(SystemExit):
        main(["train", "dqn", "--help"])
    out = capsys.readouterr().out
    assert "--target-update-interval" in out and "env steps between target-network updates" in out


def test_unknown_algorithm_is_a_clean_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "nope", "--env", "CartPole-v1"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        agent_classes("nope")
    run = tmp_path / "odd"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "nope", "config": {}}))
    assert main(["train", "--resume", str(run)]) == 2
    assert "unknown algorithm 'nope'" in capsys.readouterr().err


@dataclasses.dataclass
class _PlainConfig:
    """A config written without ``from __future__ import annotations``: its annotations are real types."""

    count: int | None = None
    """an int."""
    rate: float = 0.5
    """a float."""
    flag: bool | None = None
    """a bool."""
    sizes: tuple[int, ...] | None = None
    """ints."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """a dict."""
    name: str = "x"
    """a str."""


@pytest.mark.parametrize("config_cls", [_PlainConfig, DQNConfig])
def test_config_options_types_without_and_with_postponed_annotations(config_cls):
    assert isinstance(_PlainConfig.__annotations__["count"], type(int | None))  # really not strings
    assert isinstance(DQNConfig.__annotations__["batch_size"], str)              # really strings
    parser = argparse.ArgumentParser()
    config_options(parser, config_cls)
    if config_cls is _PlainConfig:
        args = parser.parse_args(["--count", "3", "--rate", "0.25", "--flag", "false", "--sizes", "4", "5",
                                  "--extra", '{"a": 1}', "--name", "y"])
        assert (args.count, args.rate, args.flag, args.sizes, args.extra, args.name) == (
            3, 0.25, False, [4, 5], {"a": 1}, "y")
    else:
        args = parser.parse_args(["--batch-size", "3", "--gamma", "0.5", "--double", "true", "--hidden-sizes", "4"])
        assert (args.batch_size, args.gamma, args.double, args.hidden_sizes) == (3, 0.5, True, [4])


def test_eval_reads_the_algorithm_from_a_bare_checkpoint(tmp_path, capsys):
    assert main(["train", "dqn", *TINY, "--total-steps", "300", "--runs-dir", str(tmp_path), "--name", "r",
                 "--eval-episodes", "0"]) == 0
    bare = tmp_path / "elsewhere.pt"
    bare.write_bytes((tmp_path / "r" / "checkpoints" / "last.pt").read_bytes())
    capsys.readouterr()
    assert main(["eval", str(bare), "--episodes", "2"]) == 0
    assert "greedy return over 2 episodes" in capsys.readouterr().out
    bare.write_bytes(b"not a checkpoint")
    assert main(["eval", str(bare)]) == 2
    assert "not a fastrl checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("algo", ["ddpg", "td3"])
def test_continuous_control_end_to_end(tmp_path, capsys, algo):
    small = ["--env", "Pendulum-v1", "--hidden-sizes", "16", "16", "--batch-size", "16", "--learning-starts", "100",
             "--buffer-size", "2000", "--log-interval", "100", "--no-progress", "--no-tensorboard", "--seed", "3",
             "--runs-dir", str(tmp_path), "--eval-episodes", "0"]
    assert main(["train", algo, *small, "--total-steps", "400", "--name", "straight"]) == 0
    assert main(["train", algo, *small, "--total-steps", "400", "--steps", "200", "--name", "split"]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--no-progress", "--eval-episodes", "0",
                 "--no-tensorboard"]) == 0
    agent_cls, _ = agent_classes(algo)
    straight = agent_cls.load(tmp_path / "straight" / "checkpoints" / "last.pt")
    split = agent_cls.load(tmp_path / "split" / "checkpoints" / "last.pt")
    assert split.global_step == straight.global_step == 400 and split.num_updates == 300
    for x, y in zip(straight.actor.parameters(), split.actor.parameters(), strict=True):
        assert torch.equal(x, y)
    assert _rows(tmp_path / "split") == _rows(tmp_path / "straight")
    tags = {t for _, t, _ in _rows(tmp_path / "straight")}
    assert {"charts/episodic_return", "losses/critic_loss", "losses/actor_loss", "losses/q_values"} <= tags
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "split"), "--episodes", "2"]) == 0
    assert "Pendulum-v1: greedy return over 2 episodes" in capsys.readouterr().out
    if importlib.util.find_spec("matplotlib") is not None:
        assert main(["plot", str(tmp_path / "split")]) == 0
        assert (tmp_path / "split" / "learning_curve.png").is_file()
    # the published settings, by name
    assert main(["train", algo, "--preset", "paper", "--total-steps", "150", "--buffer-size", "500",
                 "--hidden-sizes", "32", "24", "--name", "paper", "--runs-dir", str(tmp_path), "--no-progress",
                 "--eval-episodes", "0", "--no-tensorboard"]) == 0
    saved = json.loads((tmp_path / "paper" / "config.json").read_text())
    assert saved["algo"] == algo and saved["config"]["preset"] == "paper"
    assert saved["config"]["batch_size"] == (64 if algo == "ddpg" else 100)
    # a Discrete task is refused with one line
    assert main(["train", algo, "--env", "CartPole-v1", "--runs-dir", str(tmp_path), "--name", "bad",
                 "--no-progress"]) == 2
    assert "Box" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_every_help_text_is_plain(capsys):
    """Help comes from docstrings; none of their reST markup reaches the terminal."""
    from fastrl.benchmarks import AVAILABLE

    commands = [[], ["train"], ["eval"], ["plot"], *(["train", algo] for algo in REGISTRY),
                *(["bench", name] for name in AVAILABLE)]
    for cmd in commands:
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0, cmd
        out = capsys.readouterr().out
        assert out.startswith("usage:"), cmd
        for markup in ("``", ":class:`", ":func:`", ":meth:`", ":mod:`"):
            assert markup not in out, (cmd, markup)
    assert main(["bench", "--help"]) == 0
    assert "``" not in capsys.readouterr().out


def test_bench_help_and_a_quick_actor_critic_bench(capsys):
    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert "td3" in out and "ddpg" in out and "``" not in out
    with pytest.raises(SystemExit) as exc:
        main(["bench", "td3", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--settings" in out and "``" not in out
    assert main(["bench", "td3", "--quick", "--settings", "small"]) == 0
    out = capsys.readouterr().out
    assert "small 64x64      floor" in out and "small 64x64      fastrl" in out
    assert main(["bench", "nope"]) == 2


def test_bool_flags_and_resuming_without_the_replay_memory(tmp_path, capsys):
    common = [*TINY, "--runs-dir", str(tmp_path), "--eval-episodes", "0", "--no-tensorboard"]
    assert main(["train", "dqn", *common, "--total-steps", "600", "--steps", "300", "--name", "r",
                 "--no-save-replay", "--double"]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert cfg["save_replay"] is False and cfg["double"] is True
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "r"), "--no-progress", "--eval-episodes", "0",
                 "--no-tensorboard"]) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "without its replay memory" in err
    args = build_parser().parse_args(["train", "dqn", "--save-replay", "false", "--dueling"])
    assert args.save_replay is False and args.dueling is True


def test_a_run_too_large_is_one_line_and_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    import fastrl.memory

    monkeypatch.setattr(fastrl.memory, "available_bytes", lambda: 10 * 2**20)
    assert main(["train", "dqn", "--env", "CartPole-v1", "--buffer-size", "2000000", "--runs-dir", str(tmp_path),
                 "--name", "big", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--buffer-size" in err and "267 MB" in err
    assert not (tmp_path / "big").exists()


def test_a2c_end_to_end(tmp_path, capsys):
    small = ["--env", "CartPole-v1", "--hidden-sizes", "16", "--num-envs", "4", "--log-interval", "100",
             "--no-progress", "--no-tensorboard", "--seed", "5", "--runs-dir", str(tmp_path), "--eval-episodes", "0",
             "--total-steps", "800"]
    assert main(["train", "a2c", *small, "--name", "straight"]) == 0
    assert main(["train", "a2c", *small, "--steps", "400", "--name", "split"]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--no-progress", "--eval-episodes", "0",
                 "--no-tensorboard"]) == 0
    assert "note:" not in capsys.readouterr().err  # no replay memory to miss
    a, b = (agent_classes("a2c")[0].load(tmp_path / n / "checkpoints" / "last.pt") for n in ("straight", "split"))
    assert a.global_step == b.global_step == 800
    for x, y in zip(a.net.parameters(), b.net.parameters(), strict=True):
        assert torch.equal(x, y)
    assert _rows(tmp_path / "split") == _rows(tmp_path / "straight")
    assert main(["eval", str(tmp_path / "split"), "--episodes", "2"]) == 0


@pytest.mark.parametrize("algo", ["a3c", "nsq"])
def test_hogwild_agents_end_to_end(tmp_path, capsys, algo):
    common = ["--no-progress", "--no-tensorboard", "--runs-dir", str(tmp_path), "--eval-episodes", "2"]
    assert main(["train", algo, "--env", "CartPole-v1", "--num-workers", "2", "--num-envs", "2", "--total-steps",
                 "3000", "--log-interval", "500", "--checkpoint-interval", "1000", "--eval-interval", "1000",
                 "--name", "r", *common]) == 0
    out = capsys.readouterr().out
    assert "greedy return over 2 episodes" in out
    rows = read_metrics(tmp_path / "r" / "metrics.csv")
    tags = {t for _, t, _, _ in rows}
    assert {"charts/episodic_return", "charts/learning_rate", "perf/sps"} <= tags
    assert any(t.startswith("losses/") for t in tags)
    # periodic evaluations by the main process (at 1000 and 2000 at least) and the final one
    assert sum(t == "charts/eval_return" for _, t, _, _ in rows) >= 3
    assert json.loads((tmp_path / "r" / "config.json").read_text())["config"]["num_workers"] == 2
    assert main(["train", "--resume", str(tmp_path / "r"), "--total-steps", "4000", *common[:2],
                 "--eval-episodes", "0"]) == 0
    assert "resuming" in capsys.readouterr().out
    agent = agent_classes(algo)[0].load(tmp_path / "r" / "checkpoints" / "last.pt")
    assert agent.global_step >= 4000 and agent.config.total_steps == 4000
    agent.close()
    assert main(["eval", str(tmp_path / "r"), "--episodes", "2"]) == 0
    assert "greedy return over 2 episodes" in capsys.readouterr().out
    # a GPU is refused in one line: the workers compute on the CPU
    assert main(["train", algo, "--device", "cuda", "--runs-dir", str(tmp_path), "--name", "gpu",
                 "--no-progress"]) == 2
    assert "device" in capsys.readouterr().err and not (tmp_path / "gpu").exists()


def test_bench_a3c_runs_and_reports_scaling(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "a3c", "--help"])
    assert exc.value.code == 0 and "--processes" in capsys.readouterr().out
    assert main(["bench", "a3c", "--steps", "2000", "--processes", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "fastrl       1" in out and "fastrl       2" in out and "fastrl scaling, 2 vs 1" in out


def test_none_parses_for_every_optional_field(tmp_path, capsys):
    import typing

    from fastrl.cli import _given_fields

    parser = build_parser()
    for algo in REGISTRY:
        _, config_cls = agent_classes(algo)
        hints = typing.get_type_hints(config_cls)
        for f in dataclasses.fields(config_cls):
            if type(None) not in typing.get_args(hints[f.name]):
                continue
            option = "--env" if f.name == "env_id" else "--" + f.name.replace("_", "-")
            args = parser.parse_args(["train", algo, option, "None"])
            assert f.name not in _given_fields(args, config_cls), (algo, f.name)
    # left to the default: A2C's learning rate stays constant
    assert main(["train", "a2c", "--learning-rate-final", "none", "--total-steps", "80", "--num-envs", "4",
                 "--no-progress", "--no-tensorboard", "--eval-episodes", "0", "--runs-dir", str(tmp_path),
                 "--name", "n"]) == 0
    assert json.loads((tmp_path / "n" / "config.json").read_text())["config"]["learning_rate_final"] is None
    assert main(["train", "dqn", "--hidden-sizes", "3", "None", "--runs-dir", str(tmp_path), "--name", "m"]) == 2
    assert "None alone" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_mistakes_are_one_error_line_and_exit_2(tmp_path, capsys):
    common = ["--runs-dir", str(tmp_path), "--name", "r", "--no-progress"]
    cases = [
        (["train", "dqn", "--env", "CartPoel-v1", *common], "fastrl train: error: unknown env_id"),
        (["train", "dqn", "--env", "Pendulum-v1", *common], "fastrl train: error: "),
        (["train", "--resume", str(tmp_path / "missing")], "fastrl train: error: --resume"),
        (["eval", str(tmp_path / "missing")], "fastrl eval: error: "),
        (["plot", str(tmp_path / "missing"), "--out", str(tmp_path / "p.png")], "fastrl plot: error: "),
        (["bench", "nope"], "fastrl bench: error: unknown benchmark"),
    ]
    for argv, start in cases:
        if argv[0] == "plot" and importlib.util.find_spec("matplotlib") is None:
            continue
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(start) and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "r").exists()


SMALLEST = {
    "replay": ["--quick", "--cases", "cartpole"],
    "vector": ["--seconds", "0.05"],
    "vector_atari": ["--rounds", "2", "--steps", "5"],
    "returns": ["--quick", "--steps", "64", "--envs", "8"],
    "dqn": ["--settings", "zoo", "--steps", "1500"],
    "dqn_atari": ["--settings", "nature", "--steps", "8", "--warmup", "40"],
    "ddpg": ["--settings", "small", "--steps", "50", "--warmup", "256"],
    "td3": ["--settings", "small", "--steps", "50", "--warmup", "256"],
    "a2c": ["--steps", "2000"],
    "a3c": ["--steps", "2000", "--processes", "1"],
    "apex": ["--steps", "1000", "--actors", "1"],
}


def test_every_benchmark_runs_at_its_smallest_setting(capsys):
    """Each `fastrl bench NAME` prints fastrl's figures beside a peer's, or says which peer is not installed."""
    from fastrl.benchmarks import AVAILABLE

    assert set(SMALLEST) == set(AVAILABLE)
    for name in AVAILABLE:
        assert main(["bench", name, *SMALLEST[name]]) == 0, name
        out = capsys.readouterr().out
        assert "fastrl" in out, name
        peers = ("SB3", "SyncVectorEnv", "ale-py", "cpprb", "PFRL", "lfilter", "numpy loop", "EnvPool", "DQN")
        assert any(p in out for p in peers) or "not installed" in out, (name, out)
