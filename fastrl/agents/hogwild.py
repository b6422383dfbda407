"""The layer the asynchronous agents (A3C, NSQ) share: Hogwild worker processes around one shared model.

The agent, in the main process, builds its networks and optimizer, moves their parameters and statistics into
shared memory (:meth:`fastrl.optim.FlatAdam.share_memory_`) and keeps a shared global step counter. On the
first ``train`` call, :class:`WorkerPool` forks ``num_workers`` processes (torch.multiprocessing, one torch
thread each). Each worker steps its own seeded ``fastrl.make_vec`` envs, computes gradients on a local copy
of the network and applies them to the shared parameters with the shared optimizer, without locks (Hogwild,
Recht et al. 2011). Workers stay alive between ``train`` calls (their envs carry on) until ``close``.

The main process owns what must be single: the progress bar, the logger (workers send finished episodes and
loss sums through a pipe each; one CSV and one TensorBoard file per run, on the global step axis), periodic
evaluation and checkpoints. A worker that raises stops every worker and ``train`` raises
:class:`WorkerError` with the worker's traceback; Ctrl-C stops every worker before the KeyboardInterrupt
propagates; workers exit by themselves if the main process dies. No process is left behind.

Workers are forked (Linux): the agent's shared tensors, the env registry and the worker code carry over
without pickling, and a user script needs no ``if __name__ == "__main__"`` guard.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, ClassVar

import numpy as np
import torch
import torch.multiprocessing as mp
from gymnasium import spaces

from fastrl.agents.base import AgentBase, resolve_config, torch_device
from fastrl.agents.config import AgentConfig, require, require_int, require_real
from fastrl.agents.loop import DeviceMeans, TrainLoop, crossed
from fastrl.agents.runner import EnvRunner
from fastrl.optim import FlatAdam, FlatRMSprop, clip_flat_, flat_parameters_and_gradient
from fastrl.schedules import LinearSchedule

__all__ = ["HogwildConfig", "HogwildWorker", "HogwildAgent", "WorkerPool", "WorkerLink", "WorkerError", "worker_seed",
           "shared_optimizer"]

#: seconds a worker waits between reports of its episodes and losses to the main process
REPORT_SECONDS = 0.2
#: seconds the main process gives workers to stop before it terminates them
STOP_SECONDS = 10.0


class WorkerError(RuntimeError):
    """A worker process raised (its traceback is in the message) or died."""


def worker_seed(seed: int, worker_id: int, start_step: int, stream: int) -> int:
    """A seed below 2**31 for ``stream`` of worker ``worker_id`` in workers started at ``start_step`` (so a
    resumed run does not repeat the episodes of the run it resumes)."""
    state = np.random.SeedSequence([int(seed), int(worker_id), int(start_step), int(stream)]).generate_state(1)
    return int(state[0] >> 1)


def shared_optimizer(net: torch.nn.Module, cfg: Any) -> FlatAdam:
    """The optimizer ``cfg`` names (``optimizer``: "rmsprop" with eps inside the square root, as the A3C
    paper and PFRL, or "adam"; ``learning_rate``, ``rms_alpha``, ``rms_eps``) over ``net``, its parameters
    and statistics moved into shared memory."""
    if cfg.optimizer == "rmsprop":
        opt: FlatAdam = FlatRMSprop(net, lr=cfg.learning_rate, alpha=cfg.rms_alpha, eps=cfg.rms_eps,
                                    eps_inside_sqrt=True)
    else:
        opt = FlatAdam(net, lr=cfg.learning_rate, eps=cfg.rms_eps)
    return opt.share_memory_()


class WorkerLink:
    """A worker's side of the pool: commands in, reports out, the shared counters and the stop flag."""

    def __init__(self, worker_id: int, conn: Connection, counter: Any, stop: Any, parent_pid: int) -> None:
        self.worker_id = worker_id
        self._conn = conn
        self._counter = counter
        self._stop = stop
        self._parent_pid = parent_pid
        self._episodes: list[tuple[float, int]] = []
        self._sums: dict[str, list[float]] = {}
        self._last_report = time.monotonic()

    @property
    def global_step(self) -> int:
        """The shared global step counter."""
        return int(self._counter[0])

    def add_steps(self, n: int) -> tuple[int, int]:
        """Ends an update: adds its ``n`` env steps to the global step counter and one to the update counter;
        returns the global step ``(before, after)``."""
        with self._counter.get_lock():
            before = int(self._counter[0])
            self._counter[0] = before + n
            self._counter[1] += 1
        return before, before + n

    def next_run(self) -> int | None:
        """Blocks until the main process asks for a run; returns the global step to run to, or None to exit
        (asked to, or the main process is gone)."""
        while True:
            if os.getppid() != self._parent_pid:
                return None
            try:
                if not self._conn.poll(1.0):
                    continue
                command = self._conn.recv()
            except (EOFError, OSError):
                return None
            if command[0] == "run":
                return int(command[1])
            return None

    def running(self, end: int) -> bool:
        """Whether to collect another rollout: the global step is below ``end``, no stop was asked for and
        the main process lives. Sends a report when one is due."""
        if time.monotonic() - self._last_report >= REPORT_SECONDS:
            self.report()
        return self._counter[0] < end and not self._stop.is_set() and os.getppid() == self._parent_pid

    def episodes(self, finished: list[tuple[float, int]]) -> None:
        """Queues finished episodes ``(return, length)`` for the next report."""
        self._episodes.extend(finished)

    def add(self, name: str, value: float, count: int = 1) -> None:
        """Adds ``value`` (a sum of ``count`` values) to the mean of ``name`` sent with the next report."""
        entry = self._sums.setdefault(name, [0.0, 0])
        entry[0] += value
        entry[1] += count

    def report(self) -> None:
        """Sends the queued episodes and loss sums to the main process."""
        if self._episodes or self._sums:
            self._conn.send(("report", self._episodes, {k: (v[0], v[1]) for k, v in self._sums.items()}))
            self._episodes, self._sums = [], {}
        self._last_report = time.monotonic()

    def done(self) -> None:
        """Ends a run: the last report, then ``done``."""
        self.report()
        self._conn.send(("done",))


