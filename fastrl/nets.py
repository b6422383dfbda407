"""Torch modules shared by every fastrl agent.

- :class:`MLP`: fully connected layers with ReLU between them, for vector observations.
- :class:`NatureCNN`: the convolutional torso of Mnih et al. (2015) for stacked 84x84 frames; it takes
  ``uint8`` frames (so they cross to the device as 1 byte per pixel) and scales them to ``[0, 1]`` there.
- :class:`DuelingHead`: ``Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)`` (Wang et al., 2016).
- :class:`QNetwork`: a torso (MLP or Nature CNN) and a plain or dueling head, built by :func:`q_network`.
- :class:`Actor` / :class:`Critic`: deterministic policy ``mu(s)`` squashed into the action box, and
  ``Q(s, a)`` on the concatenated observation and action, for the continuous-control agents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "NatureCNN", "DuelingHead", "QNetwork", "q_network", "Actor", "Critic", "is_image_shape"]


def is_image_shape(obs_shape: Sequence[int]) -> bool:
    """True for stacked-frame observations ``(C, H, W)`` that :class:`NatureCNN` handles (H, W >= 36)."""
    return len(obs_shape) == 3 and obs_shape[1] >= 36 and obs_shape[2] >= 36


class MLP(nn.Sequential):
    """Linear layers ``in_dim -> hidden_sizes... -> out_dim`` with ReLU after every hidden layer.

    Input ``(B, in_dim)`` float32, output ``(B, out_dim)``; ``out_dim=None`` ends on the last hidden layer
    (with its ReLU), which is how a torso is built. Observations with more than one axis are flattened.
    """

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int], out_dim: int | None = None) -> None:
        if in_dim <= 0:
            raise ValueError(f"in_dim must be positive, got {in_dim}")
        if any(int(h) <= 0 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {list(hidden_sizes)}")
        layers: list[nn.Module] = []
        last = in_dim
        for h in hidden_sizes:
            layers += [nn.Linear(last, int(h)), nn.ReLU()]
            last = int(h)
        if out_dim is not None:
            layers.append(nn.Linear(last, out_dim))
            last = out_dim
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.flatten(1)
        return super().forward(x)


class NatureCNN(nn.Module):
    """Conv(32, 8x8, s4) - Conv(64, 4x4, s2) - Conv(64, 3x3, s1) - Linear(512), ReLU after each.

    Input ``(B, C, H, W)``, usually ``uint8`` stacked frames ``(B, 4, 84, 84)``; integer input is converted
    to float32 and divided by ``scale`` (255) on the input's device, so a replay batch moves to the GPU as
    bytes (4x less traffic than float32). Float input is used as is. Output ``(B, 512)``.
    """

    def __init__(self, obs_shape: Sequence[int], features: int = 512, scale: float = 255.0) -> None:
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"obs_shape must be (C, H, W), got {tuple(obs_shape)}")
        c, h, w = (int(s) for s in obs_shape)
        self.convs = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())
        self.scale = float(scale)
        self.out_dim = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(x):
            # Scaling here, after the transfer, keeps host->device copies at 1 byte per pixel.
            x = x.float().div_(self.scale)
        return self.fc(self.convs(x))


class DuelingHead(nn.Module):
    """``Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)`` from features ``(B, in_dim)``; output ``(B, n_actions)``.

    Subtracting the mean advantage makes V and A identifiable (Wang et al., 2016, eq. 9).
    """

    def __init__(self, in_dim: int, n_actions: int, hidden: int | None = None) -> None:
        super().__init__()
        if hidden:
            self.value = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            self.advantage = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))
        else:
            self.value = nn.Linear(in_dim, 1)
            self.advantage = nn.Linear(in_dim, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        adv = self.advantage(features)
        return self.value(features) + adv - adv.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """``q(obs) -> (B, n_actions)`` float32 action values: a torso followed by a linear or dueling head."""

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))


def q_network(
    obs_shape: Sequence[int], n_actions: int, hidden_sizes: Sequence[int] = (256, 256), dueling: bool = False
) -> QNetwork:
    """Builds the Q-network for ``obs_shape``: the Nature CNN for ``(C, H, W)`` frames, an MLP otherwise.

    With ``dueling`` the head is :class:`DuelingHead` (for the MLP, the last hidden layer feeds both
    streams; for the CNN, each stream has its own 512-unit layer as in Wang et al.).
    """
    if n_actions <= 0:
        raise ValueError(f"n_actions must be positive, got {n_actions}")
    torso: nn.Module
    if is_image_shape(obs_shape):
        if dueling:
            # The dueling paper splits right after the convolutions: each stream gets its own hidden layer.
            torso = _ConvTorso(NatureCNN(obs_shape))
            return QNetwork(torso, DuelingHead(torso.out_dim, n_actions, hidden=512))
        torso = NatureCNN(obs_shape)
        return QNetwork(torso, nn.Linear(torso.out_dim, n_actions))
    in_dim = 1
    for s in obs_shape:
        in_dim *= int(s)
    if not hidden_sizes:
        raise ValueError("hidden_sizes must name at least one layer")
    torso = MLP(in_dim, hidden_sizes)
    head = DuelingHead(torso.out_dim, n_actions) if dueling else nn.Linear(torso.out_dim, n_actions)
    return QNetwork(torso, head)


class _ConvTorso(nn.Module):
    """The convolutional part of a :class:`NatureCNN` (with its uint8 scaling), without the 512-unit layer."""

    def __init__(self, cnn: NatureCNN) -> None:
        super().__init__()
        self.convs = cnn.convs
        self.scale = cnn.scale
        self.out_dim = cnn.fc[0].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(x):
            x = x.float().div_(self.scale)
        return self.convs(x)


class Actor(nn.Module):
    """Deterministic policy ``mu(s) = low + (tanh(f(s)) + 1) / 2 * (high - low)``, in the action box.

    Input ``(B, obs_dim)`` float32; output ``(B, act_dim)`` float32 inside ``[low, high]``.
    """

    def __init__(
        self, obs_dim: int, act_dim: int, low: Sequence[float], high: Sequence[float],
        hidden_sizes: Sequence[int] = (256, 256),
    ) -> None:
        super().__init__()
        self.net = MLP(obs_dim, hidden_sizes, act_dim)
        low_t = torch.as_tensor(low, dtype=torch.float32).reshape(act_dim)
        high_t = torch.as_tensor(high, dtype=torch.float32).reshape(act_dim)
        if not bool((high_t > low_t).all()):
            raise ValueError("high must exceed low in every action dimension")
        self.register_buffer("action_scale", (high_t - low_t) / 2)
        self.register_buffer("action_bias", (high_t + low_t) / 2)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs)) * self.action_scale + self.action_bias


class Critic(nn.Module):
    """``Q(s, a)`` from the concatenation ``[s, a]``: input ``(B, obs_dim)`` and ``(B, act_dim)``, output ``(B,)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.net = MLP(obs_dim + act_dim, hidden_sizes, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs.flatten(1), action.flatten(1)], dim=1)).squeeze(1)
