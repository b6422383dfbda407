"""Ape-X (Horgan et al., 2018) on Ray: many actors feed prioritized replay shards, one learner trains.

This module holds the layer every Ape-X learner shares (:class:`ApeXConfig`, :class:`ApeXAgent`: workers, rate
limiting, fault tolerance, checkpoints) and Ape-X DQN; Ape-X DDPG (:mod:`fastrl.agents.apex_ddpg`) is a second
learner on the same layer.

Actors (:class:`fastrl.distributed.ApeXDQNActor`, one Ray actor each, fractional CPUs) step their own
``fastrl.make_vec`` envs with a CPU copy of the Q-network and their own epsilon
(``epsilon_i = 0.4 ** (1 + 7 i / (N - 1))``), assemble n-step transitions, compute their initial priorities
with that copy and push them in batches to the replay shards (:class:`fastrl.distributed.ReplayShard`, each a
``fastrl.PrioritizedReplayBuffer``). The learner runs in this process: it keeps ``in_flight_samples`` sample
requests per shard in flight so the round trip is hidden, trains Double DQN on each batch with importance
weights, sends the new priorities back without waiting, copies the target network every
``target_update_interval`` updates and publishes its weights (by object reference) every ``publish_interval``
updates; an actor picks the newest weights up at the start of each round of ``weight_sync_interval`` steps.

Shards limit the rate: no sampling below ``min_replay_size`` transitions, and at most ``samples_per_insert``
sampled transitions per inserted one; the ratio holds both ways (the learner waits for actors, and actors more
than a round of every actor ahead of the learner wait for it).

Fault tolerance: actors restart by themselves (Ray's ``max_restarts``; the interrupted round runs again); a
shard that dies is rebuilt from its last backup (``shard_backup_interval`` updates) and the actors are
pointed to it. A checkpoint holds the learner, the counters and every shard's state.

``sync=True`` interleaves deterministically (each actor runs a round in turn, then the learner trains as far
as the rate limiter allows), and ``backend="local"`` runs that same loop in this process without Ray: with the
same seed both give the same replay contents and learner losses.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from fastrl.agents.base import AgentBase, resolve_config, torch_device
from fastrl.agents.config import AgentConfig, require, require_int, require_real
from fastrl.agents.loop import DeviceMeans, TrainLoop
from fastrl.losses import huber_td_backward
from fastrl.nets import NumpyLinearStack, QNetwork, q_network
from fastrl.optim import FlatAdam, flatten_parameters
from fastrl.schedules import LinearSchedule

__all__ = ["ApeXAgent", "ApeXConfig", "ApeXDQN", "ApeXDQNConfig", "batch_tensors"]


@dataclass
class ApeXConfig(AgentConfig):
    """The settings every Ape-X learner shares: workers, replay shards, rate limits and Ray; each learner's
    config derives from it and adds its algorithm's fields."""

    num_actors: int | None = None
    """actor processes, each with its own envs and exploration."""
    num_replay_shards: int | None = None
    """replay-shard actors; actors push to them in turn, the learner samples from each."""
    actor_envs: int | None = None
    """envs each actor steps together."""
    weight_sync_interval: int | None = None
    """steps of an actor's envs per round; each round starts with the learner's newest weights."""
    push_size: int | None = None
    """transitions an actor gathers before it pushes them to a shard."""
    buffer_size: int | None = None
    """transitions kept, over all shards."""
    min_replay_size: int | None = None
    """transitions a shard holds before the learner samples from it."""
    samples_per_insert: float | None = None
    """the most transitions sampled per transition inserted, per shard (inf: no limit)."""
    in_flight_samples: int | None = None
    """sample requests kept in flight per shard."""
    learning_rate: float | None = None
    """Adam's learning rate."""
    learning_rate_final: float | None = None
    """learning rate reached linearly at ``total_steps`` env steps (None: constant)."""
    batch_size: int | None = None
    """transitions per gradient step."""
    gamma: float | None = None
    """discount factor."""
    n_step: int | None = None
    """steps summed into one transition by the actors."""
    hidden_sizes: tuple[int, ...] | None = None
    """hidden layer widths of the MLP networks (vector observations)."""
    max_grad_norm: float | None = None
    """global gradient-norm clip of each network (inf: none)."""
    prioritized_alpha: float | None = None
    """priority exponent."""
    prioritized_beta: float | None = None
    """importance-weight exponent."""
    prioritized_eps: float | None = None
    """added to priorities."""
    publish_interval: int | None = None
    """gradient steps between weight publications to the actors."""
    shard_backup_interval: int | None = None
    """gradient steps between backups of the shards' states, from which a dead shard is rebuilt (0: none)."""
    sync: bool | None = None
    """deterministic interleaving: each actor runs a round in turn, then the learner trains."""
    backend: str | None = None
    """"ray" (actors and shards as Ray actors) or "local" (the same loop in this process, synchronous)."""
    address: str | None = None
    """a Ray cluster to join ("auto" for the local one); None starts a Ray instance sized to this machine."""
    actor_cpus: float | None = None
    """CPUs Ray reserves per actor (None: half of the CPUs free when the agent starts, shared among the actors)."""
    shard_cpus: float | None = None
    """CPUs Ray reserves per shard."""

    #: defaults of the shared fields; a learner's DEFAULTS extend them
    COMMON_DEFAULTS: ClassVar[dict[str, Any]] = dict(
        total_steps=1_000_000, num_envs=1, log_interval=10_000, save_replay=True, stop_window=10,
        num_actors=2, num_replay_shards=1, actor_envs=4, weight_sync_interval=100, push_size=200,
        buffer_size=1_000_000, min_replay_size=20_000, samples_per_insert=float("inf"), in_flight_samples=2,
        learning_rate=2.5e-4, batch_size=512, gamma=0.99, n_step=3, hidden_sizes=(256, 256), max_grad_norm=40.0,
        prioritized_alpha=0.6, prioritized_beta=0.4, prioritized_eps=1e-6, publish_interval=100,
        shard_backup_interval=0, sync=False, backend="ray", actor_cpus=None, shard_cpus=0.05,
    )

    def validate(self) -> None:
        super().validate()
        for name in ("num_actors", "num_replay_shards", "actor_envs", "weight_sync_interval", "push_size",
                     "buffer_size", "batch_size", "n_step", "in_flight_samples", "publish_interval"):
            require_int(self, name, 1)
        require_int(self, "min_replay_size", 0)
        require_int(self, "shard_backup_interval", 0)
        require(self, "samples_per_insert", isinstance(self.samples_per_insert, (int, float))
                and not isinstance(self.samples_per_insert, bool) and self.samples_per_insert > 0, "a number > 0")
        require_real(self, "learning_rate", 0.0, low_open=True)
        require_real(self, "learning_rate_final", 0.0, optional=True)
        require_real(self, "gamma", 0.0, 1.0)
        require(self, "hidden_sizes", len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0, "positive sizes")
        require_real(self, "max_grad_norm", 0.0, low_open=True)
        for name in ("prioritized_alpha", "prioritized_beta"):
            require_real(self, name, 0.0)
        require_real(self, "prioritized_eps", 0.0, low_open=True)
        require_real(self, "actor_cpus", 0.0, low_open=True, optional=True)
        require_real(self, "shard_cpus", 0.0, low_open=True)
        require(self, "backend", self.backend in ("ray", "local"), '"ray" or "local"')
        require(self, "buffer_size", self.buffer_size >= self.num_replay_shards * self.batch_size,
                "at least num_replay_shards * batch_size")
        require(self, "min_replay_size", self.min_replay_size <= self.buffer_size // self.num_replay_shards,
                "at most a shard's capacity, buffer_size // num_replay_shards (else no shard could ever be sampled)")
        require(self, "samples_per_insert", self.samples_per_insert < float("inf") or not (self.sync or
                self.backend == "local"), "finite for sync=True and the local backend (it decides the updates)")
        require(self, "device", self.device == "cpu" or self.backend == "ray", '"cpu" with the local backend')