def _bootstrap(worker_main: Callable[[int, WorkerLink], None], worker_id: int, conn: Connection, counter: Any,
               stop: Any, parent_pid: int) -> None:
    """A worker process: ignores Ctrl-C (the main process stops it), one torch thread, then ``worker_main``;
    an exception is sent to the main process with its traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    try:
        worker_main(worker_id, WorkerLink(worker_id, conn, counter, stop, parent_pid))
    except BaseException:  # noqa: BLE001 - everything goes to the main process
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
        raise SystemExit(1) from None


def _terminate(procs: list[Any], conns: list[Connection], stop: Any) -> None:
    """Stops worker processes: asks, waits, then terminates and kills the ones that stay."""
    stop.set()
    for conn in conns:
        try:
            conn.send(("exit",))
        except OSError:
            pass
    deadline = time.monotonic() + STOP_SECONDS
    for p in procs:
        p.join(max(deadline - time.monotonic(), 0.0))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(2.0)
        if p.is_alive():
            p.kill()
            p.join()
    for conn in conns:
        conn.close()


class WorkerPool:
    """``num_workers`` forked processes, each running ``worker_main(worker_id, link)``.

    ``worker_main`` builds the worker's envs and local network, then loops ``while (end := link.next_run())
    is not None`` over runs, collecting rollouts ``while link.running(end)`` and ending each run with
    ``link.done()``.

    Args:
        worker_main: the worker's body (see above).
        num_workers: processes.
        counter: the shared counters: global steps and updates (``multiprocessing.Array("q", 2)``).
        name: the agent's name, for error messages and process names.
    """

    def __init__(self, worker_main: Callable[[int, WorkerLink], None], num_workers: int, counter: Any,
                 name: str) -> None:
        if "fork" not in mp.get_all_start_methods():
            raise RuntimeError(f"{name} forks its worker processes; this platform cannot fork")
        ctx = mp.get_context("fork")
        self.name = name
        self._stop = ctx.Event()
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        parent = os.getpid()
        for wid in range(num_workers):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_bootstrap, args=(worker_main, wid, theirs, counter, self._stop, parent),
                               name=f"fastrl-{name}-worker-{wid}", daemon=True)
            proc.start()
            theirs.close()
            self._conns.append(ours)
            self._procs.append(proc)
        # a pool dropped without close() still stops its workers
        self._finalizer = weakref.finalize(self, _terminate, self._procs, self._conns, self._stop)

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [int(p.pid) for p in self._procs]

    @property
    def alive(self) -> bool:
        """Whether the pool has not been closed."""
        return self._finalizer.alive

    def run(self, end: int, handle: Callable[[int, tuple], None], tick: Callable[[], bool]) -> None:
        """Runs every worker until the global step reaches ``end``: passes each report to
        ``handle(worker_id, message)`` and calls ``tick()`` at least every 50 ms; ``tick`` returning False asks
        the workers to stop early. Returns once every worker has finished its run.

        Raises:
            WorkerError: a worker raised or died (every worker is stopped first).
            KeyboardInterrupt: Ctrl-C (every worker is stopped first).
        """
        try:
            self._stop.clear()
            for conn in self._conns:
                conn.send(("run", int(end)))
            running = set(range(len(self._procs)))
            while running:
                ready = wait([self._conns[w] for w in running] + [self._procs[w].sentinel for w in running], 0.05)
                for wid in sorted(running):
                    conn = self._conns[wid]
                    while wid in running and conn in ready and conn.poll():
                        self._receive(wid, conn, running, handle)
                for wid in list(running):
                    if self._procs[wid].sentinel in ready and not self._conns[wid].poll():
                        code = self._procs[wid].exitcode
                        raise WorkerError(f"{self.name} worker {wid} died (exit code {code})")
                if not tick():
                    self._stop.set()
        except BaseException:
            self.close()
            raise

    def _receive(self, wid: int, conn: Connection, running: set[int], handle: Callable[[int, tuple], None]) -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            raise WorkerError(f"{self.name} worker {wid} died (exit code {self._procs[wid].exitcode})") from None
        if message[0] == "done":
            running.discard(wid)
        elif message[0] == "error":
            raise WorkerError(f"{self.name} worker {wid} raised:\n{message[1]}")
        else:
            handle(wid, message)

    def close(self) -> None:
        """Stops every worker (idempotent)."""
        self._finalizer()


@dataclass
class HogwildConfig(AgentConfig):
    """The fields the asynchronous agents' configs share (each adds its algorithm's). Steps are global env
    steps: every worker's env steps added together; ``num_envs`` is envs per worker."""

    num_workers: int | None = None
    """worker processes (Hogwild)."""
    t_max: int | None = None
    """steps of every env of a worker per update (the rollout length)."""
    learning_rate: float | None = None
    """learning rate at step 0."""
    learning_rate_final: float | None = None
    """learning rate at ``total_steps``, reached linearly (0: annealed away, as the paper; equal to
    ``learning_rate``: constant)."""
    gamma: float | None = None
    """discount factor."""
    max_grad_norm: float | None = None
    """clip each update's global gradient norm to this (``inf``: no clipping)."""
    optimizer: str | None = None
    """"rmsprop" (shared, eps inside the square root, as the paper and PFRL) or "adam" (shared)."""
    rms_alpha: float | None = None
    """RMSprop smoothing constant."""
    rms_eps: float | None = None
    """RMSprop (or Adam) epsilon."""
    hidden_sizes: tuple[int, ...] | None = None
    """hidden layers of the MLPs (vector observations; frames get the Nature CNN)."""
    recurrent: bool | None = None
    """an LSTM after the torso, its memory carried across steps and reset at episode starts."""
    lstm_size: int | None = None
    """LSTM units (with ``recurrent``)."""
    eval_interval: int | None = None
    """global steps between greedy evaluations (10 episodes, logged as charts/eval_return; 0: none)."""

    def validate(self) -> None:
        super().validate()
        require(self, "device", self.device == "cpu", '"cpu" (the workers compute on the CPU; A2C runs on CUDA)')
        require_int(self, "num_workers", 1)
        require_int(self, "t_max", 1)
        require_real(self, "learning_rate", 0, low_open=True)
        require_real(self, "learning_rate_final", 0)
        require_real(self, "gamma", 0, 1)
        require_real(self, "max_grad_norm", 0, low_open=True)
        require(self, "optimizer", self.optimizer in ("rmsprop", "adam"), '"rmsprop" or "adam"')
        require_real(self, "rms_alpha", 0, 1)
        require_real(self, "rms_eps", 0, low_open=True)
        require(self, "hidden_sizes", len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0, "positive sizes")
        require_int(self, "lstm_size", 1)
        require_int(self, "eval_interval", 0)


