"""Policy-gradient pieces shared by both reproductions: softmax policies and baselines.

A :class:`SoftmaxPolicy` is a softmax over a handful of programs; a :class:`FactoredPolicy` is
one softmax per stage (a candidate program is one choice per stage), the way a language model
factorises a program into tokens. Both update by REINFORCE on a batch of rollouts:

    theta += lr / B * sum_k  w_k * A_k * grad log pi(a_k)

with ``w_k`` given by the caller: the duration weights of ``baselines/duration_weights.py``
(the same module as both TRL trainers', running or batch normalisation; see
``baselines/repro/async_bias.py``), times a truncated importance ratio, or 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_advantages(rewards: Sequence[float], normalise: bool = True) -> np.ndarray:
    """GRPO-style advantages: reward minus the batch mean, over the batch std when asked.
    A batch of equal rewards has no signal and gets zeros."""
    r = np.asarray(rewards, dtype=float)
    centred = r - r.mean()
    if not normalise:
        return centred
    std = r.std()
    return centred / std if std > 1e-8 else np.zeros_like(r)


class EMABaseline:
    """A running (exponential moving) average of rewards, the classic REINFORCE baseline.
    It starts at the first batch's mean, so the first update is centred."""

    def __init__(self, rate: float = 0.1) -> None:
        if not 0 < rate <= 1:
            raise ValueError("the baseline rate must be in (0, 1]")
        self.rate = rate
        self.value: float | None = None

    def advantages(self, rewards: Sequence[float]) -> np.ndarray:
        r = np.asarray(rewards, dtype=float)
        if self.value is None:
            self.value = float(r.mean())
        adv = r - self.value
        self.value += self.rate * (float(r.mean()) - self.value)
        return adv


class SoftmaxPolicy:
    """A softmax over ``n`` actions with its own random generator."""

    def __init__(self, n: int, lr: float, seed: int, logits: Sequence[float] | None = None) -> None:
        self.logits = np.zeros(n) if logits is None else np.asarray(logits, dtype=float).copy()
        self.lr = lr
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def probs(self) -> np.ndarray:
        z = np.exp(self.logits - self.logits.max())
        return z / z.sum()

    def sample(self) -> int:
        return int(self.rng.choice(len(self.logits), p=self.probs()))

    def update(
        self,
        actions: Sequence[int],
        advantages: Sequence[float],
        weights: Sequence[float] | None = None,
    ) -> None:
        """One REINFORCE step on a batch; grad log pi(a) of a softmax is onehot(a) - pi."""
        pi = self.probs()
        w = np.ones(len(actions)) if weights is None else np.asarray(weights, dtype=float)
        grad = np.zeros_like(self.logits)
        for a, adv, wk in zip(actions, advantages, w, strict=True):
            g = -pi.copy()
            g[a] += 1.0
            grad += wk * adv * g
        self.logits += self.lr * grad / len(actions)
        self.updates += 1


class FactoredPolicy:
    """One softmax per stage; an action is a tuple with one choice per stage."""

    def __init__(self, sizes: Sequence[int], lr: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.stages = [SoftmaxPolicy(n, lr, int(rng.integers(2**31))) for n in sizes]
        self.updates = 0

    def sample(self) -> tuple[int, ...]:
        return tuple(stage.sample() for stage in self.stages)

    def probs(self) -> list[np.ndarray]:
        return [stage.probs() for stage in self.stages]

    def prob_of(self, choice: Sequence[int]) -> float:
        """Probability of one whole candidate (e.g. the bug-free one, all zeros)."""
        return float(np.prod([p[c] for p, c in zip(self.probs(), choice, strict=True)]))

    def update(self, choices: Sequence[Sequence[int]], advantages: Sequence[float]) -> None:
        for i, stage in enumerate(self.stages):
            stage.update([c[i] for c in choices], advantages)
        self.updates += 1
