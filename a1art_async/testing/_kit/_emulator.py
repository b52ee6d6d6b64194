"""
:class:`EmulatorBase`: what every emulator shares, around its own state and routes.

An emulator subclasses it, keeps its state in attributes, lists its endpoints in a
:class:`~._routes.RouteTable` and overrides the hooks whose wording its API documents.
Every request, whichever adapter delivered it, goes through one pipeline::

    route -> drop before? -> redirect (307)? -> gateway 5xx? -> [file host]
          -> check_key -> rate limit -> server error -> the route's handler
          -> malformed JSON? -> journal -> latency + the answer's delay / read timeout
          / drop after

Request-level faults apply only to the endpoints :meth:`FaultKnobs.applies_to` names;
requests that match no route (endpoint ``other``) are never faulted.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final

import anyio
import attrs
import httpx

from ._asgi import EmulatorASGI
from ._faults import FaultKnobs
from ._filehost import File, FileHost
from ._http import Answer, Reply, Request, Response, normalize_origin
from ._journal import JournalEntry
from ._ratelimit import RateLimiter
from ._routes import Call, Match, RouteTable
from ._tasks import TaskClock
from ._timeline import Timeline
from ._transport import EmulatorTransport

ADMIN_PREFIX: Final = "/_emulator"
"""Where the admin endpoints live on the API origin (loopback tests steer through them)."""

_GATEWAY_PAGE: Final = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS: Final = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def origin_of(url: str) -> str:
    """
    The normalized origin of a URL (``https://a1.art/x`` -> ``https://a1.art``).
    """
    parsed = httpx.URL(url)
    return normalize_origin(parsed.scheme, parsed.host, parsed.port)


def json_object(request: Request) -> dict[str, Any] | Response:
    """
    The request body as a JSON object, or a 400 answer saying why it is not one (for
    admin endpoints).
    """
    try:
        payload = json.loads(request.body)
    except ValueError as error:
        return Response.json(400, {"error": f"invalid JSON: {error}"})
    if not isinstance(payload, dict):
        return Response.json(400, {"error": "expected a JSON object"})
    return payload


class EmulatorBase:
    """
    The kit around an emulator: pipeline, fault knobs, journal, clock, file host and the
    adapters (:meth:`transport`, :meth:`asgi_app`).

    Subclasses set ``routes`` (and ``admin_routes``, ``faults_class``) and override the
    hooks :meth:`api_key_of`, :meth:`check_key`, :meth:`rate_limited`,
    :meth:`server_error`, :meth:`not_found`, :meth:`file` and :meth:`task_of_file`.

    Args:
        api_origin: The origin the API answers on.
        file_origins: Origins the file host (CDN) answers on.
        time_scale: Multiplies every task duration drawn by :attr:`task_clock`.
        seed: Seeds the fault draws (stream ``faults``) and the task clock.
        clock: Returns the current time; by default the running event loop's (see
            :class:`~._timeline.Timeline`).
        faults: Initial fault knobs; a fresh ``faults_class()`` by default.

    Raises:
        ValueError: For a time scale that is not positive.
    """

    routes: ClassVar[RouteTable] = RouteTable()
    """The API's endpoints."""

    admin_routes: ClassVar[RouteTable] = RouteTable(ADMIN_PREFIX)
    """Extra admin endpoints under ``/_emulator`` (journal, stats and faults are built in)."""

    faults_class: ClassVar[type[FaultKnobs]] = FaultKnobs
    """The knobs a default ``Faults`` is made from."""

    def __init__(
        self,
        *,
        api_origin: str,
        file_origins: Iterable[str] = (),
        time_scale: float = 1.0,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        faults: FaultKnobs | None = None,
    ) -> None:
        self.task_clock = TaskClock(seed, time_scale)
        self.api_origin = origin_of(api_origin)
        self.faults = faults if faults is not None else self.faults_class()
        self.journal: list[JournalEntry] = []
        self.timeline = Timeline(clock)
        self.files = FileHost(map(origin_of, file_origins), self.file, self.task_of_file)
        self.fault_rng = random.Random(f"{seed}:faults")
        self._limiter = RateLimiter()

    # -- what a subclass may override ----------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        """
        The API key a request carries: a bearer token, else an ``x-api-key`` header.
        """
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return request.header("x-api-key") or None

    def check_key(self, key: str | None) -> Response | None:
        """
        None to let a request with *key* through, else the refusal (default: any key
        passes, none is refused with 401).
        """
        if key is None:
            return Response.json(401, {"error": "missing API key"})
        return None

    def rate_limited(self, retry_after: int, http_429: bool) -> Response:
        """
        The refusal past the ``rate_limit`` knob (default: HTTP 429 with Retry-After).

        Args:
            retry_after: Whole seconds until the bucket holds a token again.
            http_429: The ``rate_limit_http_429`` knob, for APIs that refuse with 200.
        """
        refusal = Response.json(429, {"error": "rate limit exceeded"})
        return refusal.with_headers(("retry-after", str(retry_after)))

    def server_error(self, draw: float) -> Response:
        """
        The answer under the ``server_error_rate`` knob (default: a JSON 500).

        Args:
            draw: A number in [0, 1) from the fault stream, to pick among several.
        """
        return Response.json(500, {"error": "internal server error"})

    def not_found(self, request: Request, status: int) -> Response:
        """
        The answer for a request no route takes: 404, or 405 when only the method is
        wrong (default: a small JSON body).
        """
        error = "Not Found" if status == 404 else "Method Not Allowed"
        return Response.json(status, {"error": error, "path": request.path})

    def file(self, path: str) -> File | None:
        """
        The file at *path* on the file host, or None (default: there are no files).
        """
        return None

    def task_of_file(self, path: str) -> str | None:
        """
        The task a file path belongs to, for the journal (default: None).
        """
        return None

    def stats(self) -> dict[str, object]:
        """
        What ``GET /_emulator/stats`` answers (default: the number of requests).
        """
        return {"requests": len(self.journal)}

    # -- what the kit gives --------------------------------------------------------------

    @property
    def time_scale(self) -> float:
        """
        The factor task durations are multiplied by.
        """
        return self.task_clock.time_scale

    def now(self) -> float:
        """
        The emulator's current time, the timeline of task times and journal entries.

        On the first event loop that uses the emulator it equals
        ``anyio.current_time()``; on a later loop it continues from where the previous
        one left off, at a fixed offset from that loop's clock, so tasks progress by the
        time that passes under the loops and never by the change between them.  Outside
        any event loop it stands still.

        Raises:
            RuntimeError: Outside any event loop, before any loop used the emulator.
        """
        return self.timeline.now()

    def reset_journal(self) -> None:
        """
        Forget every journal entry.
        """
        self.journal.clear()

    def transport(self) -> EmulatorTransport:
        """
        An httpx transport answering the API, the file origins and any other origin
        in-process.
        """
        return EmulatorTransport(self)

    def running(self) -> contextlib.AbstractAsyncContextManager[object]:
        """
        What runs beside the emulator while a server serves it (from the ASGI lifespan's
        startup to its shutdown): nothing, unless an emulator says otherwise.
        """
        return contextlib.nullcontext()

    def asgi_app(self) -> EmulatorASGI:
        """
        An ASGI 3 application over the same state, for uvicorn or
        ``httpx.ASGITransport``.
        """
        return EmulatorASGI(self)

    def draw(self, probability: float) -> bool:
        """
        A fault draw: True with *probability*.  Nothing is drawn for a knob that is off,
        so turning one knob on never shifts the draws of the others.
        """
        return probability > 0 and self.fault_rng.random() < probability

    async def handle(self, request: Request, *, read_timeout: float | None = None) -> Reply:
        """
        Process one request through the fault pipeline and the route's handler.

        Args:
            request: The request, whatever carried it.
            read_timeout: The client's read timeout if the adapter knows it; latency
                beyond it becomes a ``timeout`` reply after that long.

        Returns:
            What the adapter must do; the journal entry is written before any waiting.
        """
        now = self.now()
        faults = self.faults
        match = Match(None)
        task_id: str | None = None
        if request.origin == self.api_origin:
            match = self.routes.match(request.method, request.path)
            endpoint = match.route.endpoint if match.route is not None else "other"
            if match.route is not None and match.route.task_param is not None:
                task_id = match.params.get(match.route.task_param)
        elif request.origin in self.files.origins:
            endpoint, task_id = "file", self.files.task_of(request.path)
        else:
            endpoint = "other"
        faulty = faults.applies_to(endpoint)
        key = self.api_key_of(request)

        def record(status: int, code: int | None, outcome: str, task_id: str | None) -> None:
            self.journal.append(
                JournalEntry(
                    time=now,
                    method=request.method,
                    origin=request.origin,
                    path=request.path,
                    query=request.query,
                    headers=dict(request.headers),
                    status=status,
                    code=code,
                    endpoint=endpoint,
                    outcome=outcome,
                    key=key,
                    task_id=task_id,
                )
            )

        if faulty and self.draw(faults.drop_before_rate):
            record(0, None, "dropped_before", task_id)
            return Reply("drop_before")

        answer = self._respond(request, endpoint, match, key, task_id, faulty, now)
        response, outcome = answer.response, answer.outcome
        if faulty and _is_api_json(response, endpoint) and self.draw(faults.malformed_json_rate):
            cut = response.body[: max(1, len(response.body) // 2)]
            response = attrs.evolve(response, body=cut)
            outcome = "malformed"
        delay = (faults.latency if faulty else 0.0) + answer.delay
        if delay > 0 and read_timeout is not None and delay > read_timeout:
            record(response.status, response.code, "timeout", answer.task_id)
            await anyio.sleep(read_timeout)
            return Reply("timeout", response)
        if faulty and self.draw(faults.drop_after_rate):
            record(0, None, "dropped_after", answer.task_id)
            await anyio.sleep(delay)
            return Reply("drop_after", response)
        record(response.status, response.code, outcome, answer.task_id)
        await anyio.sleep(delay)
        return Reply("send", response)

    def _respond(
        self,
        request: Request,
        endpoint: str,
        match: Match,
        key: str | None,
        task_id: str | None,
        faulty: bool,
        now: float,
    ) -> Answer:
        faults = self.faults
        if endpoint == "other":
            return Answer(self.not_found(request, match.status), "not_found")
        is_api = endpoint != "file"
        if faulty and is_api and faults.redirect_to:
            target = faults.redirect_to.rstrip("/") + request.path
            target += f"?{request.query}" if request.query else ""
            return Answer(Response(307, (("location", target),), b""), "redirect", task_id)
        if faulty and self.draw(faults.http_5xx_rate):
            status = faults.http_5xx_status
            page = _GATEWAY_PAGE.format(status=status, reason=_REASONS.get(status, "Error"))
            headers = (("content-type", "text/html"),)
            return Answer(Response(status, headers, page.encode()), "http_5xx", task_id)
        if not is_api:
            return self.files.serve(request, oversized=faults.oversized_download)
        route = match.route
        assert route is not None  # endpoint names a route
        if route.needs_key and (refusal := self.check_key(key)) is not None:
            return Answer(refusal, "error", task_id)
        if faulty and faults.rate_limit is not None:
            wait = self._limiter.acquire(key or "", faults.rate_limit, now)
            if wait is not None:
                limited = self.rate_limited(wait, faults.rate_limit_http_429)
                return Answer(limited, "rate_limited", task_id)
        if faulty and self.draw(faults.server_error_rate):
            return Answer(self.server_error(self.fault_rng.random()), "server_error", task_id)
        result = route.handler(self, Call(request, match.params, key, now))
        answer = result if isinstance(result, Answer) else Answer(result)
        if answer.task_id is None and task_id is not None:
            answer = attrs.evolve(answer, task_id=task_id)
        return answer

    # -- admin endpoints -----------------------------------------------------------------

    @property
    def file_origins(self) -> tuple[str, ...]:
        """
        The origins the file host answers on.
        """
        return tuple(self.files.origins)

    def admin(self, request: Request) -> Response:
        """
        Answer ``/_emulator/...`` on the API origin (loopback only; not journaled):
        ``GET journal``, ``GET stats``, ``GET faults``, ``POST faults`` (a JSON object of
        knobs, all or nothing), then the subclass's ``admin_routes``.
        """
        route = (request.method, request.path.removeprefix(ADMIN_PREFIX + "/"))
        if route == ("GET", "journal"):
            return Response.json(200, [attrs.asdict(entry) for entry in self.journal])
        if route == ("GET", "stats"):
            return Response.json(200, self.stats())
        if route == ("GET", "faults"):
            return Response.json(200, self.faults.to_json())
        if route == ("POST", "faults"):
            payload = json_object(request)
            if isinstance(payload, Response):
                return payload
            try:
                self.faults.update(payload)
            except (ValueError, TypeError) as error:
                return Response.json(400, {"error": str(error)})
            return Response.json(200, self.faults.to_json())
        match = self.admin_routes.match(request.method, request.path)
        if match.route is None:
            return Response.json(
                404, {"error": f"no admin endpoint {request.method} {request.path}"}
            )
        result = match.route.handler(self, Call(request, match.params, None, self.now()))
        return result.response if isinstance(result, Answer) else result


def _is_api_json(response: Response, endpoint: str) -> bool:
    """
    Whether an answer is the API's own JSON (which a malformed-JSON fault may cut), not
    a file, redirect or gateway page.
    """
    content_type = dict(response.headers).get("content-type", "")
    return endpoint != "file" and content_type.startswith("application/json")
