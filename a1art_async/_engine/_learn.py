"""
Learned durations: what the scheduler has seen of each family's jobs, and their fit.

The scheduler tells :class:`Durations` how long each finished job took, per *family* (a
provider's word for jobs that take alike: a1.art's app id).  It sees a duration only
between two polls: the job was unfinished at the one and finished at the next, so each
observation is an interval ``(lo, hi]`` of seconds since the job's *anchor* (its
submission, or the last poll that found it still queued).  A family's durations are
taken to be lognormal; :class:`DurationModel` fits ``mu`` and ``sigma`` of ``log D`` to
the intervals by expectation-maximisation (the maximum-likelihood fit for interval
data), with a provider's hint (a1.art's ``processTime``) as a weak prior on the median,
and :class:`Durations` keeps the optimal schedules (``_optimal.py``) for each fit.

What was learned is a small JSON-ready object (:meth:`Durations.export`,
:meth:`Durations.load`): one ``(mu, sigma, weight)`` per family, meant to be saved with a
batch's journal and loaded into the next client, where it is the prior.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from ._optimal import Lognormal, OptimalSchedule, Phi, phi

#: Fitted sigmas stay in this range: a handful of identical durations must not make a
#: schedule that polls only once, nor one wild value a schedule that never ends.
_SIGMA_RANGE: Final = (0.03, 2.0)
_EM_ROUNDS: Final = 100


def _truncated_moments(mu: float, sigma: float, a: float, b: float) -> tuple[float, float]:
    """
    ``E[y]`` and ``E[y**2]`` of ``y ~ N(mu, sigma)`` given ``a < y <= b``.
    """
    alpha = (a - mu) / sigma
    beta = (b - mu) / sigma
    mass = Phi(beta) - Phi(alpha)
    if mass < 1e-12:
        # Far in a tail under the current fit: the interval's own middle (or its finite
        # end) is as good a guess, and the next rounds move the fit towards it.
        y = b if math.isinf(a) else (a + b) / 2
        return y, y * y
    pa = 0.0 if math.isinf(alpha) else phi(alpha)
    pb = phi(beta)
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