class HogwildWorker:
    """One worker process's envs, local copy of the agent's network (flat parameters and gradient), rollout
    arrays ``(t_max, num_envs, ...)`` and network memory. Subclasses write ``rollout(link)`` from
    :meth:`collect`, their loss, and :meth:`apply`."""

    def __init__(self, agent: Any, worker_id: int, start_step: int) -> None:
        cfg = self.config = agent.config
        self.agent = agent
        self.runner = EnvRunner(cfg.env_id, cfg.num_envs, worker_seed(cfg.seed, worker_id, start_step, 0),
                                cfg.env_kwargs)
        self.rng = np.random.default_rng(worker_seed(cfg.seed, worker_id, start_step, 1))
        self.local = agent.build_network()
        self.params, self.grad = flat_parameters_and_gradient(self.local)
        self.memory = self.local.initial_state(cfg.num_envs)
        T, N, shape = cfg.t_max, cfg.num_envs, self.runner.obs_shape
        self.obs = np.empty((T, N, *shape), self.runner.obs_dtype)
        self.next_obs = np.empty_like(self.obs)
        self.actions = np.empty((T, N), np.int64)
        self.rewards = np.empty((T, N), np.float32)
        self.terminated = np.empty((T, N), bool)
        self.truncated = np.empty((T, N), bool)
        self.starts = np.ones((T + 1, N), bool)  # starts[t]: an episode starts at obs[t]

    @torch.no_grad()
    def collect(self, link: WorkerLink, choose: Callable[[torch.Tensor], np.ndarray]) -> Any:
        """Copies the shared parameters into the local network, steps the envs ``t_max`` times with the
        actions ``choose(scores)`` picks from the local network's outputs, fills the rollout arrays and adds
        the steps to the global counter; returns the network memory the rollout started from and the global
        step before it."""
        T, N = self.config.t_max, self.config.num_envs
        self.params.copy_(self.agent.optimizer.params)
        memory0 = self.memory
        self.starts[0] = self.starts[-1]
        for t in range(T):
            self.obs[t] = self.runner.obs
            scores, self.memory = self.local.policy(torch.from_numpy(self.obs[t]), self.memory,
                                                    torch.from_numpy(self.starts[t]))
            action = choose(scores)
            tr = self.runner.step(action)
            self.actions[t], self.rewards[t], self.next_obs[t] = action, tr.reward, tr.next_obs
            self.terminated[t], self.truncated[t] = tr.terminated, tr.truncated
            np.logical_or(tr.terminated, tr.truncated, out=self.starts[t + 1])
            if tr.episodes:
                link.episodes(tr.episodes)
        before, _ = link.add_steps(T * N)
        return memory0, before

    def apply(self, before: int) -> torch.Tensor:
        """Clips the local gradient to ``max_grad_norm`` and applies it to the shared parameters with the
        shared optimizer at the learning rate of global step ``before``; returns the norm before clipping."""
        agent = self.agent
        norm = clip_flat_(self.grad, self.config.max_grad_norm)
        agent.optimizer.lr = agent.lr(before)
        agent.optimizer.step(self.grad)
        return norm


