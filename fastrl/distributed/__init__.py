"""Scale-out on Ray: Ape-X (Horgan et al., 2018) with fastrl's C++ replay memory in replay-shard actors.

Many actor processes, each with its own exploration, step their own ``fastrl.make_vec`` envs with a CPU copy of
the policy, assemble n-step transitions and their initial priorities locally and push them in batches to
prioritized replay shards; one learner samples from the shards, trains, sends priority updates back and
publishes weights that the actors pick up between rounds. See :class:`fastrl.agents.ApeXDQN` and
:class:`fastrl.agents.ApeXDDPG`.

- :class:`ReplayShard`: a :class:`fastrl.PrioritizedReplayBuffer` of complete n-step transitions, with Reverb-style
  rate limiting (a minimum size before sampling, a bounded samples-per-insert ratio) and a ``state_dict``.
- :class:`ApeXDQNActor`, :class:`ApeXDDPGActor`: envs, a policy copy, exploration (epsilon-greedy; Gaussian
  noise), n-step assembly and initial priorities (both on :class:`ApeXActorBase`).
- :func:`apex_epsilons`, :func:`apex_noise_scales`: per-actor exploration rates (the paper's) and noise scales.
- :func:`init_ray`: ``ray.init`` such that Ray's workers import the same fastrl as this process (use it when
  you start Ray yourself from a directory holding another copy of fastrl, such as a source checkout).

The classes are plain Python objects: Ray runs them as actors (``ray.remote(ReplayShard)``), and a local run
(or a test) can drive the same objects in one process. Importing this package does not import Ray; only the
agent does, when it starts (``pip install "fastrl[ray]"``).
"""

from __future__ import annotations

from fastrl.distributed.actor import (
    ApeXActorBase,
    ApeXDDPGActor,
    ApeXDQNActor,
    NStepAssembler,
    apex_epsilons,
    apex_noise_scales,
)
from fastrl.distributed.ray_init import init_ray
from fastrl.distributed.shard import ReplayShard

__all__ = ["ApeXActorBase", "ApeXDDPGActor", "ApeXDQNActor", "NStepAssembler", "ReplayShard", "apex_epsilons",
           "apex_noise_scales", "init_ray"]
