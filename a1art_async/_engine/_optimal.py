"""
Durations as a lognormal, the least E[polls] x E[lag] any schedule can reach for them
(:func:`keller_bound`), and the schedule that reaches the optimum for a poll's cost
(:class:`OptimalSchedule`).

For a known distribution the schedule that minimises ``E[lag] + cost * E[polls]`` is
found by dynamic programming on a grid (the discrete form of Barlow, Hunter and
Proschan's recursion ``t(k+1) - t(k) = (F(t(k)) - F(t(k-1))) / f(t(k)) - cost``); *cost*
is what one poll is worth in seconds of lag (``PollPolicy.poll_cost``).  Any schedule
has ``E[polls] * E[lag] >= (integral of sqrt(f * S))**2 / 2`` (Keller 1974, "Optimum
checking schedules for systems subject to random failure"), which the benchmarks report
beside the product each strategy reaches.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from typing import Final

import attrs

_SQRT2: Final = math.sqrt(2.0)
_SQRT2PI: Final = math.sqrt(2.0 * math.pi)
#: The schedule's grid covers ages up to this quantile; past it the policy's backoff.
_TAIL: Final = 1e-4
#: Grid points per schedule (the step is the horizon over this).
_GRID: Final = 600


def phi(z: float) -> float:
    """
    The standard normal density.
    """
    return math.exp(-0.5 * z * z) / _SQRT2PI


def Phi(z: float) -> float:
    """
    The standard normal distribution function.
    """
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def Phi_inv(p: float) -> float:
    """
    The standard normal quantile function.
    """
    # Acklam's rational approximation, refined by one Newton step (|error| < 1e-9).
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687,
         138.3577518672690, -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866,
         66.80131188771972, -13.28068155288572)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838,
         -2.549732539343734, 4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996, 3.754408661907416)
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    elif p <= 1 - low:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        )
    else:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    return x - (Phi(x) - p) * _SQRT2PI * math.exp(0.5 * x * x)


@attrs.frozen
class Lognormal:
    """
    A lognormal distribution of durations: ``log D`` is normal with ``mu`` and ``sigma``.
    """

    mu: float
    sigma: float

    @classmethod
    def from_median(cls, median: float, sigma: float) -> Lognormal:
        """
        The lognormal with this median (seconds) and sigma.
        """
        return cls(math.log(median), sigma)

    @property
    def median(self) -> float:
        """
        The median, in seconds.
        """
        return math.exp(self.mu)

    def cdf(self, t: float) -> float:
        """
        ``P(D <= t)``.
        """
        return 0.0 if t <= 0 else Phi((math.log(t) - self.mu) / self.sigma)

    def pdf(self, t: float) -> float:
        """
        The density at *t*.
        """
        if t <= 0:
            return 0.0
        return phi((math.log(t) - self.mu) / self.sigma) / (t * self.sigma)

    def partial_mean(self, t: float) -> float:
        """
        ``E[D; D <= t]``, the integral of ``s f(s)`` from 0 to *t*.
        """
        if t <= 0:
            return 0.0
        mean = math.exp(self.mu + self.sigma * self.sigma / 2)
        return mean * Phi((math.log(t) - self.mu - self.sigma * self.sigma) / self.sigma)

    def quantile(self, p: float) -> float:
        """
        The duration below which a fraction *p* of jobs finish.
        """
        return math.exp(self.mu + self.sigma * Phi_inv(p))


def keller_bound(dist: Lognormal, *, steps: int = 4000) -> float:
    """
    The least ``E[polls] * E[lag]`` (seconds) any schedule can reach for *dist*:
    ``(integral of sqrt(f * S) dt)**2 / 2`` (Keller 1974).  About 4.0 s for a median of
    15 s and sigma 0.3.
    """
    # In z = (log t - mu) / sigma, f dt = phi(z) dz and t = exp(mu + sigma z), so the
    # integrand is sqrt(phi(z) * (1 - Phi(z)) * t * sigma).
    low, high = -9.0, 9.0
    dz = (high - low) / steps
    total = 0.0
    for k in range(steps):
        z = low + (k + 0.5) * dz
        t = math.exp(dist.mu + dist.sigma * z)
        total += math.sqrt(max(0.0, phi(z) * (1.0 - Phi(z)) * t * dist.sigma)) * dz
    return 0.5 * total * total


class OptimalSchedule:
    """
    The polls that minimise ``E[lag] + cost * E[polls]`` for one distribution.

    For every age on a grid (seconds since the anchor) it holds the age of the next
    poll; :meth:`next_age` reads it.  Built by backward dynamic programming: with a poll
    at age ``x_i`` the expected remaining cost is ``V_i = min over j > i of
    cost * S_i + integral over (x_i, x_j] of (x_j - s) f(s) ds + V_j``, each ``min`` a
    query of a Li Chao tree of lines, so the whole table takes ``O(n log n)`` for ``n``
    grid points.

    Args:
        dist: The durations.
        cost: Seconds of lag one poll is worth.
    """

    __slots__ = ("_next", "cost", "dist", "horizon", "step")

    def __init__(self, dist: Lognormal, cost: float) -> None:
        self.dist = dist
        self.cost = cost
        self.horizon = dist.quantile(1.0 - _TAIL)
        n = _GRID
        self.step = self.horizon / n
        xs = [self.step * i for i in range(n + 1)]
        big_f = [dist.cdf(x) for x in xs]
        big_m = [dist.partial_mean(x) for x in xs]
        value = [0.0] * (n + 1)
        nxt = array("d", [self.horizon]) * (n + 1)
        tree = _LiChao(big_f)
        for i in range(n - 1, -1, -1):
            j = i + 1
            tree.add(j, -xs[j], xs[j] * big_f[j] - big_m[j] + value[j])
            best, line = tree.query(i)
            value[i] = cost * (1.0 - big_f[i]) + big_m[i] + best
            nxt[i] = xs[line]
        self._next = nxt

    def next_age(self, age: float) -> float | None:
        """
        The age of the next poll after one at *age* that found the job unfinished;
        ``None`` past the grid (the caller's backoff takes over there).
        """
        if age >= self.horizon:
            return None
        index = max(0, math.ceil(age / self.step - 1e-9))
        return max(self._next[index], age + self.step)

    def ages(self) -> Iterator[float]:
        """
        The poll ages of a job that is never seen finished, up to the horizon.
        """
        age: float | None = self._next[0]
        while age is not None:
            yield age
            age = self.next_age(age)


class _LiChao:
    """
    Minimum of lines ``a * F[k] + b`` at grid points ``k``; lines carry an index.
    """

    __slots__ = ("_a", "_b", "_id", "_size", "_xs")

    def __init__(self, xs: list[float]) -> None:
        self._xs = xs
        self._size = len(xs)
        slots = 4 * self._size
        self._a = [0.0] * slots
        self._b = [math.inf] * slots
        self._id = [-1] * slots

    def add(self, ident: int, a: float, b: float) -> None:
        node, low, high = 1, 0, self._size - 1
        xs, sa, sb, sid = self._xs, self._a, self._b, self._id
        while True:
            mid = (low + high) // 2
            x_low, x_mid = xs[low], xs[mid]
            new_low_better = a * x_low + b < sa[node] * x_low + sb[node]
            new_mid_better = a * x_mid + b < sa[node] * x_mid + sb[node]
            if new_mid_better:
                sa[node], a = a, sa[node]
                sb[node], b = b, sb[node]
                sid[node], ident = ident, sid[node]
            if low == high or math.isinf(b):
                return
            if new_low_better != new_mid_better:
                node, high = 2 * node, mid
            else:
                node, low = 2 * node + 1, mid + 1

    def query(self, k: int) -> tuple[float, int]:
        node, low, high = 1, 0, self._size - 1
        x = self._xs[k]
        best, ident = math.inf, -1
        while True:
            if self._id[node] >= 0:
                value = self._a[node] * x + self._b[node]
                if value < best:
                    best, ident = value, self._id[node]
            if low == high:
                return best, ident
            mid = (low + high) // 2
            if k <= mid:
                node, high = 2 * node, mid
            else:
                node, low = 2 * node + 1, mid + 1