class HogwildAgent(AgentBase):
    """What A3C and NSQ share on top of :class:`AgentBase`: construction (the env probe, the shared network
    and optimizer, the learning-rate schedule), the shared counters, the worker pool and the workers' main
    loop, the training loop of the main process, episode statistics from the workers' reports, acting and
    evaluation with a network that may carry memory, and the common part of checkpoints.

    The agent sets ``CONFIG``, ``WORKER`` (its :class:`HogwildWorker` subclass) and ``METERS`` (the loss
    names its workers report), and provides ``build_network()`` (whose modules have ``policy(obs, memory,
    starts) -> (scores, memory)`` and ``initial_state(batch)``) and ``_explore(scores)`` (actions for
    ``act(obs, deterministic=False)``). Its constructor calls :meth:`_init_hogwild`.
    """

    WORKER: ClassVar[type]
    METERS: ClassVar[tuple[str, ...]]
    buffer = None  # no replay memory

    def _init_hogwild(self, config: Any, overrides: dict[str, Any]) -> None:
        """Resolves the config, probes the env (Discrete actions only), builds the shared network and
        optimizer, and the counters."""
        self.config = cfg = resolve_config(self.CONFIG, config, overrides)
        self.device = torch_device(cfg.device, cfg.torch_threads)
        probe = EnvRunner(cfg.env_id, 1, cfg.seed, cfg.env_kwargs)
        space, self.obs_shape = probe.action_space, probe.obs_shape
        probe.close()
        if not isinstance(space, spaces.Discrete):
            raise ValueError(f"env_id {cfg.env_id!r} has a {space} action space; {self.KIND} needs a Discrete one")
        self.n_actions = int(space.n)
        torch.manual_seed(cfg.seed)
        self.net = self.build_network()
        self.optimizer = shared_optimizer(self.net, cfg)
        self.lr = LinearSchedule(cfg.learning_rate, cfg.learning_rate_final, cfg.total_steps)
        self.meters = DeviceMeans("cpu", self.METERS)
        self._counter = mp.get_context("fork").Array("q", 2)  # global steps, updates
        self._pool: WorkerPool | None = None
        self._recent: deque[float] = deque(maxlen=100)
        self._num_episodes = 0
        self._memory: Any = None  # act()'s memory, for a recurrent network

    def _worker_main(self, worker_id: int, link: WorkerLink) -> None:
        """A worker process's body (see :class:`WorkerPool`)."""
        worker = self.WORKER(self, worker_id, link.global_step)
        try:
            while (end := link.next_run()) is not None:
                while link.running(end):
                    worker.rollout(link)
                link.done()
        finally:
            worker.runner.close()

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Actions ``(B,)`` int64 of the shared network for observations ``(B, *obs_shape)``: greedy, or the
        agent's exploration when ``deterministic`` is false. A recurrent network keeps a memory per row
        between calls (it starts empty when the batch size changes); call :meth:`reset_memory` where episodes
        start."""
        obs_t = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(np.asarray(obs))
        if torch.is_floating_point(obs_t) and obs_t.dtype != torch.float32:
            obs_t = obs_t.float()  # e.g. float64 observations from a user's own env
        if tuple(obs_t.shape[1:]) != self.obs_shape:
            raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs_t.shape)}")
        if self.config.recurrent and (self._memory is None or self._memory[0].shape[0] != len(obs_t)):
            self._memory = self.net.initial_state(len(obs_t))
        scores, self._memory = self.net.policy(obs_t, self._memory)
        if deterministic:
            return scores.argmax(dim=1).numpy()
        return self._explore(scores)

    def reset_memory(self, mask: np.ndarray | None = None) -> None:
        """Empties :meth:`act`'s memory of the rows in ``mask`` (all rows if None); no-op without memory."""
        if self._memory is None:
            return
        if mask is None:
            self._memory = None
        else:
            keep = torch.from_numpy(~np.asarray(mask, dtype=bool)).float().unsqueeze(1)
            self._memory = (self._memory[0] * keep, self._memory[1] * keep)

    @property
    def global_step(self) -> int:
        """Env steps taken by all workers together (the shared counter)."""
        return int(self._counter[0])

    @global_step.setter
    def global_step(self, value: int) -> None:
        self._counter[0] = int(value)

    @property
    def num_updates(self) -> int:
        """Updates the workers applied to the shared network."""
        return int(self._counter[1])

    @property
    def recent_returns(self) -> deque[float]:
        """Returns of the last 100 episodes the workers finished (whole games for Atari)."""
        return self._recent

    @property
    def num_episodes(self) -> int:
        """Episodes the workers finished."""
        return self._num_episodes

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (empty before the first ``train`` and after ``close``)."""
        return self._pool.pids if self._pool is not None and self._pool.alive else []

    def train(self, steps: int | None = None, *, logger: Any = None, progress: bool = False,
              callback: Callable[[Any], None] | None = None, callback_interval: int = 0) -> Any:
        """Trains for ``steps`` more global env steps (default: up to ``config.total_steps``) on the worker
        processes (started on the first call); returns ``self``. Workers stop at their next rollout boundary
        once the global step reaches the budget, so a call may run a few rollouts past it.

        Raises:
            WorkerError: a worker raised or died; every worker was stopped.
        """
        cfg = self.config
        pending: list[tuple[float, int]] = []

        def handle(worker_id: int, message: tuple) -> None:
            _, episodes, sums = message
            for ret, length in episodes:
                self._num_episodes += 1
                self._recent.append(float(ret))
                pending.append((float(ret), int(length)))
            for name, (total, count) in sums.items():
                self.meters.add(name, torch.tensor(total, dtype=torch.float64), count)

        with TrainLoop(self, steps, log_interval=cfg.log_interval, logger=logger, progress=progress,
                       callback=callback, callback_interval=callback_interval) as loop:
            if not loop.running:
                return self
            last = self.global_step

            def tick() -> bool:
                nonlocal last
                step = self.global_step
                finished = pending[:]
                pending.clear()
                loop.record(last, step, finished)
                if cfg.eval_interval and crossed(last, step, cfg.eval_interval) and logger is not None:
                    logger.log("charts/eval_return", float(self.evaluate(10).mean()), step)
                last = step
                return not loop.stopped

            if self._pool is None or not self._pool.alive:
                self._pool = WorkerPool(self._worker_main, cfg.num_workers, self._counter, self.KIND)
            self._pool.run(loop.end, handle, tick)
            tick()
        return self

    def _evaluation_reset(self) -> Any:
        """:meth:`evaluate` starts with an empty memory and empties a row's memory where its episode starts."""
        self._memory = None
        return self.reset_memory if self.config.recurrent else None

    def close(self) -> None:
        """Stops the worker processes."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def interval_metrics(self, step: int) -> dict[str, float]:
        """Host-side values logged every ``log_interval``: learning rate and the shared parameters' norm."""
        return {"charts/learning_rate": self.lr(step),
                "charts/param_norm": float(torch.linalg.vector_norm(self.optimizer.params))}

    def progress_text(self, step: int) -> str:
        return ""

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """The shared network, the optimizer statistics, the counters and episode statistics (``include_replay``
        is accepted for the shared interface: there is no replay memory)."""
        return {"config": self.config.to_dict(), "net": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(), "meters": self.meters.state_dict(),
                "counters": {"global_step": self.global_step, "num_updates": self.num_updates,
                             "num_episodes": self._num_episodes, "recent_returns": list(self._recent)}}

    def load_networks(self, state: dict[str, Any]) -> None:
        """Restores the shared network from a checkpoint payload (in place: it stays shared)."""
        self.net.load_state_dict(state["net"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output; running workers see it at their next rollout."""
        self.load_networks(state)
        self.optimizer.load_state_dict(state["optimizer"])
        self.meters.load_state_dict(state["meters"])
        counters = state["counters"]
        self.global_step = int(counters["global_step"])
        self._counter[1] = int(counters["num_updates"])
        self._num_episodes = int(counters["num_episodes"])
        self._recent = deque((float(r) for r in counters["recent_returns"]), maxlen=100)
