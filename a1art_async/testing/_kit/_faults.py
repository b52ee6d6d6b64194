"""
The fault knobs: everything that can go wrong between a client and a service.

Every knob is off by default, can be changed while requests are in flight, and draws its
randomness from the emulator's seeded fault stream, so a failing run replays exactly.
An emulator whose API has knobs of its own subclasses :class:`FaultKnobs` (attrs) and
names its endpoints in ``ENDPOINTS``, so that the ``endpoints`` knob is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

KIT_ENDPOINTS: Final = frozenset({"file", "other"})
"""The endpoint names the kit gives the file host and requests that match no route."""


def probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def positive_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


def _http_5xx(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 500 <= value <= 599:
        raise ValueError(f"{attribute.name} must be a 5xx status, got {value!r}")


def _endpoint_set(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _known_endpoints(instance: FaultKnobs, _: object, value: frozenset[str] | None) -> None:
    known = type(instance).ENDPOINTS
    if value is None or known is None:
        return
    if unknown := value - known - KIT_ENDPOINTS:
        every = sorted(known | KIT_ENDPOINTS)
        raise ValueError(f"unknown endpoint names {sorted(unknown)}; known: {every}")


@attrs.define
class FaultKnobs:
    """
    Fault knobs, all off by default; assign to any of them at any time.

    Request-level knobs (``rate_limit``, ``server_error_rate``, ``http_5xx_rate``,
    ``malformed_json_rate``, ``drop_before_rate``, ``drop_after_rate``, ``latency``,
    ``redirect_to``) hit every API endpoint, or only the endpoint names in
    ``endpoints`` when that is set (add ``"file"`` to reach the file host with drops,
    latency and 5xx).  Task-level knobs are drawn once, when a task is created.

    Attributes:
        rate_limit: Requests per second per key (token bucket, burst ``max(1, rate)``);
            over it the API's rate-limit refusal (its ``rate_limited`` hook).
        rate_limit_http_429: Ask for that refusal as HTTP 429 with a ``Retry-After``
            header (whole seconds), where the API would otherwise answer HTTP 200.
        server_error_rate: Probability of the API's own server error (its
            ``server_error`` hook); nothing is processed.
        http_5xx_rate: Probability of an HTML gateway error page; nothing is processed.
        http_5xx_status: The status of that page.
        malformed_json_rate: Probability that a processed answer arrives as truncated JSON.
        drop_before_rate: Probability that a request never reaches the server.
        drop_after_rate: Probability that the connection drops after the server acted.
        latency: Seconds added before every answer; in-process, a read timeout shorter
            than this turns into ``httpx.ReadTimeout`` after the server acted.
        task_failure_rate: Probability that a task ends in state 20.
        task_stuck_rate: Probability that a task stays in state 30 forever.
        task_concurrency: Run at most this many tasks at once; the others wait their
            turn in state 0, first come first served (tasks created while it is set).
        result_ttl: Result files answer 403 this many clock seconds after the task ended.
        redirect_to: Answer API requests with 307 to the same path on this origin.
        endpoints: Restrict request-level knobs to these endpoint names.
        oversized_download: File answers claim their real Content-Length but stream
            far more (64 MiB), to test download size caps.
    """

    rate_limit: float | None = attrs.field(default=None, validator=positive_or_none)
    rate_limit_http_429: bool = False
    server_error_rate: float = attrs.field(default=0.0, validator=probability)
    http_5xx_rate: float = attrs.field(default=0.0, validator=probability)
    http_5xx_status: int = attrs.field(default=502, validator=_http_5xx)
    malformed_json_rate: float = attrs.field(default=0.0, validator=probability)
    drop_before_rate: float = attrs.field(default=0.0, validator=probability)
    drop_after_rate: float = attrs.field(default=0.0, validator=probability)
    latency: float = attrs.field(default=0.0, validator=non_negative)
    task_failure_rate: float = attrs.field(default=0.0, validator=probability)
    task_stuck_rate: float = attrs.field(default=0.0, validator=probability)
    task_concurrency: int | None = attrs.field(default=None, validator=positive_or_none)
    result_ttl: float | None = attrs.field(default=None, validator=positive_or_none)
    redirect_to: str | None = None
    endpoints: frozenset[str] | None = attrs.field(
        default=None, converter=_endpoint_set, validator=_known_endpoints
    )
    oversized_download: bool = False

    ENDPOINTS: ClassVar[frozenset[str] | None] = None
    """The API's endpoint names, which ``endpoints`` may name; None accepts any."""

    def applies_to(self, endpoint: str) -> bool:
        """
        Whether request-level knobs hit *endpoint*: with ``endpoints`` unset, every API
        endpoint, never the file host; ``other`` (no route) never.
        """
        if endpoint == "other":
            return False
        return endpoint != "file" if self.endpoints is None else endpoint in self.endpoints

    def update(self, knobs: Mapping[str, Any]) -> None:
        """
        Set several knobs at once, validating each (used by the loopback admin endpoint).

        Args:
            knobs: Knob names to values; JSON lists are accepted for ``endpoints``.

        Raises:
            ValueError: On an unknown knob or an invalid value; nothing is changed then.
        """
        names = {a.name for a in attrs.fields(type(self))}
        if unknown := set(knobs) - names:
            raise ValueError(f"unknown fault knobs {sorted(unknown)}")
        # Validate on a copy first so a bad value leaves the live knobs untouched.
        trial = attrs.evolve(self)
        for name, value in knobs.items():
            setattr(trial, name, value)
        for name in knobs:
            setattr(self, name, getattr(trial, name))

    def to_json(self) -> dict[str, Any]:
        """
        The knobs as a JSON-ready dict (``endpoints`` as a sorted list).
        """
        out = attrs.asdict(self)
        if self.endpoints is not None:
            out["endpoints"] = sorted(self.endpoints)
        return out
