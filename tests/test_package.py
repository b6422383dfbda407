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
                     "PendulumVecEnv", "_ReplayCore", "_replay_upfront_bytes", "_set_batch_type"}


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        fastrl.no_such_name  # noqa: B018


def test_import_is_lazy(tmp_path):
    # importing fastrl must not drag in torch or numba (cwd outside the tree: test the installed package)
    code = "import sys, fastrl; print('torch' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["False", "False"]


def test_cli_rejects_unknown_benchmark(capsys):
    assert cli.main(["bench", "no-such-bench"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
