"""
:class:`Emulator`: the AI gateway's image generation API, from its docs, on the kit.

Two endpoints under ``/api/v1``, answering the ``{success, code, message, data}``
envelope with a string ``code``::

    route -> drop before? -> redirect? -> gateway 5xx page? -> Bearer key (401)
          -> rate limit (429 + Retry-After) -> server error (500) -> endpoint
          -> malformed JSON? -> journal -> latency + a synchronous model's run time
          (past the client's read timeout: a read timeout, after the charge) / drop after

``POST /images/generations`` checks the request (400), charges the model's credits,
and answers a synchronous model's images once they are drawn (its run time, plus the
``sync_latency`` knob) or an asynchronous model's task id at once.  ``GET
/tasks/{task_id}`` answers a task of this key in its vendor's shape, its state
following the emulator's clock.  Result files are served on a file host.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar, Final
from urllib.parse import urlencode

import attrs

from .._kit import (
    Answer,
    BoundedCache,
    Call,
    EmulatorBase,
    File,
    Look,
    Request,
    Response,
    RouteTable,
    json_object,
    origin_of,
    render,
)
from .._kit._emulator import ADMIN_PREFIX
from . import _request, _shapes
from ._catalog import CATALOG, Model
from ._envelope import Refusal, failure, success
from ._faults import Faults
from ._records import Generation, GenerationRecord

API_PREFIX: Final = "/api/v1"
#: The longest side of a result picture, in pixels.
PICTURE_SIDE: Final = 256
_DURATION_SIGMA: Final = 0.25


@attrs.define
class _Account:
    charged: int = 0
    generations: int = 0


class _Generations(Mapping[str, GenerationRecord]):
    """
    Read-only generations by id; each lookup is a snapshot at the current time.
    """

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def __getitem__(self, generation_id: str) -> GenerationRecord:
        emulator = self._emulator
        generation = emulator._generations[generation_id]
        return generation.snapshot(emulator.now(), emulator.faults.task_ttl)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._emulator._generations))

    def __len__(self) -> int:
        return len(self._emulator._generations)


class Emulator(EmulatorBase):
    """
    An executable AI gateway: keys, a model catalog, charges, tasks, faults and a journal.

    Args:
        api_key: A first API key (sent as ``Authorization: Bearer KEY``).
        time_scale: Multiplies every run time (0.001 turns 20 s into 20 ms).
        seed: Seeds ids, run times, task fates and fault draws.
        api_origin: Where the API answers: its ``{BASE_URL}``.
        files_origin: Where result files are served.
        clock: Returns the current time; by default the running event loop's, so
            virtual time drives run times and task states.
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
        time_scale: float = 1.0,
        seed: int = 0,
        api_origin: str = "https://gateway.emulator",
        files_origin: str = "https://files.gateway.emulator",
        clock: Callable[[], float] | None = None,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(
            api_origin=api_origin,
            file_origins=(files_origin,),
            time_scale=time_scale,
            seed=seed,
            clock=clock,
            faults=faults,
        )
        self.files_origin = origin_of(files_origin)
        self._accounts: dict[str, _Account] = {}
        self._generations: dict[str, Generation] = {}
        self._ids = random.Random(f"{seed}:ids")
        self._run_times = random.Random(f"{seed}:sync")
        self._pictures: BoundedCache[tuple[str, int], bytes] = BoundedCache(64)
        self.add_key(api_key)

    # -- keys and charges -----------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """
        The first key, the one the constructor created.
        """
        return next(iter(self._accounts))

    def add_key(self, key: str) -> None:
        """
        Accept another API key.

        Raises:
            ValueError: If the key is empty or exists already.
        """
        if not key or key in self._accounts:
            raise ValueError(f"key {key!r} is empty or exists already")
        self._accounts[key] = _Account()

    def charged(self, key: str | None = None) -> int:
        """
        Credits charged, for *key* or all keys.

        Raises:
            KeyError: For an unknown key.
        """
        accounts = self._accounts.values() if key is None else [self._accounts[key]]
        return sum(account.charged for account in accounts)

    def generation_calls(self, key: str | None = None) -> int:
        """
        Generation requests accepted (and charged), for *key* or all keys.

        Raises:
            KeyError: For an unknown key.
        """
        accounts = self._accounts.values() if key is None else [self._accounts[key]]
        return sum(account.generations for account in accounts)

    @staticmethod
    def prices() -> dict[str, int]:
        """
        Credits each model charges per generation request, by model name: what a
        client's ``credits=`` table should say for its estimates to match.
        """
        return {name: model.credits for name, model in CATALOG.items()}

    @property
    def generations(self) -> Mapping[str, GenerationRecord]:
        """
        Every accepted generation by id (task ids and synchronous answers' ids); each
        lookup is a snapshot at the current time.
        """
        return _Generations(self)

    def complete_at(self, generation_id: str) -> float:
        """
        Emulator time at which a generation ends: a synchronous answer is ready, a task
        succeeds or fails; infinity for a stuck task.

        Raises:
            KeyError: For an unknown id.
        """
        return self._generations[generation_id].complete_at

    def stats(self) -> dict[str, object]:
        """
        Totals and per-key charges and generation requests, JSON-ready.
        """
        return {
            "generations": self.generation_calls(),
            "charged": self.charged(),
            "tasks": sum(1 for g in self._generations.values() if g.times is not None),
            "keys": {key: attrs.asdict(account) for key, account in self._accounts.items()},
        }

    # -- the kit's hooks: the gateway's wording -------------------------------------------

    def check_key(self, key: str | None) -> Response | None:
        """
        The documented 401 without a key or with a key the emulator does not know.
        """
        return None if key in self._accounts else failure(401)

    def rate_limited(self, retry_after: int, http_429: bool) -> Response:
        """
        The documented 429, always on HTTP 429, with ``Retry-After``.
        """
        return failure(429).with_headers(("retry-after", str(retry_after)))

    def server_error(self, draw: float) -> Response:
        """
        HTTP 500 with ``code: "500"`` in the envelope (the docs list no server errors).
        """
        return failure(500)

    def not_found(self, request: Request, status: int) -> Response:
        """
        HTTP 404 (405 for a wrong method) in the envelope.
        """
        return failure(status)

    def file(self, path: str) -> File | None:
        """
        A result picture of a generation that has finished: ``/results/<id>/<n>.png``.
        """
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "results" or not parts[2].endswith(".png"):
            return None
        generation = self._generations.get(parts[1])
        index = parts[2].removesuffix(".png")
        if generation is None or not index.isdigit() or int(index) >= generation.count:
            return None
        now = self.now()
        if generation.phase_at(now, None) != "succeeded" or now < generation.complete_at:
            return None
        body = self._picture(generation, int(index))
        ttl = self.faults.result_ttl
        expired = ttl is not None and now > generation.complete_at + ttl
        return File("image/png", body, expired=expired)

    def task_of_file(self, path: str) -> str | None:
        """
        The generation of a ``/results/<id>/<n>.png`` path.
        """
        parts = path.strip("/").split("/")
        return parts[1] if len(parts) == 3 and parts[0] == "results" else None

    # -- the endpoints --------------------------------------------------------------------

    @routes.post("/images/generations", endpoint="generations")
    def _generate(self, call: Call) -> Answer:
        try:
            ask = _request.read(call.request.body)
        except Refusal as refusal:
            return Answer(failure(refusal.status), "error")
        key = call.key or ""
        model = ask.model
        generation = Generation(
            id=self._new_id(model),
            key=key,
            model=model,
            prompt=ask.prompt,
            count=ask.count,
            response_format=ask.response_format,
            size=ask.size,
            return_url=ask.return_url,
            created_at=call.now,
        )
        account = self._accounts[key]
        account.charged += model.credits
        account.generations += 1
        self._generations[generation.id] = generation
        request_id = self._request_id()
        if not model.synchronous:
            generation.times = self.task_clock.plan(call.now, model.typical, self.faults)
            generation.odd_state = self.draw(self.faults.unknown_state_rate)
            data = _shapes.submitted(generation, request_id=request_id)
            return Answer(success(data), "ok", generation.id)
        delay = self._run_time(model) + self.faults.sync_latency
        generation.answered_at = call.now + delay
        data = _shapes.answer(
            generation,
            self._urls(generation),
            lambda n: self._picture(generation, n),
            started=self._started(),
            request_id=request_id,
        )
        return Answer(success(data), "ok", generation.id, delay=delay)

    @routes.get("/tasks/{task_id}", endpoint="tasks", task_param="task_id")
    def _get_task(self, call: Call) -> Answer:
        generation = self._generations.get(call.params["task_id"])
        if generation is None or generation.key != call.key or generation.times is None:
            # Unknown ids, another key's tasks and synchronous answers alike: one key
            # cannot probe which ids exist.
            return Answer(failure(400), "error")
        phase = generation.phase_at(call.now, self.faults.task_ttl)
        if phase == "forgotten" and generation.model.shape != "bailian":
            return Answer(failure(400), "error")
        urls = self._urls(generation) if phase == "succeeded" else []
        data = _shapes.task(
            generation,
            phase,
            call.now,
            urls,
            started=self._started(),
            request_id=self._request_id(),
        )
        return Answer(success(data), "ok")

    @admin_routes.post("/keys", endpoint="keys", needs_key=False)
    def _admin_add_key(self, call: Call) -> Response:
        payload = json_object(call.request)
        if isinstance(payload, Response):
            return payload
        key = payload.get("key")
        if not isinstance(key, str):
            return Response.json(400, {"error": "expected {key: str}"})
        try:
            self.add_key(key)
        except ValueError as error:
            return Response.json(400, {"error": str(error)})
        return Response.json(200, self.stats())

    # -- helpers --------------------------------------------------------------------------

    def _started(self) -> float:
        started = self.timeline.started
        return self.now() if started is None else started

    def _new_id(self, model: Model) -> str:
        bits = self._ids.getrandbits(128)
        if model.synchronous:
            return f"gen-{bits:032x}"[:28]
        if model.shape == "bailian":
            return str(uuid.UUID(int=bits, version=4))
        if model.shape == "camel":
            return f"kl-{bits:032x}"[:27]
        return f"{bits:032x}"

    def _request_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _run_time(self, model: Model) -> float:
        factor = min(2.0, max(0.5, math.exp(self._run_times.gauss(0.0, _DURATION_SIGMA))))
        return model.typical * factor * self.time_scale

    def _urls(self, generation: Generation) -> list[str]:
        urls = [
            f"{self.files_origin}/results/{generation.id}/{n}.png" for n in range(generation.count)
        ]
        if generation.model.shape != "bailian":
            return urls
        # DashScope's results are signed object-storage URLs.
        expires = int(_shapes.moment(generation.complete_at, self._started()).timestamp())
        signature = uuid.uuid5(uuid.NAMESPACE_URL, generation.id).hex[:27]
        query = urlencode({"Expires": expires + 86400, "Signature": signature})
        return [f"{url}?{query}" for url in urls]

    def _picture(self, generation: Generation, index: int) -> bytes:
        def draw() -> bytes:
            width, height = _picture_size(generation.size)
            look = Look.from_seed(generation.model.name)
            return render(width, height, look=look, pattern=generation.prompt, variant=index)

        return self._pictures.get((generation.id, index), draw)


def _picture_size(size: tuple[int, int] | None) -> tuple[int, int]:
    """
    The requested aspect at :data:`PICTURE_SIDE` pixels on the longer side.
    """
    if size is None:
        return PICTURE_SIDE, PICTURE_SIDE
    width, height = size
    scale = PICTURE_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
