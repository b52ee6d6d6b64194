"""
:class:`Emulator`: the a1.art Open API as one stateful object.

A request goes through the same pipeline whichever adapter delivered it (in-process
httpx transport or ASGI)::

    route -> drop before? -> redirect? -> gateway 5xx? -> auth (10410, 10411)
          -> rate limit (20000) -> server error (20002/20003) -> endpoint
          -> malformed JSON? -> journal -> drop after? / latency / read timeout

Request-level faults apply only to the endpoints :meth:`Faults.applies_to` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

import anyio
import attrs
import httpx

from . import _cdn, _endpoints
from . import _codes as codes
from ._asgi import EmulatorASGI
from ._catalog import CATALOG
from ._codes import ApiError
from ._faults import Faults
from ._http import Reply, Request, Response, normalize_origin
from ._ratelimit import RateLimiter
from ._records import JournalEntry, TaskRecord, UploadRecord
from ._store import Account, RemoteImage, Store
from ._timeline import Timeline
from ._transport import EmulatorTransport

API_PREFIX: Final = "/open-api/v1/a1"

_GATEWAY_PAGE: Final = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS: Final = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    return normalize_origin(parsed.scheme, parsed.host, parsed.port)


_POST_ROUTES: Final = {
    "/images/upload": "upload",
    "/images/generate": "generate",
    "/images/optimize": "optimize",
}


@attrs.frozen
class _Route:
    endpoint: str
    argument: str | None = None  # appId or taskId from the path
    status: int = 404  # for "other": 404, or 405 when only the method is wrong

    @property
    def task_id(self) -> str | None:
        """
        The task a request is about before it is processed (tasks and result files).
        """
        return self.argument if self.endpoint in ("tasks", "file") else None


def _route_api(method: str, path: str) -> _Route:
    rest = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else ""
    pieces = rest.split("/")
    if len(pieces) == 3 and pieces[1] in ("apps", "tasks") and pieces[2]:
        return _Route(pieces[1], pieces[2]) if method == "GET" else _Route("other", status=405)
    if rest in _POST_ROUTES:
        return _Route(_POST_ROUTES[rest]) if method == "POST" else _Route("other", status=405)
    return _Route("other")


class _TaskView(Mapping[str, TaskRecord]):
    """
    Read-only tasks by id; each lookup is a snapshot at the current clock time.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, task_id: str) -> TaskRecord:
        return self._store.tasks[task_id].snapshot(self._store.now(), self._store.cdn_origin)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._store.tasks))

    def __len__(self) -> int:
        return len(self._store.tasks)


