"""
The emulator kit: everything an emulator of a job-style HTTP API needs besides the API.

**An emulator is a state object plus a route table; the kit gives it a transport, an ASGI
app, a server and a journal.**  Subclass :class:`EmulatorBase`, keep the API's state in
attributes, register handlers in a :class:`RouteTable`, and override the hooks whose
wording the API documents:

============================  =======================================================
``routes``                    the endpoints: ``@routes.get(path, endpoint=...)``
``api_key_of(request)``       where the key is (default: bearer token, ``x-api-key``)
``check_key(key)``            None to accept, else the refusal (default: 401 if none)
``rate_limited(wait, 429)``   the answer past the ``rate_limit`` knob (default: 429)
``server_error(draw)``        the answer under ``server_error_rate`` (default: 500)
``not_found(request, st)``    no route: 404, or 405 for a wrong method
``file(path)``                the file host's file at a path (:class:`File`) or None
``task_of_file(path)``        the task a file belongs to, for the journal
``stats()``, ``admin_routes``  what ``/_emulator/stats`` says; more admin endpoints
``faults_class``              a :class:`FaultKnobs` subclass with the API's own knobs
============================  =======================================================

A handler is a plain method ``(self, call: Call) -> Response | Answer``; it never awaits,
so each request changes the state atomically.  The kit gives, for free:
``transport()`` (in-process httpx), ``asgi_app()`` (uvicorn, with admin endpoints under
``/_emulator/``), :func:`serving` and the ``serve`` command (:mod:`._server`), the journal
(``journal``, :class:`JournalEntry`), fault knobs (``faults``) applied by one pipeline, a
file host (``files``), the clock (``now()``, continuous across event loops), task
schedules (``task_clock.plan``, honouring ``time_scale`` and the task knobs), seeded
fault draws, a per-key rate-limit bucket, and media helpers (PNG/JPEG/MP4 bytes, a PNG
codec, result pictures drawn from uploads).  ``docs/emulator.md`` shows a whole toy.

Nothing here knows an API; nothing here imports the SDK.
"""

from ._asgi import ConnectionDropped as ConnectionDropped
from ._asgi import EmulatorASGI as EmulatorASGI
from ._emulator import EmulatorBase as EmulatorBase
from ._emulator import json_object as json_object
from ._emulator import origin_of as origin_of
from ._faults import FaultKnobs as FaultKnobs
from ._filehost import BoundedCache as BoundedCache
from ._filehost import File as File
from ._filehost import FileHost as FileHost
from ._files import Pixels as Pixels
from ._files import decode_png as decode_png
from ._files import dimensions as dimensions
from ._files import encode_png as encode_png
from ._files import jpeg_bytes as jpeg_bytes
from ._files import mp4_bytes as mp4_bytes
from ._files import png_bytes as png_bytes
from ._files import sniff as sniff
from ._http import Answer as Answer
from ._http import Reply as Reply
from ._http import Request as Request
from ._http import Response as Response
from ._journal import JournalEntry as JournalEntry
from ._multipart import parse_form as parse_form
from ._pictures import Look as Look
from ._pictures import render as render
from ._ratelimit import RateLimiter as RateLimiter
from ._routes import Call as Call
from ._routes import RouteTable as RouteTable
from ._server import serving as serving
from ._tasks import TaskClock as TaskClock
from ._tasks import TaskTimes as TaskTimes
from ._timeline import Timeline as Timeline
from ._transport import EmulatorTransport as EmulatorTransport
from ._virtual_time import VirtualTimeEventLoop as VirtualTimeEventLoop

__all__ = [
    "Answer",
    "BoundedCache",
    "Call",
    "ConnectionDropped",
    "EmulatorASGI",
    "EmulatorBase",
    "EmulatorTransport",
    "FaultKnobs",
    "File",
    "FileHost",
    "JournalEntry",
    "Look",
    "Pixels",
    "RateLimiter",
    "Reply",
    "Request",
    "Response",
    "RouteTable",
    "TaskClock",
    "TaskTimes",
    "Timeline",
    "VirtualTimeEventLoop",
    "decode_png",
    "dimensions",
    "encode_png",
    "jpeg_bytes",
    "json_object",
    "mp4_bytes",
    "origin_of",
    "parse_form",
    "png_bytes",
    "render",
    "serving",
    "sniff",
]
