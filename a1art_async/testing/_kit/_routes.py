"""
Route tables: an emulator's endpoints, each a method, a path template and a handler.

::

    class Toy(EmulatorBase):
        routes = RouteTable("/v1")

        @routes.get("/jobs/{job_id}", endpoint="poll", task_param="job_id")
        def poll(self, call: Call) -> Response: ...

A handler is a plain (not async) method of the emulator: it runs to completion without
awaiting, so each request changes the state atomically, like one database transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

import attrs

from ._http import Answer, Request, Response

Handler = Callable[[Any, "Call"], "Response | Answer"]
"""A route handler: ``(emulator, call) -> Response | Answer``."""

H = TypeVar("H", bound=Handler)

_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@attrs.frozen
class Call:
    """
    One request as a handler sees it.

    Attributes:
        request: The request, body read.
        params: The path template's parameters (``{job_id}`` -> ``params["job_id"]``).
        key: The API key found in the request (the ``api_key_of`` hook), if any;
            on a route that needs a key, ``check_key`` has accepted it.
        now: The emulator's time at arrival (see ``EmulatorBase.now``).
    """

    request: Request
    params: Mapping[str, str]
    key: str | None
    now: float


@attrs.frozen
class Route:
    """
    One endpoint.

    Attributes:
        method: The HTTP method.
        template: The path, ``{name}`` standing for one non-empty path segment.
        endpoint: Its name in the journal and in the ``endpoints`` fault knob.
        handler: ``(emulator, call) -> Response | Answer``.
        task_param: The path parameter naming a task, journaled even when the request
            never reaches the handler (a dropped connection, a rate limit).
        needs_key: Whether the kit checks the API key before the handler runs.
    """

    method: str
    template: str
    endpoint: str
    handler: Handler = attrs.field(repr=False)
    task_param: str | None = None
    needs_key: bool = True
    pattern: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        parts = _PARAM.split(self.template)
        # split() alternates literal text and parameter names.
        regex = "".join(
            re.escape(part) if n % 2 == 0 else f"(?P<{part}>[^/]+)" for n, part in enumerate(parts)
        )
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


@attrs.frozen
class Match:
    """
    Where a request goes: a route and its parameters, or no route and a 404 or 405.
    """

    route: Route | None
    params: Mapping[str, str] = attrs.Factory(dict)
    status: int = 404


class RouteTable:
    """
    An emulator's routes, registered with decorators on its handler methods.

    Args:
        prefix: Prepended to every template (the API's base path, say ``/open-api/v1``).
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._routes: list[Route] = []

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def add(
        self,
        method: str,
        template: str,
        *,
        endpoint: str,
        task_param: str | None = None,
        needs_key: bool = True,
    ) -> Callable[[H], H]:
        """
        A decorator that registers its function as the handler of ``method template``.

        Args:
            method: The HTTP method.
            template: The path after the table's prefix, with ``{name}`` parameters.
            endpoint: The endpoint's name for the journal and the fault knobs; not
                ``file`` or ``other``, which the kit uses for the file host and for
                requests that match no route.
            task_param: A parameter that names a task, for the journal.
            needs_key: Check the API key before the handler runs (the default).

        Raises:
            ValueError: For a reserved endpoint name or a task_param not in the template.
        """
        if endpoint in ("file", "other"):
            raise ValueError(f"the endpoint name {endpoint!r} is reserved")
        if task_param is not None and f"{{{task_param}}}" not in template:
            raise ValueError(f"{task_param!r} is not a parameter of {template!r}")

        def register(handler: H) -> H:
            self._routes.append(
                Route(method, self.prefix + template, endpoint, handler, task_param, needs_key)
            )
            return handler

        return register

    def get(self, template: str, **options: Any) -> Callable[[H], H]:
        """
        :meth:`add` for GET.
        """
        return self.add("GET", template, **options)

    def post(self, template: str, **options: Any) -> Callable[[H], H]:
        """
        :meth:`add` for POST.
        """
        return self.add("POST", template, **options)

    @property
    def endpoints(self) -> frozenset[str]:
        """
        The endpoint names of every route.
        """
        return frozenset(route.endpoint for route in self._routes)

    def match(self, method: str, path: str) -> Match:
        """
        The route for *method* and *path*; without one, status 405 when another method
        has that path, else 404.
        """
        status = 404
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return Match(route, found.groupdict())
            status = 405
        return Match(None, status=status)
