"""The bookkeeping of a training loop that no algorithm owns, and device-side loss means.

:class:`TrainLoop` holds the step budget of one ``train`` call, the progress bar, the logging of finished
episodes and of each log interval's metrics with steps per second, and the periodic callback (checkpoints).
It also applies the stopping rule of configs that have one (``stop_mean_return``, ``stop_window``: stop once
the mean return of the last episodes reaches a bar). An agent's ``train`` reads::

    with TrainLoop(self, steps, log_interval=cfg.log_interval, logger=logger, ...) as loop:
        while loop.running:
            prev = self.global_step
            ... act, step the runner, store, learn ...
            self.global_step = prev + num_envs
            loop.record(prev, self.global_step, transition.episodes)

Everything it logs depends on the step counter only (never on wall time, except ``perf/sps``), so a run split
by save/load logs the same rows as one straight run. The agent provides ``global_step``, ``recent_returns``
(returns of the last finished episodes), ``meters`` (:class:`DeviceMeans`), ``interval_metrics(step)``
(host-side values such as epsilon) and ``progress_text(step)`` (a short postfix for the bar).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["TrainLoop", "DeviceMeans", "crossed"]


def crossed(prev: int, step: int, interval: int) -> bool:
    """True when a multiple of ``interval`` lies in ``(prev, step]`` (so any number of envs works)."""
    return step // interval > prev // interval


class DeviceMeans:
    """Running means of scalar tensors that stay on their device until a log interval ends.

    ``add(name, total, count)`` records a 0-d tensor ``total`` that sums ``count`` values: the tensor is kept
    (cheaper than an in-place add per step) and folded into a float64 running sum on the host when the log
    interval ends (one sync per name), or after ``MAX_PENDING`` values. The fold adds the values one by one
    in the order they came, so the means do not depend on where a run was saved and resumed.
    """

    #: values kept per name before they are folded into the host sum (bounds a long interval's memory)
    MAX_PENDING = 4096

    def __init__(self, device: torch.device | str, names: tuple[str, ...]) -> None:
        self.names = tuple(names)
        self._pending: dict[str, list[torch.Tensor]] = {name: [] for name in self.names}
        self._sums = dict.fromkeys(self.names, 0.0)
        self._counts = dict.fromkeys(self.names, 0)

    def add(self, name: str, total: torch.Tensor, count: int) -> None:
        """Records ``total`` (a 0-d tensor, the sum of ``count`` values) under ``name``; no host sync."""
        pending = self._pending[name]
        pending.append(total)
        self._counts[name] += count
        if len(pending) >= self.MAX_PENDING:
            self._fold(name)

    def _fold(self, name: str) -> None:
        pending = self._pending[name]
        if pending:
            total = self._sums[name]
            for value in torch.stack(pending).tolist():  # the host sync
                total += value
            self._sums[name] = total
            pending.clear()

    def read(self) -> dict[str, float]:
        """``{name: mean}`` of the values added since the last read or reset, then resets."""
        out: dict[str, float] = {}
        for name in self.names:
            if self._counts[name]:
                self._fold(name)
                out[name] = self._sums[name] / self._counts[name]
        self.reset()
        return out

    def reset(self) -> None:
        """Drops the values added so far."""
        for pending in self._pending.values():
            pending.clear()
        self._sums = dict.fromkeys(self.names, 0.0)
        self._counts = dict.fromkeys(self.names, 0)

    def state_dict(self) -> dict[str, Any]:
        for name in self.names:
            self._fold(name)
        sums = torch.tensor([self._sums[n] for n in self.names], dtype=torch.float64)
        return {"names": list(self.names), "sums": sums, "counts": [self._counts[n] for n in self.names]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["names"]) != list(self.names):
            raise ValueError(f"state has meters {list(state['names'])}, expected {list(self.names)}")
        self.reset()
        sums = torch.as_tensor(state["sums"]).tolist()
        for i, name in enumerate(self.names):
            self._sums[name], self._counts[name] = float(sums[i]), int(state["counts"][i])


class TrainLoop:
    """Step budget, progress bar, episode and interval logging, callbacks; see the module docstring.

    Args:
        agent: the agent being trained.
        steps: env steps to run in this call (None: up to ``agent.config.total_steps``).
        log_interval: env steps between interval metrics (and progress-bar refreshes).
        logger: a :class:`fastrl.logger.Logger` (or anything with ``log(tag, value, step)``), or None.
        progress: show a tqdm bar (steps, steps/s, recent return, time left).
        callback: called as ``callback(agent)`` every ``callback_interval`` env steps (e.g. checkpoints).
    """

    def __init__(self, agent: Any, steps: int | None, *, log_interval: int, logger: Any = None,
                 progress: bool = False, callback: Callable[[Any], None] | None = None,
                 callback_interval: int = 0) -> None:
        if steps is None:
            steps = max(agent.config.total_steps - agent.global_step, 0)
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
            raise ValueError(f"steps must be an int >= 0, got {steps!r}")
        self.agent = agent
        self.end = agent.global_step + int(steps)
        self.log_interval = log_interval
        self.logger = logger
        self.callback = callback
        self.callback_interval = callback_interval
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=int(steps), unit="step", dynamic_ncols=True, smoothing=0.1)
        self._bar_pending = 0
        self._last_step, self._last_time = agent.global_step, time.perf_counter()
        # The stopping rule: the mean return of the last `stop_window` episodes reaches `stop_mean_return`.
        self.stop_mean_return = getattr(agent.config, "stop_mean_return", None)
        self.stop_window = int(getattr(agent.config, "stop_window", None) or 10)
        self.stopped = False

    @property
    def running(self) -> bool:
        """Whether the loop goes on: steps left in the budget and the stopping rule not met."""
        return self.agent.global_step < self.end and not self.stopped

    def __enter__(self) -> TrainLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, prev: int, step: int, episodes: list[tuple[float, int]]) -> None:
        """Called once per loop iteration, after the agent moved ``global_step`` from ``prev`` to ``step``:
        logs the episodes that finished, the interval metrics when an interval boundary was crossed, moves
        the bar and runs the callback."""
        logger, agent = self.logger, self.agent
        if logger is not None:
            for ret, length in episodes:
                logger.log("charts/episodic_return", ret, step)
                logger.log("charts/episodic_length", length, step)
        self._bar_pending += step - prev
        if crossed(prev, step, self.log_interval):
            now = time.perf_counter()
            sps = (step - self._last_step) / max(now - self._last_time, 1e-9)
            self._last_step, self._last_time = step, now
            if logger is None:
                agent.meters.reset()
            else:
                logger.log_dict(agent.interval_metrics(step), step)
                logger.log_dict(agent.meters.read(), step)
                logger.log("perf/sps", sps, step)
            if self._bar is not None:
                self._refresh_bar(step)
        elif self._bar is not None and self._bar_pending >= 256:
            self._bar.update(self._bar_pending)
            self._bar_pending = 0
        if self.callback is not None and self.callback_interval > 0 and crossed(prev, step, self.callback_interval):
            self.callback(agent)
        if episodes and self.stop_mean_return is not None:
            recent = list(agent.recent_returns)[-self.stop_window:]
            if len(recent) == self.stop_window and float(np.mean(recent)) >= self.stop_mean_return:
                self.stopped = True
                if logger is not None:
                    logger.log("charts/stop_mean_return_reached", float(np.mean(recent)), step)

    def _refresh_bar(self, step: int) -> None:
        assert self._bar is not None
        self._bar.update(self._bar_pending)
        self._bar_pending = 0
        recent = self.agent.recent_returns
        ret = f"{np.mean(recent):.1f}" if recent else "-"
        extra = self.agent.progress_text(step)
        self._bar.set_postfix_str(f"return={ret}" + (f" {extra}" if extra else ""), refresh=False)

    def close(self) -> None:
        """Closes the progress bar."""
        if self._bar is not None:
            self._bar.update(self._bar_pending)
            self._bar_pending = 0
            self._bar.close()
            self._bar = None
