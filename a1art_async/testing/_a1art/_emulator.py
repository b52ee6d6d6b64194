"""
:class:`Emulator`: the a1.art Open API as one stateful object, built on the kit.

The kit (:mod:`.._kit`) runs every request through its pipeline; this module gives it
a1.art's state (:class:`~._store.Store`), its five endpoints as a route table, and the
hooks that make the kit's refusals read like a1.art's::

    route -> drop before? -> redirect? -> gateway 5xx? -> auth (10410, 10411)
          -> rate limit (20000) -> server error (20002/20003) -> endpoint
          -> malformed JSON? -> journal -> drop after? / latency / read timeout

Request-level faults apply only to the endpoints :meth:`Faults.applies_to` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar, Final

import attrs

from .._kit import (
    Answer,
    Call,
    EmulatorBase,
    File,
    Request,
    Response,
    RouteTable,
    json_object,
    origin_of,
)
from .._kit._emulator import ADMIN_PREFIX
from . import _cdn, _endpoints
from . import _codes as codes
from ._catalog import CATALOG
from ._codes import ApiError, reply
from ._faults import Faults
from ._records import TaskRecord, UploadRecord
from ._store import Account, Store

API_PREFIX: Final = "/open-api/v1/a1"


class _TaskView(Mapping[str, TaskRecord]):
    """
    Read-only tasks by id; each lookup is a snapshot at the current emulator time.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, task_id: str) -> TaskRecord:
        return self._store.tasks[task_id].snapshot(self._store.now(), self._store.cdn_origin)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._store.tasks))

    def __len__(self) -> int:
        return len(self._store.tasks)


class Emulator(EmulatorBase):
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

    Raises:
        ValueError: For a time scale that is not positive.
    """

    routes: ClassVar[RouteTable] = RouteTable(API_PREFIX)
    admin_routes: ClassVar[RouteTable] = RouteTable(ADMIN_PREFIX)
    faults_class: ClassVar[type[Faults]] = Faults
    faults: Faults

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
        super().__init__(
            api_origin=api_origin,
            file_origins=(cdn_origin, cdn_cn_origin),
            time_scale=time_scale,
            seed=seed,
            clock=clock,
            faults=faults,
        )
        self.cdn_origin = origin_of(cdn_origin)
        self.cdn_cn_origin = origin_of(cdn_cn_origin)
        self._store = Store(
            seed=seed,
            timeline=self.timeline,
            task_clock=self.task_clock,
            files=self.files,
            cdn_origin=self.cdn_origin,
            cdn_cn_origin=self.cdn_cn_origin,
        )
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
        Emulator time (see :meth:`now`) at which the task reaches state 10 or 20;
        ``math.inf`` if stuck.

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
        self.files.register_remote(url, data, content_type)

    def date(self, when: float) -> str:
        """
        Emulator time *when* (see :meth:`now`) formatted as the API formats dates.
        """
        return self._store.date(when)

    # -- the kit's hooks: a1.art's wording ------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        """
        The ``apiKey`` header (any case), also on file downloads (to spot key leaks).
        """
        return request.header("apikey") or None

    def check_key(self, key: str | None) -> Response | None:
        """
        10410 without a key, 10411 for a key the emulator does not know.
        """
        if key is None:
            return reply(codes.MISSING_API_KEY)
        if key not in self._store.accounts:
            return reply(codes.INVALID_API_KEY)
        return None

    def rate_limited(self, retry_after: int, http_429: bool) -> Response:
        """
        Code 20000, on HTTP 200, or on HTTP 429 with ``Retry-After``.
        """
        if http_429:
            return reply(codes.TOO_MANY_REQUESTS, status=429).with_headers(
                ("retry-after", str(retry_after))
            )
        return reply(codes.TOO_MANY_REQUESTS)

    def server_error(self, draw: float) -> Response:
        """
        Code 20002 or 20003, as likely.
        """
        return reply(codes.SERVER_ERROR if draw < 0.5 else codes.INTERNAL_ERROR)

    def not_found(self, request: Request, status: int) -> Response:
        """
        The Spring Boot error body the service's stack would produce.
        """
        body = {
            "timestamp": self._store.date(self.now()),
            "status": status,
            "error": "Not Found" if status == 404 else "Method Not Allowed",
            "path": request.path,
        }
        return Response.json(status, body)

    def file(self, path: str) -> File | None:
        """
        A result file of a finished task, or a style cover.
        """
        return _cdn.find(self._store, self.faults, path)

    def task_of_file(self, path: str) -> str | None:
        """
        The task of a ``/results/<taskId>/<n>.<ext>`` path.
        """
        return _cdn.task_of(path)

    # -- the routes -----------------------------------------------------------------------

    def _api(self, work: Callable[[], tuple[_endpoints.Data, str | None]]) -> Answer:
        try:
            data, task_id = work()
        except ApiError as error:
            return Answer(reply(error.code), "error")
        return Answer(reply(codes.OK, data), "ok", task_id)

    @routes.get("/apps/{app_id}", endpoint="apps")
    def _get_app(self, call: Call) -> Answer:
        return self._api(
            lambda: (_endpoints.get_app(self._store, call.request, call.params["app_id"]), None)
        )

    @routes.post("/images/upload", endpoint="upload")
    def _upload(self, call: Call) -> Answer:
        key = call.key or ""
        return self._api(lambda: (_endpoints.upload(self._store, call.request, key), None))

    @routes.post("/images/generate", endpoint="generate")
    def _generate(self, call: Call) -> Answer:
        key = call.key or ""
        return self._api(lambda: _endpoints.generate(self._store, self.faults, call.request, key))

    @routes.post("/images/optimize", endpoint="optimize")
    def _optimize(self, call: Call) -> Answer:
        key = call.key or ""
        return self._api(lambda: _endpoints.optimize(self._store, self.faults, call.request, key))

    @routes.get("/tasks/{task_id}", endpoint="tasks", task_param="task_id")
    def _get_task(self, call: Call) -> Answer:
        key, task_id = call.key or "", call.params["task_id"]
        return self._api(
            lambda: (_endpoints.get_task(self._store, call.request, key, task_id), None)
        )

    @admin_routes.post("/keys", endpoint="keys", needs_key=False)
    def _admin_add_key(self, call: Call) -> Response:
        payload = json_object(call.request)
        if isinstance(payload, Response):
            return payload
        key, balance = payload.get("key"), payload.get("balance", 1000)
        if not isinstance(key, str) or not isinstance(balance, int) or isinstance(balance, bool):
            return Response.json(400, {"error": "expected {key: str, balance: int, vip: bool}"})
        try:
            self.add_key(key, balance=balance, vip=bool(payload.get("vip")))
        except ValueError as error:
            return Response.json(400, {"error": str(error)})
        return Response.json(200, self.stats())
