"""PFRL's A3C on CartPole-v1, timed: the PFRL side of the A3C comparison.

PFRL 0.4.0 is written against the old ``gym`` API. ``gym`` is not a dependency here, so while ``pfrl`` is first
imported a small alias module named ``gym`` (backed by gymnasium) stands in for it, and PFRL is given a wrapper
that speaks the old API (``reset() -> obs``, ``step(a) -> (obs, reward, done, info)``, with
``info["needs_reset"]`` on a time-limit truncation, which PFRL bootstraps through instead of treating as terminal).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Iterator
from typing import Any

ENV_ID = "CartPole-v1"
# PFRL's RMSpropEpsInsideSqrt calls the deprecated ``addcmul_(value, t1, t2)`` / ``addcdiv_(value, t1, t2)``
# overloads, which torch flags with a UserWarning in the workers' updates.
_TORCH_OVERLOAD_WARNING = r"This overload of add\w+ is deprecated"


@contextlib.contextmanager
def _gym_alias() -> Iterator[None]:
    """Makes ``import gym`` (and ``gym.spaces``, ``gym.wrappers``) resolve to gymnasium while the block runs, when
    no real ``gym`` is installed; the alias is taken out of ``sys.modules`` again afterwards."""
    if importlib.util.find_spec("gym") is not None:
        yield
        return
    import gymnasium

    gym = types.ModuleType("gym", "Alias of gymnasium for libraries written against the old gym API.")
    gym.__getattr__ = lambda name: getattr(gymnasium, name)  # PEP 562: Wrapper, Env, spaces, make, ...
    gym.__version__ = gymnasium.__version__
    aliases = {"gym": gym, "gym.spaces": gymnasium.spaces, "gym.wrappers": gymnasium.wrappers}
    sys.modules.update(aliases)
    try:
        yield
    finally:
        for name, module in aliases.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


class _OldGymAPI:
    """A gymnasium env seen through the old gym API that PFRL 0.4.0 drives. ``done`` is a true termination only;
    a time-limit truncation sets ``info["needs_reset"]`` so that PFRL resets the env and bootstraps from the last
    observation. The first reset seeds the env."""

    def __init__(self, env: Any, seed: int) -> None:
        self.env = env
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self._seed: int | None = seed

    def reset(self) -> Any:
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return obs

    def step(self, action: Any) -> tuple[Any, float, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        if truncated and not terminated:
            info = {**info, "needs_reset": True}
        return obs, float(reward), bool(terminated), info

    def close(self) -> None:
        self.env.close()


def run_pfrl(steps: int, processes: int, seed: int, t_max: int = 5, hidden: tuple[int, ...] = (64, 64),
             lr: float = 7e-4) -> dict[str, float] | None:
    """PFRL's A3C (``pfrl.agents.A3C``) on CartPole-v1 with ``processes`` Hogwild worker processes, one env each,
    for ``steps`` global env steps; None when ``pfrl`` cannot be imported.

    Settings: a policy MLP ``4 -> hidden -> 2`` with ReLU and ``SoftmaxCategoricalHead`` and a separate value MLP
    ``4 -> hidden -> 1`` (joined by ``pfrl.nn.Branched``); ``SharedRMSpropEpsInsideSqrt`` with ``lr``, alpha 0.99,
    eps 1e-1 (inside the square root), constant learning rate; ``t_max`` 5, gamma 0.99, beta (entropy) 0.01,
    pi_loss_coef 1, v_loss_coef 0.5, ``max_grad_norm`` 40. Training runs through
    ``pfrl.experiments.train_agent_async`` with evaluation switched off (``eval_interval=None``: no evaluator, no
    eval envs), its log below WARNING dropped and its output folder (the final model it saves) in a temporary
    directory removed afterwards. Process ``i`` seeds PFRL's RNGs and its env's first reset with
    ``seed * processes + i``; each process runs torch on one thread. Workers are forked, as PFRL requires.

    Returns ``wall`` (seconds of the ``train_agent_async`` call: forking the workers, making their envs, training,
    joining), ``sps`` (``steps / wall``) and ``return``: the mean return of 20 episodes of the trained shared
    model acting greedily (argmax of the policy, ``agent.eval_mode()``), measured after the timing.
    """
    try:
        with _gym_alias():
            import pfrl
    except ImportError:
        return None
    import gymnasium
    import numpy as np
    import torch
    from torch import nn

    def mlp(sizes: tuple[int, ...]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return layers

    process_seeds = [seed * processes + i for i in range(processes)]

    def make_env(process_idx: int, test: bool) -> _OldGymAPI:
        torch.set_num_threads(1)  # runs inside each worker
        return _OldGymAPI(gymnasium.make(ENV_ID), process_seeds[process_idx])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        probe = gymnasium.make(ENV_ID)
        obs_dim, n_actions = int(probe.observation_space.shape[0]), int(probe.action_space.n)
        probe.close()
        model = pfrl.nn.Branched(
            nn.Sequential(*mlp((obs_dim, *hidden, n_actions)), pfrl.policies.SoftmaxCategoricalHead()),
            nn.Sequential(*mlp((obs_dim, *hidden, 1))),
        )
        optimizer = pfrl.optimizers.SharedRMSpropEpsInsideSqrt(model.parameters(), lr=lr, alpha=0.99, eps=1e-1)
        agent = pfrl.agents.A3C(model, optimizer, t_max=t_max, gamma=0.99, beta=1e-2, pi_loss_coef=1.0,
                                v_loss_coef=0.5, max_grad_norm=40.0, act_deterministically=True)
        wall = _train_async(pfrl, agent, make_env, steps, processes, process_seeds)

        agent.sync_parameters()  # the parent's acting copy of the model takes the trained shared weights
        env = gymnasium.make(ENV_ID)
        returns = []
        with agent.eval_mode():
            for episode in range(20):
                obs, _ = env.reset(seed=seed + 10_000 + episode)
                total, done = 0.0, False
                while not done:
                    obs, reward, terminated, truncated, _ = env.step(int(agent.act(obs)))
                    total += float(reward)
                    done = terminated or truncated
                returns.append(total)
        env.close()
    finally:
        torch.set_num_threads(threads)
    return {"wall": wall, "sps": steps / wall, "return": float(np.mean(returns))}


def _train_async(pfrl: Any, agent: Any, make_env: Any, steps: int, processes: int, process_seeds: list[int]) -> float:
    """``pfrl.experiments.train_agent_async`` without evaluation, quiet, in a temporary output folder: its seconds.
    Raises RuntimeError when a worker exits abnormally; other warnings raised meanwhile are re-raised afterwards."""
    import torch.multiprocessing
    from pfrl.experiments import train_agent_async as train_async_module
    from pfrl.utils import async_ as async_module

    quiet = logging.getLogger(__name__)
    pfrl_logger = logging.getLogger("pfrl")
    levels = quiet.level, pfrl_logger.level
    omp = os.environ.get("OMP_NUM_THREADS")  # train_agent_async sets it to 1 for good
    fork = torch.multiprocessing.get_context("fork")
    outdir = tempfile.mkdtemp(prefix="pfrl-a3c-")
    try:
        quiet.setLevel(logging.WARNING)
        pfrl_logger.setLevel(logging.WARNING)
        # PFRL hands closures to its workers, so they must be forked whatever the default start method is.
        async_module.mp = train_async_module.mp = fork
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", message=_TORCH_OVERLOAD_WARNING, category=UserWarning)
            start = time.perf_counter()
            pfrl.experiments.train_agent_async(
                outdir=outdir, processes=processes, make_env=make_env, steps=steps, eval_interval=None, agent=agent,
                random_seeds=process_seeds, logger=quiet)
            wall = time.perf_counter() - start
    finally:
        async_module.mp = train_async_module.mp = torch.multiprocessing
        shutil.rmtree(outdir, ignore_errors=True)
        quiet.setLevel(levels[0])
        pfrl_logger.setLevel(levels[1])
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = omp
    for w in caught:
        if issubclass(w.category, async_module.AbnormalExitWarning):
            raise RuntimeError(f"PFRL's A3C training failed: {w.message}")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return wall
