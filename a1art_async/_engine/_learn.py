"""
Learned durations and the optimal polling schedule for them.

The scheduler tells :class:`Durations` how long each finished job took, per *family* (a
provider's word for jobs that take alike: a1.art's app id).  It sees a duration only
between two polls: the job was unfinished at the one and finished at the next, so each
observation is an interval ``(lo, hi]`` of seconds since the job's *anchor* (its
submission, or the last poll that found it still queued).  A family's durations are
taken to be lognormal; :class:`DurationModel` fits ``mu`` and ``sigma`` of ``log D`` to
the intervals by expectation-maximisation (the maximum-likelihood fit for interval
data), with a provider's hint (a1.art's ``processTime``) as a weak prior on the median.

For a known distribution the schedule that minimises ``E[lag] + cost * E[polls]`` is
found by dynamic programming on a grid (the discrete form of Barlow, Hunter and
Proschan's recursion; Keller 1974 for the continuous bound): :class:`OptimalSchedule`
holds, for every age, the age of the next poll.  *cost* is what one poll is worth in
seconds of lag (``PollPolicy.poll_cost``).  Any schedule has
``E[polls] * E[lag] >= (integral of sqrt(f * S))**2 / 2`` (:func:`keller_bound`), which
the benchmarks report beside the product each strategy reaches.

What was learned is a small JSON-ready object (:meth:`Durations.export`,
:meth:`Durations.load`): one ``(mu, sigma, weight)`` per family, meant to be saved with a
batch's journal and loaded into the next client, where it is the prior.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

_SQRT2: Final = math.sqrt(2.0)
_SQRT2PI: Final = math.sqrt(2.0 * math.pi)
#: Fitted sigmas stay in this range: a handful of identical durations must not make a
#: schedule that polls only once, nor one wild value a schedule that never ends.
_SIGMA_RANGE: Final = (0.03, 2.0)
#: The schedule's grid covers ages up to this quantile; past it the policy's backoff.
_TAIL: Final = 1e-4
#: Grid points per schedule (the step is the horizon over this).
_GRID: Final = 600
_EM_ROUNDS: Final = 100


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / _SQRT2PI


def _Phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def _Phi_inv(p: float) -> float:
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
    return x - (_Phi(x) - p) * _SQRT2PI * math.exp(0.5 * x * x)


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
        return 0.0 if t <= 0 else _Phi((math.log(t) - self.mu) / self.sigma)

    def pdf(self, t: float) -> float:
        """
        The density at *t*.
        """
        if t <= 0:
            return 0.0
        return _phi((math.log(t) - self.mu) / self.sigma) / (t * self.sigma)

    def partial_mean(self, t: float) -> float:
        """
        ``E[D; D <= t]``, the integral of ``s f(s)`` from 0 to *t*.
        """
        if t <= 0:
            return 0.0
        mean = math.exp(self.mu + self.sigma * self.sigma / 2)
        return mean * _Phi((math.log(t) - self.mu - self.sigma * self.sigma) / self.sigma)

    def quantile(self, p: float) -> float:
        """
        The duration below which a fraction *p* of jobs finish.
        """
        return math.exp(self.mu + self.sigma * _Phi_inv(p))


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
        total += math.sqrt(max(0.0, _phi(z) * (1.0 - _Phi(z)) * t * dist.sigma)) * dz
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


def _truncated_moments(mu: float, sigma: float, a: float, b: float) -> tuple[float, float]:
    """
    ``E[y]`` and ``E[y**2]`` of ``y ~ N(mu, sigma)`` given ``a < y <= b``.
    """
    alpha = (a - mu) / sigma
    beta = (b - mu) / sigma
    mass = _Phi(beta) - _Phi(alpha)
    if mass < 1e-12:
        # Far in a tail under the current fit: the interval's own middle (or its finite
        # end) is as good a guess, and the next rounds move the fit towards it.
        y = b if math.isinf(a) else (a + b) / 2
        return y, y * y
    pa = 0.0 if math.isinf(alpha) else _phi(alpha)
    pb = _phi(beta)
    ratio = (pa - pb) / mass
    mean = mu + sigma * ratio
    spread = 1.0 + ((0.0 if math.isinf(alpha) else alpha * pa) - beta * pb) / mass - ratio**2
    return mean, sigma * sigma * max(spread, 0.0) + mean * mean


class DurationModel:
    """
    What is known about one family's durations: a prior and recent observations.

    Observations are used once they are *mature*: once every job anchored at the same
    time as theirs has almost surely finished too (its anchor is older than the 99.9th
    percentile of the current fit).  Before that, the jobs that finished are the quick
    ones of their cohort, and a fit to them alone would think the family quicker than it
    is: a burst of tasks submitted together would poll far too early once "learned".

    Args:
        prior: The distribution assumed before any observation (from a hint, or loaded).
        weight: How many observations the prior counts as.
        window: How many recent mature observations are kept (older ones are forgotten,
            so the fit follows a service that gets faster or slower).
    """

    __slots__ = (
        "_fit",
        "_intervals",
        "_oldest",
        "_pending",
        "_since_fit",
        "_span",
        "matured",
        "observed",
        "prior",
        "weight",
    )

    def __init__(self, prior: Lognormal | None, weight: float, window: int) -> None:
        self.prior = prior
        self.weight = weight if prior is not None else 0.0
        self._intervals: deque[tuple[float, float]] = deque(maxlen=window)
        # (anchor, lo, hi) not mature yet, in the order they were seen.
        self._pending: deque[tuple[float, float, float]] = deque(maxlen=4 * window)
        # The oldest anchor pending (a lower bound), and the span an anchor must be
        # older than to be mature, with the distribution it was computed for.
        self._oldest = math.inf
        self._span: tuple[Lognormal | None, float] = (None, math.inf)
        self._fit: Lognormal | None = None
        self._since_fit = 0
        #: Observations since this model was made (including forgotten ones).
        self.observed = 0
        #: Of those, the ones that are mature (see the class docstring).
        self.matured = 0

    def observe(self, lo: float, hi: float, *, anchor: float | None = None) -> None:
        """
        A job finished more than *lo* and at most *hi* seconds after its anchor (a time
        on the caller's clock; ``None``: mature at once).
        """
        lo, hi = max(0.0, lo), max(hi, 1e-3)
        self.observed += 1
        if anchor is None:
            self._intervals.append((min(lo, hi), hi))
            self.matured += 1
            self._since_fit += 1
        else:
            # A full deque forgets its oldest: the bound may then be too low, which costs
            # one needless look through the others at most.
            self._pending.append((anchor, min(lo, hi), hi))
            self._oldest = min(self._oldest, anchor)

    @property
    def samples(self) -> int:
        """
        Mature observations kept.
        """
        return len(self._intervals)

    def ripen(self, now: float | None) -> None:
        """
        Move the observations that are mature at *now* (``None``: all) into the fit.
        """
        pending = self._pending
        if not pending:
            return
        reference = self._fit or self.prior
        if now is not None and reference is None:
            # No scale yet: a first fit to whatever finished gives one.
            reference = self._em(list(self._intervals) + [(lo, hi) for _, lo, hi in pending])
        if now is None or reference is None:
            cutoff = math.inf
        else:
            if self._span[0] is not reference:
                self._span = (reference, reference.quantile(0.999))
            cutoff = now - self._span[1]
        if self._oldest > cutoff:
            return  # nothing is mature yet: no need to look through them
        kept: deque[tuple[float, float, float]] = deque(maxlen=pending.maxlen)
        oldest = math.inf
        for anchor, lo, hi in pending:
            if anchor <= cutoff:
                self._intervals.append((lo, hi))
                self.matured += 1
                self._since_fit += 1
            else:
                kept.append((anchor, lo, hi))
                oldest = min(oldest, anchor)
        self._pending = kept
        self._oldest = oldest

    def fit(self, *, fresh: bool = False, now: float | None = None) -> Lognormal | None:
        """
        The current fit, from the observations mature at *now* (``None``: all, as for an
        export); ``None`` without prior and observations.  *fresh* refits now.

        Refitted once the mature observations since the last fit are half as many as
        before it (at least 4, at most 64 apart), and kept as the same object unless the
        median moved by 0.5 % or sigma by 2 %, so that schedules made for it stay in use.
        """
        if self._pending and (now is None or self._since_fit or self._fit is None or fresh):
            self.ripen(now)
        n = len(self._intervals)
        due = self._since_fit >= min(64, max(4, (n - self._since_fit) // 2))
        if self._fit is None or (fresh and self._since_fit) or due:
            fit = self._em(list(self._intervals))
            old = self._fit
            if (
                old is None
                or fit is None
                or abs(fit.mu - old.mu) > 0.005
                or abs(fit.sigma - old.sigma) > 0.02 * old.sigma
            ):
                self._fit = fit
            self._since_fit = 0
        return self._fit

    def _em(self, intervals: list[tuple[float, float]]) -> Lognormal | None:
        logs = [(-math.inf if lo <= 0 else math.log(lo), math.log(hi)) for lo, hi in intervals]
        if not logs and self.prior is None:
            return None
        if self._fit is not None:
            mu, sigma = self._fit.mu, self._fit.sigma
        elif self.prior is not None:
            mu, sigma = self.prior.mu, self.prior.sigma
        else:
            mids = [b if math.isinf(a) else (a + b) / 2 for a, b in logs]
            mu = sum(mids) / len(mids)
            sigma = max(_SIGMA_RANGE[0], math.sqrt(sum((m - mu) ** 2 for m in mids) / len(mids)))
        s0 = self.weight
        s1 = s2 = 0.0
        if self.prior is not None:
            s1 = s0 * self.prior.mu
            s2 = s0 * (self.prior.sigma**2 + self.prior.mu**2)
        total = s0 + len(logs)
        for _ in range(_EM_ROUNDS):
            t1, t2 = s1, s2
            for a, b in logs:
                m1, m2 = _truncated_moments(mu, sigma, a, b)
                t1 += m1
                t2 += m2
            new_mu = t1 / total
            new_sigma = math.sqrt(max(t2 / total - new_mu * new_mu, 0.0))
            new_sigma = min(max(new_sigma, _SIGMA_RANGE[0]), _SIGMA_RANGE[1])
            done = abs(new_mu - mu) < 1e-4 and abs(new_sigma - sigma) < 1e-4
            mu, sigma = new_mu, new_sigma
            if done:
                break
        return Lognormal(mu, sigma)


class Durations:
    """
    Per family: the durations seen, their fit, and the optimal schedules for them.

    Args:
        learn_after: Observations of a family before its schedule is the learned one
            (until then :meth:`schedule` says ``None`` and the policy's rules apply).
        window: Observations kept per family.
        prior_sigma: The sigma assumed with a hint, before anything is seen.
        prior_weight: How many observations a hint (or a loaded fit) counts as.
        max_families: Families remembered; the least recently seen is forgotten first.
    """

    def __init__(
        self,
        *,
        learn_after: int = 20,
        window: int = 200,
        prior_sigma: float = 0.3,
        prior_weight: float = 2.0,
        max_families: int = 1000,
    ) -> None:
        self.learn_after = learn_after
        self.window = window
        self.prior_sigma = prior_sigma
        self.prior_weight = prior_weight
        self.max_families = max_families
        self._models: dict[str, DurationModel] = {}
        # (family, cost) -> the fit a table was made for, and the table.
        self._tables: dict[tuple[str, float], tuple[Lognormal, OptimalSchedule]] = {}

    def __repr__(self) -> str:
        return f"<Durations families={len(self._models)}>"

    def __contains__(self, family: object) -> bool:
        return family in self._models

    def model(self, family: str, hint: float | None = None) -> DurationModel:
        """
        The family's model, made on first use (with *hint* as the prior's median).
        """
        model = self._models.pop(family, None)
        if model is None:
            prior = None
            if hint is not None and math.isfinite(hint) and hint > 0:
                prior = Lognormal.from_median(hint, self.prior_sigma)
            model = DurationModel(prior, self.prior_weight, self.window)
            while len(self._models) >= self.max_families:
                forgotten = next(iter(self._models))
                del self._models[forgotten]
                for key in [k for k in self._tables if k[0] == forgotten]:
                    del self._tables[key]
        self._models[family] = model  # most recently used last
        return model

    def observe(
        self,
        family: str,
        lo: float,
        hi: float,
        *,
        hint: float | None = None,
        anchor: float | None = None,
    ) -> None:
        """
        A job of *family* finished between *lo* and *hi* seconds after its anchor (a
        time, for the observation to wait until its cohort is mature; ``None``: at once).
        """
        self.model(family, hint).observe(lo, hi, anchor=anchor)

    def observed(self, family: str) -> int:
        """
        How many tasks of *family* were seen finishing (0 for a family not known).
        """
        model = self._models.get(family)
        return 0 if model is None else model.observed

    def fitted(
        self, family: str, *, prior: bool = False, now: float | None = None
    ) -> Lognormal | None:
        """
        The family's fitted distribution, once ``learn_after`` of its observations are
        mature at *now* (with *prior*, also before: the hint's lognormal refined by what
        was seen).
        """
        model = self._models.get(family)
        if model is None:
            return None
        if model.matured < self.learn_after and not prior:
            if not model.observed >= self.learn_after:
                return None
            model.ripen(now)
            if model.matured < self.learn_after:
                return None
        return model.fit(now=now)

    def schedule(
        self, family: str, cost: float, *, prior: bool = False, now: float | None = None
    ) -> OptimalSchedule | None:
        """
        The optimal schedule for the family at *cost* seconds per poll, or ``None``
        while it is not learned yet (with *prior*: while nothing is known at all).
        """
        dist = self.fitted(family, prior=prior, now=now)
        if dist is None:
            return None
        key = (family, cost)
        cached = self._tables.get(key)
        if cached is not None and cached[0] is dist:
            return cached[1]
        table = OptimalSchedule(dist, cost)
        self._tables[key] = (dist, table)
        return table

    def export(self) -> dict[str, Any]:
        """
        What was learned, JSON-ready: ``{"v": 1, "families": {family: {"mu", "sigma",
        "weight"}}}``, the weight being the observations behind the fit (capped at the
        window).  :meth:`load` reads it back, in this process or another.
        """
        families: dict[str, Any] = {}
        for family, model in self._models.items():
            fit = model.fit(fresh=True) if model.observed >= self.learn_after else None
            if model.matured < self.learn_after:
                fit = None
            if fit is None:
                continue
            weight = min(float(self.window), model.weight + model.samples)
            families[family] = {
                "mu": round(fit.mu, 6),
                "sigma": round(fit.sigma, 6),
                "weight": round(weight, 3),
            }
        return {"v": 1, "families": families}

    def load(self, state: Mapping[str, Any]) -> None:
        """
        Take an :meth:`export` as the prior of each family it names: its fit counts as
        its weight in observations, and a loaded family is learned at once.

        Raises:
            ValueError: Not an export of this version, or a family's numbers are not
                positive where they must be.
        """
        if not isinstance(state, Mapping) or state.get("v") != 1:
            raise ValueError("not a learned-durations export (version 1)")
        families = state.get("families")
        if not isinstance(families, Mapping):
            raise ValueError("families must be an object")  # noqa: TRY004 - one error for bad input
        loaded: dict[str, DurationModel] = {}
        for family, entry in families.items():
            try:
                mu, sigma, weight = (float(entry[k]) for k in ("mu", "sigma", "weight"))
            except (TypeError, KeyError, ValueError):
                raise ValueError(f"family {family!r}: needs numbers mu, sigma, weight") from None
            if not (math.isfinite(mu) and sigma > 0 and math.isfinite(sigma) and weight >= 0):
                raise ValueError(f"family {family!r}: sigma and weight must be positive")
            model = DurationModel(Lognormal(mu, sigma), weight, self.window)
            model.observed = model.matured = max(self.learn_after, math.ceil(weight))
            loaded[str(family)] = model
        for family, model in loaded.items():
            self._models.pop(family, None)
            for key in [k for k in self._tables if k[0] == family]:
                del self._tables[key]
            self._models[family] = model