@dataclass
class ApeXDQNConfig(ApeXConfig):
    """Every setting of an :class:`ApeXDQN` run (fields not given come from the preset of ``env_id``)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "CartPole-v1": dict(
            total_steps=300_000, num_actors=2, actor_envs=4, learning_rate=1e-3, batch_size=64, buffer_size=100_000,
            min_replay_size=2000, samples_per_insert=4.0, n_step=3, target_update_interval=250, learning_rate_final=0.0,
            hidden_sizes=(256, 256), weight_sync_interval=100, push_size=200, publish_interval=50,
            torch_threads=1,
        ),
    }
    DEFAULTS: ClassVar[dict[str, Any]] = dict(
        ApeXConfig.COMMON_DEFAULTS, target_update_interval=2500, double=True, dueling=False, epsilon_base=0.4,
        epsilon_alpha=7.0,
    )

    target_update_interval: int | None = None
    """gradient steps between copies of the online network into the target network."""
    double: bool | None = None
    """Double DQN targets."""
    dueling: bool | None = None
    """dueling head."""
    epsilon_base: float | None = None
    """actor i explores with epsilon_base ** (1 + epsilon_alpha * i / (num_actors - 1))."""
    epsilon_alpha: float | None = None
    """see epsilon_base."""

    def validate(self) -> None:
        super().validate()
        require_int(self, "target_update_interval", 1)
        require_real(self, "epsilon_base", 0.0, 1.0)
        require_real(self, "epsilon_alpha", 0.0)


def batch_tensors(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """A shard's batch as tensors on ``device`` (copies: arrays from Ray's object store are read-only views);
    for CUDA through pinned host memory, copied without blocking."""
    out = {k: torch.tensor(v) for k, v in batch.items() if k != "indices"}
    out["reward"] = out["reward"].float()
    if device.type == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in out.items()}
    return out


class ApeXAgent(AgentBase, ABC):
    """The layer every Ape-X learner shares: it starts the actors and shards (on Ray, or in this process),
    runs the synchronous or asynchronous training loop with the rate limits, restores dead shards, publishes
    weights and checkpoints the learner with the shards. ``train`` / ``act`` / ``evaluate`` / ``save`` /
    ``load`` / ``close`` as every fastrl agent; ``close()`` stops the actors, the shards and a Ray instance it
    started.

    A learner subclass sets ``KIND`` and ``CONFIG`` and defines :meth:`_actor_class` (its
    :class:`fastrl.distributed.ApeXActorBase`), :meth:`_check_env` (the env's spaces; it sets ``action_shape``
    and ``action_dtype``), :meth:`_build_learner` (networks, optimizers, ``meters``), :meth:`_actor_kwargs`
    (actor i's own arguments), :meth:`_weights` (the flat parameters the actors load), :meth:`_learn` (one
    gradient step; the new priorities), :meth:`act`, :meth:`_learner_state`, :meth:`load_networks` and
    :meth:`_load_learner_state`.
    """

    def __init__(self, config: ApeXConfig | None = None, **overrides: Any) -> None:
        self.config = cfg = resolve_config(self.CONFIG, config, overrides)
        self.device = torch_device(cfg.device, cfg.torch_threads)
        self._ray: Any = None
        self._owns_ray = False
        self.actors: list[Any] = []
        self.shards: list[Any] = []
        self.action_shape: tuple[int, ...] = ()
        self.action_dtype: np.dtype = np.dtype(np.int64)
        from fastrl.vector import make_vec

        probe = make_vec(cfg.env_id, 1, **cfg.env_kwargs)
        try:
            self.obs_shape = tuple(probe.single_observation_space.shape)
            self.obs_dtype = np.dtype(probe.single_observation_space.dtype)
            self._check_env(probe.single_action_space)
        finally:
            probe.close()

        torch.manual_seed(cfg.seed)
        self._build_learner()
        # linear in the env steps, as the single-process agents (constant without learning_rate_final)
        lr_end = cfg.learning_rate if cfg.learning_rate_final is None else cfg.learning_rate_final
        self.lr = LinearSchedule(cfg.learning_rate, lr_end, cfg.total_steps)
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED]))  # act(deterministic=False)
        self.global_step = 0  # env steps over all actors
        self.num_updates = 0
        self.transitions = 0  # transitions the actors pushed to the shards
        self.wait_seconds = 0.0  # asynchronous training: time the learner waited on Ray (samples, actors)
        self.train_seconds = 0.0  # ... of the asynchronous training's wall time
        self.version = 0  # weight publications
        self._num_episodes = 0
        self._recent: deque[float] = deque(maxlen=100)
        self.losses: list[float] = []  # per update, for tests and the synchronous mode's equality (sync only)
        self._shard_backups: list[Any] = []
        self._published = self._weights()  # version 0: the initial weights
        if cfg.address is None:  # shards on this machine: refuse a run that cannot fit before starting anything
            from fastrl.memory import check_fits, replay_memory_bytes

            capacity = cfg.buffer_size // cfg.num_replay_shards
            per_shard = replay_memory_bytes(capacity, self.obs_shape, self.obs_dtype, self.action_shape,
                                            self.action_dtype, 1, 1, True) + 4 * capacity
            check_fits({f"the replay shards' {cfg.buffer_size} transitions": cfg.num_replay_shards * per_shard},
                       "--buffer-size (buffer_size)")
        self._start_workers()

    # ---- what a learner defines ----

    @abstractmethod
    def _actor_class(self) -> type:
        """The actors' class (imported when called: :mod:`fastrl.distributed` imports the agents' runner)."""

    @abstractmethod
    def _check_env(self, action_space: Any) -> None:
        """Refuses an env the learner cannot serve (``ValueError``); sets ``action_shape`` / ``action_dtype``."""

    @abstractmethod
    def _build_learner(self) -> None:
        """Builds the networks, optimizers and ``meters`` (torch is seeded with ``config.seed`` before)."""

    @abstractmethod
    def _actor_kwargs(self, i: int) -> dict[str, Any]:
        """Actor ``i``'s arguments beyond :class:`fastrl.distributed.ApeXActorBase`'s (exploration, network shape)."""

    @abstractmethod
    def _weights(self) -> np.ndarray:
        """The flat parameters the actors load (a copy, on the CPU)."""

    @abstractmethod
    def _learn(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """One gradient step on a shard's batch; returns the new priorities ``(B,)`` float64."""

    @abstractmethod
    def _learner_state(self) -> dict[str, Any]:
        """Networks and optimizers, for :meth:`state_dict`."""

    @abstractmethod
    def _load_learner_state(self, state: dict[str, Any]) -> None:
        """Restores the optimizers from :meth:`_learner_state`'s output (``load_networks`` does the networks)."""

    # ---- workers ----

    def _start_workers(self) -> None:
        # imported here: fastrl.distributed imports the agents' runner, whose package imports this module
        from fastrl.distributed import ReplayShard

        cfg = self.config
        capacity = cfg.buffer_size // cfg.num_replay_shards
        seeds = np.random.SeedSequence([cfg.seed, 0xA9E]).generate_state(cfg.num_actors + cfg.num_replay_shards)
        self._shard_args = [
            dict(capacity=capacity, obs_shape=self.obs_shape, obs_dtype=self.obs_dtype, action_shape=self.action_shape,
                 action_dtype=self.action_dtype, alpha=cfg.prioritized_alpha, eps=cfg.prioritized_eps,
                 seed=int(seeds[cfg.num_actors + j]), min_size=cfg.min_replay_size,
                 samples_per_insert=None if math.isinf(cfg.samples_per_insert) else cfg.samples_per_insert)
            for j in range(cfg.num_replay_shards)]
        self._actor_args = [
            dict(env_id=cfg.env_id, env_kwargs=dict(cfg.env_kwargs), num_envs=cfg.actor_envs, seed=int(seeds[i] >> 1),
                 n_step=cfg.n_step, gamma=cfg.gamma, push_size=cfg.push_size, shard_offset=i, **self._actor_kwargs(i))
            for i in range(cfg.num_actors)]
        if cfg.backend == "local":
            self.shards = [ReplayShard(**a) for a in self._shard_args]
            self.actors = [self._actor_class()(shards=self.shards, **a) for a in self._actor_args]
            return
        self._ray = _import_ray()
        ray = self._ray
        if not ray.is_initialized():
            from fastrl.distributed import init_ray

            if cfg.address is None:
                init_ray(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            else:
                init_ray(address=cfg.address, include_dashboard=False, log_to_driver=False)
            self._owns_ray = True
        # Reservations are scheduling hints (the processes use what they get): by default the actors reserve
        # half of the CPUs still free, so that another agent (or a test) can share the instance.
        free = float(ray.available_resources().get("CPU", 0.0))
        actor_cpus = cfg.actor_cpus or max(0.01, (free - cfg.shard_cpus * cfg.num_replay_shards) / 2 / cfg.num_actors)
        self._remote_shard = ray.remote(num_cpus=cfg.shard_cpus, max_restarts=0)(ReplayShard)
        self._remote_actor = ray.remote(num_cpus=actor_cpus, max_restarts=-1, max_task_retries=-1)(self._actor_class())
        self.shards = [self._remote_shard.remote(**a) for a in self._shard_args]
        self.actors = [self._remote_actor.remote(shards=self.shards, **a) for a in self._actor_args]
        try:  # every actor up (its envs made) before training
            ray.get([a.node.remote() for a in self.actors], timeout=120)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RuntimeError(f"the actors could not start within 120 s: the Ray cluster has {free:g} CPUs free and "
                               f"each actor asks for {actor_cpus:g} (lower actor_cpus or num_actors)") from None
        except BaseException:  # an actor failed to start (a missing package or ROM on a node, Ctrl-C): stop all
            self.close()
            raise
        self._weights_ref = ray.put(self._published)
        self._shard_backups = [None] * cfg.num_replay_shards
        self._backups_in_flight: list[Any] = [None] * cfg.num_replay_shards
        self._older_backups: list[Any] = [None] * cfg.num_replay_shards

    def _publish(self) -> None:
        """Makes the current weights the ones actors load at the start of their next round."""
        self.version += 1
        self._published = self._weights()
        if self._ray is not None:
            self._weights_ref = self._ray.put(self._published)

    def _call(self, method: Any, *args: Any) -> Any:
        """A blocking call of a worker's method, local or through Ray."""
        if self._ray is None:
            return method(*args)
        return self._ray.get(method.remote(*args))

    def _record(self, loop: TrainLoop, result: dict[str, Any]) -> None:
        prev = self.global_step
        self.global_step += int(result["steps"])
        self.transitions += int(result.get("transitions", 0))
        for ret, _ in result["episodes"]:
            self._recent.append(float(ret))
        self._num_episodes += len(result["episodes"])
        loop.record(prev, self.global_step, result["episodes"])

    def train(self, steps: int | None = None, *, logger: Any = None, progress: bool = False,
              callback: Callable[[Any], None] | None = None, callback_interval: int = 0) -> ApeXAgent:
        """Trains for ``steps`` more env steps over all actors (default: up to ``config.total_steps``); rounds
        in flight when the budget is reached still count, so a call may run up to one round per actor more."""
        cfg = self.config
        with TrainLoop(self, steps, log_interval=cfg.log_interval, logger=logger, progress=progress,
                       callback=callback, callback_interval=callback_interval) as loop:
            if cfg.sync or cfg.backend == "local":
                while loop.running:
                    self._sync_round(loop)
            else:
                self._async_train(loop)
        return self

    def _sync_round(self, loop: TrainLoop) -> None:
        """Each actor runs one round in turn, then the learner trains while the rate limiter lets it."""
        cfg = self.config
        weights = self._published if self._ray is None else self._weights_ref
        for actor in self.actors:
            self._record(loop, self._call(actor.run, cfg.weight_sync_interval, weights, self.version))
        for shard in self.shards:
            while True:
                batch = self._call(shard.sample, cfg.batch_size, cfg.prioritized_beta)
                if batch is None:
                    break
                self._call(shard.update_priorities, batch["indices"], self._learn(batch))

    def _async_train(self, loop: TrainLoop) -> None:
        ray, cfg = self._ray, self.config
        actor_calls: dict[Any, int] = {}
        sample_calls: dict[Any, int] = {}
        blocked: Counter[int] = Counter()  # per shard: sample requests answered "not now", to send again

        def launch_actor(i: int) -> None:
            actor_calls[self.actors[i].run.remote(cfg.weight_sync_interval, self._weights_ref, self.version)] = i

        def launch_sample(j: int) -> None:
            sample_calls[self.shards[j].sample.remote(cfg.batch_size, cfg.prioritized_beta)] = j

        parked: list[int] = []
        # Actors are held back too when they run ahead of the learner (Reverb's sample-to-insert ratio, both
        # ways): inserts may exceed (sampled transitions) / samples_per_insert by one round of every actor.
        slack = cfg.num_actors * cfg.weight_sync_interval * cfg.actor_envs

        def actors_may_run() -> bool:
            if math.isinf(cfg.samples_per_insert):
                return True
            sampled = self.num_updates * cfg.batch_size
            allowed = sampled / cfg.samples_per_insert + cfg.min_replay_size * len(self.shards) + slack
            return self.transitions < allowed

        for i in range(len(self.actors)):
            launch_actor(i)
        for j in range(len(self.shards)):
            for _ in range(cfg.in_flight_samples):
                launch_sample(j)
        clock = time.perf_counter
        started = clock()
        while loop.running:
            if not actor_calls and not sample_calls:  # every shard and actor held back (a shard lost data): go on
                for i in parked:
                    launch_actor(i)
                parked.clear()
            waited = clock()
            [ref], _ = ray.wait(list(actor_calls) + list(sample_calls), num_returns=1)
            self.wait_seconds += clock() - waited
            if ref in actor_calls:
                i = actor_calls.pop(ref)
                result = self._get_unless_dead(ref)
                if result is _DEAD:
                    # The actor died (Ray restarts it with its first arguments) or pushed to a shard that died:
                    # rebuild dead shards, point this actor to the current ones; its round is lost.
                    self._restore_dead_shards()
                    ray.get(self.actors[i].set_shards.remote(self.shards))
                    result = {"steps": 0, "episodes": []}
                self._record(loop, result)
                if actors_may_run():
                    launch_actor(i)
                else:
                    parked.append(i)
                for j, count in blocked.items():  # new transitions: the rate limiter may let the learner sample
                    for _ in range(count):
                        launch_sample(j)
                blocked.clear()
                continue
            j = sample_calls.pop(ref)
            batch = self._get_unless_dead(ref)
            if batch is _DEAD:
                self._restore_dead_shards()
                launch_sample(j)
                continue
            if batch is None:
                blocked[j] += 1
                continue
            self.shards[j].update_priorities.remote(batch["indices"], self._learn(batch))
            launch_sample(j)
            if parked and actors_may_run():
                for i in parked:
                    launch_actor(i)
                parked.clear()
            if cfg.shard_backup_interval and self.num_updates % cfg.shard_backup_interval == 0:
                self._take_backups()
        self.train_seconds += clock() - started
        # Rounds still running count; samples still in flight are dropped.
        for ref in list(actor_calls):
            result = self._get_unless_dead(ref)
            if result is not _DEAD:
                self._record(loop, result)
        if sample_calls:
            ray.wait(list(sample_calls), num_returns=len(sample_calls))

    def _get_unless_dead(self, ref: Any) -> Any:
        """``ray.get(ref)``, or ``_DEAD`` when the worker that was to answer died; errors raised by fastrl's own
        code in a worker propagate."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as err:
            if not _is_death(ray, err):
                raise
            return _DEAD

    def _take_backups(self, refresh: bool = True) -> None:
        """Keeps each shard's newest complete backup: a backup replaces the previous one only once it is ready
        (a shard dying while its backup is taken still has the older one); ``refresh`` asks for new ones."""
        ray = self._ray
        for j, ref in enumerate(self._backups_in_flight):
            if ref is not None and ray.wait([ref], timeout=0)[0]:
                self._older_backups[j] = self._shard_backups[j]  # kept in case the newer one holds an error
                self._shard_backups[j] = ref
                self._backups_in_flight[j] = None
        if refresh:
            for j, shard in enumerate(self.shards):
                if self._backups_in_flight[j] is None:
                    self._backups_in_flight[j] = shard.state_dict.remote()

    def _restore_dead_shards(self) -> None:
        """Rebuilds every shard that no longer answers, from its last backup (empty without one), and points the
        actors to the new shards."""
        ray = self._ray
        self._take_backups(refresh=False)
        replaced = False
        for j, shard in enumerate(self.shards):
            try:
                ray.get(shard.size.remote())
                continue
            except ray.exceptions.RayActorError:  # dead (a busy shard answers later, and is kept)
                pass
            new = self._remote_shard.remote(**self._shard_args[j])
            for backup in (self._shard_backups[j], self._older_backups[j]):  # the newest that loads
                if backup is None:
                    continue
                try:
                    ray.get(new.load_state_dict.remote(backup))
                    break
                except ray.exceptions.RayError:
                    continue  # this backup died with its shard
            self.shards[j] = new
            replaced = True
        if replaced:
            ray.get([a.set_shards.remote(self.shards) for a in self.actors])

    # ---- bookkeeping every agent has ----

    @property
    def recent_returns(self) -> deque[float]:
        return self._recent

    @property
    def num_episodes(self) -> int:
        return self._num_episodes

    def interval_metrics(self, step: int) -> dict[str, float]:
        return {"charts/num_updates": float(self.num_updates), "charts/weight_version": float(self.version)}

    def progress_text(self, step: int) -> str:
        return f"updates={self.num_updates}"

    def shard_stats(self) -> list[dict[str, int]]:
        """Per shard: transitions held, inserted and sampled so far."""
        return [self._call(s.stats) for s in self.shards]

    def close(self) -> None:
        """Stops the actors and shards (and the Ray instance this agent started)."""
        if self._ray is None:
            for actor in self.actors:
                actor.close()
        else:
            ray = self._ray
            for handle in [*self.actors, *self.shards]:
                try:
                    ray.kill(handle, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
            if self._owns_ray and ray.is_initialized():
                ray.shutdown()
        self.actors, self.shards = [], []
        # nothing left pinned in a shared object store
        self._shard_backups = self._older_backups = self._backups_in_flight = []
        self._weights_ref = None

    # ---- checkpoints ----

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """The learner, the counters, recent returns and (with ``include_replay``) every shard's state."""
        state = {
            "config": self.config.to_dict(),
            **self._learner_state(),
            "counters": {"global_step": self.global_step, "num_updates": self.num_updates, "version": self.version,
                         "num_episodes": self._num_episodes, "transitions": self.transitions},
            "recent_returns": list(self._recent),
        }
        if include_replay:
            state["shards"] = [self._call(s.state_dict) for s in self.shards]
        return state

    def save(self, path: str | os.PathLike) -> Any:
        """Writes a checkpoint (the shards' states inside it unless ``config.save_replay`` is false)."""
        from fastrl.checkpoint import save_checkpoint

        return save_checkpoint(path, self.KIND, self.state_dict(include_replay=bool(self.config.save_replay)))

    @classmethod
    def from_checkpoint(cls, ckpt: Any, *, device: str | None = None, inference_only: bool = False,
                        **overrides: Any) -> Any:
        """As every agent's; ``inference_only`` (``fastrl eval``) starts no Ray workers: the networks act
        in this process."""
        if inference_only:
            overrides = {"backend": "local", "num_actors": 1, "actor_envs": 1, "num_replay_shards": 1,
                         "min_replay_size": 0, "samples_per_insert": 1.0, "sync": True, **overrides}
        return super().from_checkpoint(ckpt, device=device, inference_only=inference_only, **overrides)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output; the actors start fresh envs with the restored weights."""
        self.load_networks(state)
        self._load_learner_state(state)
        c = state["counters"]
        self.global_step, self.num_updates = int(c["global_step"]), int(c["num_updates"])
        self.version, self._num_episodes = int(c["version"]), int(c["num_episodes"])
        self.transitions = int(c.get("transitions", 0))
        self._recent.clear()
        self._recent.extend(float(r) for r in state["recent_returns"])
        for shard, shard_state in zip(self.shards, state.get("shards", []), strict=False):
            self._call(shard.load_state_dict, shard_state)
        self._published = self._weights()
        if self._ray is not None:
            self._weights_ref = self._ray.put(self._published)
        for actor in self.actors:  # the actors act with the restored weights from their next round on
            self._call(actor.set_weights, self._published, self.version)


class ApeXDQN(ApeXAgent):
    """Ape-X DQN; see the module docstring. The learner trains Double DQN (by default) on n-step transitions
    with importance weights; actors explore epsilon-greedily with the paper's per-actor epsilons."""

    KIND = "apex-dqn"
    CONFIG = ApeXDQNConfig

    def _actor_class(self) -> type:
        from fastrl.distributed import ApeXDQNActor

        return ApeXDQNActor

    def _check_env(self, action_space: Any) -> None:
        if not hasattr(action_space, "n"):
            raise ValueError(f"env_id {self.config.env_id!r} has a {type(action_space).__name__} action space; "
                             "Ape-X DQN needs a Discrete one")
        self.n_actions = int(action_space.n)
        self.action_shape, self.action_dtype = (), np.dtype(np.int64)

    def _build_learner(self) -> None:
        """Online and target networks, Adam over one flat buffer."""
        cfg = self.config
        self.q_net: QNetwork = q_network(self.obs_shape, self.n_actions, cfg.hidden_sizes, cfg.dueling).to(self.device)
        self.target_net: QNetwork = q_network(self.obs_shape, self.n_actions, cfg.hidden_sizes, cfg.dueling)
        self.target_net.to(self.device).load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self.optimizer = FlatAdam(self.q_net, lr=cfg.learning_rate)
        self._target_params = flatten_parameters(self.target_net)
        self._hand_grad = self.device.type == "cpu" and self.q_net.linear_layers is not None
        self._numpy_q = NumpyLinearStack(self.q_net.linear_layers) if NumpyLinearStack.supports(self.q_net) else None
        self.meters = DeviceMeans(self.device, ("losses/td_loss", "losses/q_values"))

    def _actor_kwargs(self, i: int) -> dict[str, Any]:
        from fastrl.distributed import apex_epsilons

        cfg = self.config
        return dict(epsilon=apex_epsilons(cfg.num_actors, cfg.epsilon_base, cfg.epsilon_alpha)[i],
                    hidden_sizes=tuple(cfg.hidden_sizes), dueling=cfg.dueling)

    def _weights(self) -> np.ndarray:
        return self.optimizer.params.detach().cpu().numpy().copy()

    # ---- acting ----

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, deterministic: bool = True) -> np.ndarray:
        """Greedy actions ``(B,)`` int64 of the learner's network (``deterministic=False`` explores with the
        first actor's epsilon)."""
        obs_np = obs.cpu().numpy() if isinstance(obs, torch.Tensor) else np.asarray(obs)
        if obs_np.shape[1:] != self.obs_shape:
            raise ValueError(f"obs must have shape (B, *{self.obs_shape}), got {tuple(obs_np.shape)}")
        if self._numpy_q is not None:
            greedy = self._numpy_q(obs_np.reshape(len(obs_np), -1)).argmax(axis=1)
        else:
            greedy = self.q_net(torch.from_numpy(np.ascontiguousarray(obs_np)).to(self.device)).argmax(1).cpu().numpy()
        if deterministic:
            return greedy
        from fastrl.distributed import apex_epsilons

        eps = apex_epsilons(self.config.num_actors, self.config.epsilon_base, self.config.epsilon_alpha)[0]
        explore = self.rng.random(len(greedy)) < eps
        return np.where(explore, self.rng.integers(self.n_actions, size=len(greedy)), greedy)

    # ---- learning ----

    def _learn(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """One gradient step on a shard's batch; returns the new priorities ``|Q(s, a) - y|``."""
        cfg = self.config
        t = batch_tensors(batch, self.device)
        with torch.no_grad():
            q_next = self.target_net(t["next_obs"])
            if cfg.double:
                boot = q_next.gather(1, self.q_net(t["next_obs"]).argmax(dim=1, keepdim=True)).squeeze(1)
            else:
                boot = q_next.max(dim=1).values
            y = t["reward"] + t["discount"] * boot
        self.optimizer.lr = self.lr(self.global_step)
        self.optimizer.zero_grad()
        if self._hand_grad:
            loss, q_sa = huber_td_backward(self.q_net, t["obs"], t["action"], y, t["weights"])
        else:
            q_sa = self.q_net(t["obs"]).gather(1, t["action"].unsqueeze(1)).squeeze(1)
            loss = (F.smooth_l1_loss(q_sa, y, reduction="none") * t["weights"]).mean()
            loss.backward()
        self.optimizer.clip_grad_norm_(cfg.max_grad_norm)
        self.optimizer.step()
        self.num_updates += 1
        self.meters.add("losses/td_loss", loss.detach(), 1)
        self.meters.add("losses/q_values", q_sa.detach().mean(), 1)
        if cfg.sync or cfg.backend == "local":
            self.losses.append(float(loss))
        if self.num_updates % cfg.target_update_interval == 0:
            with torch.no_grad():
                self._target_params.copy_(self.optimizer.params)
        if self.num_updates % cfg.publish_interval == 0:
            self._publish()
        return (q_sa - y).abs().detach().double().cpu().numpy()

    def _learner_state(self) -> dict[str, Any]:
        return {"q_net": self.q_net.state_dict(), "target_net": self.target_net.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_networks(self, state: dict[str, Any]) -> None:
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])

    def _load_learner_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


_DEAD = object()  # what _get_unless_dead returns for a dead worker


def _is_death(ray: Any, err: BaseException) -> bool:
    """Whether a Ray error reports a dead actor or shard (directly, or as the cause of a failed task), as opposed
    to an exception raised by fastrl's own code in a worker, which must propagate."""
    if isinstance(err, ray.exceptions.RayActorError):
        return True
    return isinstance(err, ray.exceptions.RayTaskError) and isinstance(err.cause, ray.exceptions.RayActorError)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError('Ape-X needs Ray: pip install "fastrl[ray]" (or use backend="local")') from None
    return ray