class Emulator:
    """
    An executable a1.art Open API: keys, credits, uploads, tasks, faults and a journal.

    Talk to it with any httpx client through :meth:`transport`, or serve
    :meth:`asgi_app` on a real port (``python -m a1art_async.testing serve``).

    Args:
        api_key: A first API key.
        balance: That key's credits.
        time_scale: Multiplies every task duration (0.001 turns 22 s into 22 ms).
        seed: Seeds ids, durations, task fates and fault draws.
        api_origin: The origin the API answers on.
        cdn_origin: The origin result files and style covers are served from.
        cdn_cn_origin: The origin result URLs use when a task query sends ``section: cn``.
        clock: Returns the current time in seconds; by default the running event
            loop's clock (``anyio.current_time``), so virtual-time loops drive task
            progress.  Either way the emulator's time never runs backwards, and it
            carries on without a jump when a later ``anyio.run`` brings another loop
            with a clock of its own (see :meth:`now`).
        vip: Whether the first key may use the VIP app.
        faults: Initial fault knobs (all off by default).
    """

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        balance: int = 1000,
        time_scale: float = 1.0,
        seed: int = 0,
        api_origin: str = "https://a1.art",
        cdn_origin: str = "https://cdn.a1.art.emulator",
        cdn_cn_origin: str = "https://cdn.a1art.xiaopiu.com.emulator",
        clock: Callable[[], float] | None = None,
        vip: bool = False,
        faults: Faults | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.api_origin = _origin_of(api_origin)
        self.cdn_origin = _origin_of(cdn_origin)
        self.cdn_cn_origin = _origin_of(cdn_cn_origin)
        self.faults = faults if faults is not None else Faults()
        self.journal: list[JournalEntry] = []
        self._store = Store(
            seed=seed,
            time_scale=time_scale,
            timeline=Timeline(clock),
            cdn_origin=self.cdn_origin,
            cdn_cn_origin=self.cdn_cn_origin,
        )
        self._limiter = RateLimiter()
        self.add_key(api_key, balance=balance, vip=vip)

    # -- accounts -------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """
        The first key, the one the constructor created.
        """
        return next(iter(self._store.accounts))

    def add_key(self, key: str, *, balance: int = 1000, vip: bool = False) -> None:
        """
        Create another API key.

        Args:
            key: The key; any non-empty string.
            balance: Its credits.
            vip: Whether it may generate with the VIP app.

        Raises:
            ValueError: If the key is empty or exists already.
        """
        if not key or key in self._store.accounts:
            raise ValueError(f"key {key!r} is empty or exists already")
        self._store.accounts[key] = Account(balance=balance, vip=vip)

    def balance(self, key: str | None = None) -> int:
        """
        Credits left on *key* (default: the first key).

        Raises:
            KeyError: For an unknown key.
        """
        return self._store.accounts[key or self.api_key].balance

    def set_balance(self, key: str, balance: int) -> None:
        """
        Set the credits of *key*.

        Raises:
            KeyError: For an unknown key.
        """
        self._store.accounts[key].balance = balance

    def generate_calls(self, key: str | None = None) -> int:
        """
        Generate requests that created a task, for *key* or all keys.
        """
        accounts = self._accounts(key)
        return sum(a.generate_calls for a in accounts)

    def charged(self, key: str | None = None) -> int:
        """
        Credits charged (generate and optimize), for *key* or all keys.
        """
        return sum(a.charged for a in self._accounts(key))

    def _accounts(self, key: str | None) -> list[Account]:
        store = self._store
        return list(store.accounts.values()) if key is None else [store.accounts[key]]

    def stats(self) -> dict[str, object]:
        """
        Totals and per-key balance, charges and generate calls, JSON-ready.
        """
        return {
            "generate_calls": self.generate_calls(),
            "charged": self.charged(),
            "tasks": len(self._store.tasks),
            "keys": {key: attrs.asdict(account) for key, account in self._store.accounts.items()},
        }

    # -- apps, uploads, tasks -------------------------------------------------------------

    def current_version(self, app_id: str) -> str:
        """
        The ``versionId`` generate requires now for *app_id*.

        Raises:
            KeyError: For an id outside the catalog.
        """
        return self._store.version(app_id)

    def bump_version(self, app_id: str) -> str:
        """
        Republish *app_id*: a new ``versionId``; requests with older ones get 324013.

        Returns:
            The new version id.

        Raises:
            KeyError: For an id outside the catalog.
        """
        return self._store.bump(CATALOG[app_id].id)

    @property
    def tasks(self) -> Mapping[str, TaskRecord]:
        """
        Every task by ``taskId``; each lookup is a snapshot at the current clock time.
        """
        return _TaskView(self._store)

    @property
    def uploads(self) -> Mapping[str, UploadRecord]:
        """
        Every accepted upload by its ``imageUrl``.
        """
        return dict(self._store.uploads)

    def complete_at(self, task_id: str) -> float:
        """
        Clock time at which the task reaches state 10 or 20; ``math.inf`` if stuck.

        Raises:
            KeyError: For an unknown task.
        """
        return self._store.tasks[task_id].complete_at

    def register_remote_image(
        self, url: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """
        Make *url* fetchable by ``imageUrl`` uploads (the emulator never goes online).

        Args:
            url: The exact URL a client will send.
            data: The bytes it serves.
            content_type: Its Content-Type (informational).
        """
        self._store.remote[url] = RemoteImage(data, content_type)

    def now(self) -> float:
        """
        The emulator's current time, the timeline of task times, journal entries and
        :meth:`complete_at`.

        On the first event loop that uses the emulator it equals
        ``anyio.current_time()``; on a later loop it continues from where the previous
        one left off, at a fixed offset from that loop's clock, so tasks progress by the
        time that passes under the loops and never by the change between them.  Outside
        any event loop it stands still.

        Raises:
            RuntimeError: Outside any event loop, before any loop used the emulator.
        """
        return self._store.now()

    def date(self, when: float) -> str:
        """
        Emulator time *when* (see :meth:`now`) formatted as the API formats dates.
        """
        return self._store.date(when)

    def reset_journal(self) -> None:
        """
        Forget every journal entry.
        """
        self.journal.clear()

    # -- adapters -------------------------------------------------------------------------

    def transport(self) -> EmulatorTransport:
        """
        An httpx transport answering the API, CDN and any other origin in-process.
        """
        return EmulatorTransport(self)

    def asgi_app(self) -> EmulatorASGI:
        """
        An ASGI 3 application over the same state, for uvicorn or ``httpx.ASGITransport``.
        """
        return EmulatorASGI(self)

    # -- the pipeline ---------------------------------------------------------------------

    def _draw(self, probability: float) -> bool:
        # Draw only for knobs that are on, so turning one on does not shift the others.
        return probability > 0 and self._store.fault_rng.random() < probability

    async def handle(self, request: Request, *, read_timeout: float | None = None) -> Reply:
        """
        Process one request through the fault pipeline and the endpoint.

        Args:
            request: The request, whatever carried it.
            read_timeout: The client's read timeout if the adapter knows it; latency
                beyond it becomes a ``timeout`` reply after that long.

        Returns:
            What the adapter must do; the journal entry is written before any waiting.
        """
        now = self._store.now()
        faults = self.faults
        if request.origin == self.api_origin:
            route = _route_api(request.method, request.path)
        elif request.origin in (self.cdn_origin, self.cdn_cn_origin):
            route = _Route("file", _cdn.task_of(request.path))
        else:
            route = _Route("other")
        faulty = route.endpoint != "other" and faults.applies_to(route.endpoint)
        key = request.header("apikey") or None

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
                    endpoint=route.endpoint,
                    outcome=outcome,
                    key=key,
                    task_id=task_id,
                )
            )

        if faulty and self._draw(faults.drop_before_rate):
            record(0, None, "dropped_before", route.task_id)
            return Reply("drop_before")

        response, outcome, task_id = self._respond(request, route, key, faulty, now)

        if faulty and response.code is not None and self._draw(faults.malformed_json_rate):
            cut = response.body[: max(1, len(response.body) // 2)]
            response = Response(response.status, response.headers, cut, response.code)
            outcome = "malformed"
        delay = faults.latency if faulty else 0.0
        if delay > 0 and read_timeout is not None and delay > read_timeout:
            record(response.status, response.code, "timeout", task_id)
            await anyio.sleep(read_timeout)
            return Reply("timeout", response)
        if faulty and self._draw(faults.drop_after_rate):
            record(0, None, "dropped_after", task_id)
            await anyio.sleep(delay)
            return Reply("drop_after", response)
        record(response.status, response.code, outcome, task_id)
        await anyio.sleep(delay)
        return Reply("send", response)

    def _respond(
        self, request: Request, route: _Route, key: str | None, faulty: bool, now: float
    ) -> tuple[Response, str, str | None]:
        faults = self.faults
        if route.endpoint == "other":
            # Shaped like the Spring Boot error body the service's stack would produce.
            body = {
                "timestamp": self._store.date(now),
                "status": route.status,
                "error": "Not Found" if route.status == 404 else "Method Not Allowed",
                "path": request.path,
            }
            return Response.json(route.status, body), "not_found", None
        is_api = route.endpoint != "file"
        if faulty and is_api and faults.redirect_to:
            target = faults.redirect_to.rstrip("/") + request.path
            target += f"?{request.query}" if request.query else ""
            return Response(307, (("location", target),), b""), "redirect", route.task_id
        if faulty and self._draw(faults.http_5xx_rate):
            status = faults.http_5xx_status
            page = _GATEWAY_PAGE.format(status=status, reason=_REASONS.get(status, "Error"))
            headers = (("content-type", "text/html"),)
            return Response(status, headers, page.encode()), "http_5xx", route.task_id
        if not is_api:
            response, outcome = _cdn.serve(self._store, faults, request)
            return response, outcome, route.task_id
        return self._api(request, route, key, faulty, now)

    def _api(
        self, request: Request, route: _Route, key: str | None, faulty: bool, now: float
    ) -> tuple[Response, str, str | None]:
        faults = self.faults
        task_id = route.task_id
        if key is None:
            return Response.envelope(codes.MISSING_API_KEY), "error", task_id
        if key not in self._store.accounts:
            return Response.envelope(codes.INVALID_API_KEY), "error", task_id
        if faulty and faults.rate_limit is not None:
            wait = self._limiter.acquire(key, faults.rate_limit, now)
            if wait is not None:
                if faults.rate_limit_http_429:
                    limited = Response.envelope(codes.TOO_MANY_REQUESTS, status=429)
                    headers = (*limited.headers, ("retry-after", str(wait)))
                    limited = Response(429, headers, limited.body, limited.code)
                else:
                    limited = Response.envelope(codes.TOO_MANY_REQUESTS)
                return limited, "rate_limited", task_id
        if faulty and self._draw(faults.server_error_rate):
            coin = self._store.fault_rng.random()
            code = codes.SERVER_ERROR if coin < 0.5 else codes.INTERNAL_ERROR
            return Response.envelope(code), "server_error", task_id
        store = self._store
        try:
            match route.endpoint:
                case "apps":
                    data = _endpoints.get_app(store, request, route.argument or "")
                case "upload":
                    data = _endpoints.upload(store, faults, request, key)
                case "generate":
                    data, task_id = _endpoints.generate(store, faults, request, key)
                case "optimize":
                    data, task_id = _endpoints.optimize(store, faults, request, key)
                case _:
                    data = _endpoints.get_task(store, request, key, route.argument or "")
        except ApiError as error:
            return Response.envelope(error.code), "error", task_id
        return Response.envelope(codes.OK, data), "ok", task_id
