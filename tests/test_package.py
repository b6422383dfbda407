"""The package itself: the compiled module loads, public names resolve lazily, the CLI parses."""

import subprocess
import sys

import pytest

import fastrl
from fastrl import cli


def test_compiled_core_loads():
    from fastrl import _core

    assert isinstance(_core.__version__, str) and _core.__version__
    # the production module carries no test hooks (they live in fastrl._testing, built only for tests)
    names = {n for n in dir(_core) if not n.startswith("__")}
    assert names == {"AcrobotVecEnv", "CartPoleVecEnv", "MountainCarContinuousVecEnv", "MountainCarVecEnv",
                     "NATIVE_TASKS", "PendulumVecEnv", "_ReplayCore", "_replay_upfront_bytes", "_set_batch_type"}


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        fastrl.no_such_name  # noqa: B018


def test_import_is_lazy(tmp_path):
    # importing fastrl must not drag in torch or numba (cwd outside the tree: test the installed package)
    code = "import sys, fastrl; print('torch' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["False", "False"]
    # Ray is imported by the Ape-X agent when it starts, not by importing the agents or fastrl.distributed
    code = "import sys, fastrl.agents, fastrl.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["False"]


def test_cli_rejects_unknown_benchmark(capsys):
    assert cli.main(["bench", "no-such-bench"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_native_task_table_comes_from_the_headers():
    """Each compiled task declares its ids, spaces, reset options and settings in its header (``info``); the
    vector layer's table is built from that alone, and the type stubs name every task class."""
    from pathlib import Path

    import gymnasium as gym

    from fastrl import _core
    from fastrl.vector.native import _TASKS, NATIVE_IDS

    ids = [env_id for name in _core.NATIVE_TASKS for env_id in getattr(_core, name).info["ids"]]
    assert list(NATIVE_IDS) == ids and len(set(ids)) == len(ids)
    for env_id, task in _TASKS.items():
        spec = gym.spec(env_id)
        env = gym.make(env_id).unwrapped
        assert task.observation_space == env.observation_space and task.action_space == env.action_space, env_id
        assert task.max_episode_steps == spec.max_episode_steps, env_id
        env.close()
    stubs = (Path(_core.__file__).parent / "_core.pyi").read_text()
    for name in _core.NATIVE_TASKS:
        assert f"class {name}(_NativeVecEnv):" in stubs, name
