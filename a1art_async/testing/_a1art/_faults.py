"""
a1.art's fault knobs: the kit's, and one of its own (app republishing).
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from .._kit import FaultKnobs
from .._kit._faults import positive_or_none

API_ENDPOINTS: Final = frozenset({"apps", "upload", "generate", "optimize", "tasks"})
"""The endpoint names request-level knobs hit when :attr:`Faults.endpoints` is None."""


@attrs.define
class Faults(FaultKnobs):
    """
    Fault knobs, all off by default; assign to any of them at any time.

    Request-level knobs (``rate_limit``, ``server_error_rate``, ``http_5xx_rate``,
    ``malformed_json_rate``, ``drop_before_rate``, ``drop_after_rate``, ``latency``,
    ``redirect_to``) hit the five API endpoints, or only the endpoint names in
    ``endpoints`` when that is set (add ``"file"`` to reach CDN downloads with drops,
    latency and 5xx).  Task-level knobs are drawn once, when a task is created.

    Attributes:
        rate_limit: Requests per second per key (token bucket, burst ``max(1, rate)``);
            over it the answer is code 20000.
        rate_limit_http_429: Answer rate-limited requests with HTTP 429 and a
            ``Retry-After`` header (whole seconds) instead of HTTP 200.
        server_error_rate: Probability of code 20002 or 20003; nothing is processed.
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
        version_bump_after: Republish an app after every N successful generations.
    """

    version_bump_after: int | None = attrs.field(default=None, validator=positive_or_none)

    ENDPOINTS: ClassVar[frozenset[str] | None] = API_ENDPOINTS
