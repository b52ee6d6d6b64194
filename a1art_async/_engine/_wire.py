"""
How one HTTP answer reads, whatever the API: the seam between the request path and a
provider's wire format.

The session hands each answer to the provider's :class:`Wire` as a :class:`Reply`; the
wire returns the answer's data or raises :class:`Refused`, classified as a
:class:`~._retry.Failure` so that the session can decide, once for every API, what may
be sent again.  Most job APIs wrap every answer in one JSON envelope; for them
:class:`EnvelopeWire` holds the classification they share (HTTP 429, 5xx, a success
envelope on an HTTP error, a body that is not the envelope), and a provider says only
how its envelope reads and which typed error each refusal is.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import httpx

from ._errors import (
    A1ArtError,
    APIError,
    ConnectError,
    TimeoutError,
    TransportError,
    UnexpectedResponseError,
)
from ._retry import Failure, parse_retry_after

_EXCERPT_CHARS = 200


class Refused(Exception):
    """
    One failed attempt: the error to raise if it is not retried, why it failed, and how
    long the server asked to wait.  A :class:`Wire` raises it for an answer that is not
    success.
    """

    def __init__(
        self, failure: Failure, error: A1ArtError, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.failure = failure
        self.error = error
        self.retry_after = retry_after
        #: Whether a spend guard was told this attempt was being sent.
        self.sending = False

    @classmethod
    def from_transport(cls, error: httpx.HTTPError, *, sent: bool = False) -> Refused:
        # Connect errors and pool timeouts happen before a byte of the request leaves
        # this process; every other transport error may come after the server read it.
        if not sent and isinstance(
            error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
        ):
            wrapped: TransportError = ConnectError(f"could not connect: {error}")
            failure = Failure.NOT_SENT
        elif isinstance(error, httpx.TimeoutException):
            wrapped = TimeoutError(f"no answer in time: {type(error).__name__}")
            failure = Failure.NO_ANSWER
        else:
            wrapped = TransportError(
                f"the request did not complete: {type(error).__name__}: {error}"
            )
            failure = Failure.NO_ANSWER
        wrapped.__cause__ = error
        return cls(failure, wrapped)


class Reply:
    """
    One HTTP answer, as a :class:`Wire` reads it.

    Args:
        response: The response (its body already read and closed); ``None`` for an
            answer that did not come through httpx (the fast transport's direct path),
            whose *status* and *raw_headers* are given instead: :attr:`response` is then
            built on first use, which most answers never need.
        body: The body, or ``None`` when it was larger than an envelope can be.
        redact: Removes the API key from a text (for messages and excerpts).
        status: The status, without *response*.
        raw_headers: The headers as ``(name, value)`` byte pairs, without *response*.
    """

    __slots__ = ("_raw", "_response", "_status", "body", "redact")

    def __init__(
        self,
        response: httpx.Response | None,
        body: bytes | None,
        redact: Callable[[str], str],
        *,
        status: int | None = None,
        raw_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        if response is None and status is None:
            raise TypeError("a reply needs a response or a status")
        self._response = response
        self._status = response.status_code if response is not None else status
        self._raw = raw_headers
        self.body = body
        self.redact = redact

    def __repr__(self) -> str:
        return f"<Reply {self._status} {'large' if self.body is None else len(self.body)}>"

    @property
    def response(self) -> httpx.Response:
        """
        The response, its body already read and closed.
        """
        if self._response is None:
            self._response = httpx.Response(self.status, headers=list(self._raw))
        return self._response

    @property
    def status(self) -> int:
        """
        The HTTP status.
        """
        status = self._status
        assert status is not None  # set from the response otherwise
        return status

    def header(self, name: str) -> str | None:
        """
        A header's value (the first, if repeated), by its lower-case name.
        """
        if self._response is not None:
            found: str | None = self._response.headers.get(name)
            return found
        wanted = name.encode("ascii")
        for key, value in self._raw:
            if key.lower() == wanted:
                return bytes(value).decode("latin-1")
        return None

    @property
    def retry_after(self) -> float | None:
        """
        The ``Retry-After`` header, in seconds, when there is one.
        """
        return parse_retry_after(self.header("retry-after"))

    def excerpt(self) -> str:
        """
        The start of the body, the key removed, for an error message.
        """
        if not self.body:
            return ""
        text = self.body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")
        text = " ".join(self.redact(text).split())
        return text[:_EXCERPT_CHARS] + ("..." if len(text) > _EXCERPT_CHARS else "")

    def unexpected(self, reason: str | None = None) -> Refused:
        """
        The refusal for a body that is not the API's envelope (a server failure: safe to
        retry a query, outcome unknown for a paid request).
        """
        if reason is None:
            reason = (
                "the body is too large to be an API envelope"
                if self.body is None
                else "the body is not the API's JSON envelope"
            )
        error = UnexpectedResponseError(reason, status=self.status, excerpt=self.excerpt())
        return Refused(Failure.SERVER_FAILED, error)


class Wire(Protocol):
    """
    How a provider reads its API's answers: the seam between the engine and an API.
    """

    def read(self, reply: Reply) -> Any:
        """
        The data of a successful answer.

        Raises:
            Refused: Anything but success, classified: ``RATE_LIMITED`` (refused for the
                rate; nothing was done), ``SERVER_FAILED`` (the server failed or the body
                is not the envelope), or ``REJECTED`` (a definitive answer about the
                request), with the typed error to raise.
        """
        ...

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        """
        The error for a paid request that may have been acted on without an answer.
        """
        ...


def json_envelope(body: bytes, *, code: type | tuple[type, ...] = int) -> dict[str, Any] | None:
    """
    *body* read as a JSON object whose ``code`` is of type *code* (never a boolean), or
    ``None`` if it is not one (an HTML page, broken or too deeply nested JSON, a list, a
    code missing or of another type).
    """
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    found = value.get("code")
    if isinstance(found, bool) or not isinstance(found, code):
        return None
    return value


class EnvelopeWire(ABC):
    """
    A :class:`Wire` for an API whose every answer is one JSON envelope carrying its
    ``data``: what such answers mean, decided here once for every provider.

    =====================================================  ===========================
    the answer                                             read as
    =====================================================  ===========================
    the envelope says success, HTTP < 400                  its ``data``
    the envelope says success, HTTP >= 400                 ``SERVER_FAILED``
                                                           (``UnexpectedResponseError``)
    HTTP 429 without an envelope                           ``RATE_LIMITED``
                                                           (:attr:`too_many_requests`)
    any other answer without an envelope                   ``SERVER_FAILED``
                                                           (``UnexpectedResponseError``)
    a refusal of class :attr:`rate_limited`, or HTTP 429   ``RATE_LIMITED``
    a transient refusal, or HTTP 5xx                       ``SERVER_FAILED``
    any other refusal                                      ``REJECTED``
    =====================================================  ===========================

    ``Retry-After`` goes with every refusal but a rejection.  A provider states its
    facts as class attributes (:attr:`success`, :attr:`rate_limited`,
    :attr:`too_many_requests`), says which typed error a refusing envelope is
    (:meth:`error`) and which error says a paid request's outcome is unknown
    (:meth:`outcome_unknown`), and overrides :meth:`envelope` if its envelope is not
    a JSON object with an integer ``code``.
    """

    #: The field of the envelope that says success, and its value then.
    success: ClassVar[tuple[str, object]]
    #: The provider's error for "too many requests": a refusal of this class was not
    #: acted on, and may be sent again after the wait.
    rate_limited: ClassVar[type[APIError]]
    #: The code and message of the :attr:`rate_limited` error for an HTTP 429 that
    #: carried no envelope.
    too_many_requests: ClassVar[tuple[int | str, str]]

    def envelope(self, body: bytes) -> Mapping[str, Any] | None:
        """
        The API's envelope, or ``None`` if *body* is not one: by default a JSON object
        with an integer ``code``.
        """
        return json_envelope(body)

    @abstractmethod
    def error(self, envelope: Mapping[str, Any], reply: Reply) -> APIError:
        """
        The typed error a refusing *envelope* stands for, its message redacted with
        ``reply.redact``, with the reply's status and ``Retry-After``.
        """

    @abstractmethod
    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        """
        The error for a paid request that may have been acted on without an answer.
        """

    def read(self, reply: Reply) -> Any:
        status = reply.status
        envelope = None if reply.body is None else self.envelope(reply.body)
        if envelope is None:
            if status == 429:
                code, message = self.too_many_requests
                retry_after = reply.retry_after
                limited = self.rate_limited(code, message, status=status, retry_after=retry_after)
                raise Refused(Failure.RATE_LIMITED, limited, retry_after)
            raise reply.unexpected()
        field, value = self.success
        if envelope.get(field) == value:
            if status >= 400:
                raise reply.unexpected("an HTTP error with a success envelope")
            return envelope.get("data")
        error = self.error(envelope, reply)
        if isinstance(error, self.rate_limited) or status == 429:
            raise Refused(Failure.RATE_LIMITED, error, reply.retry_after)
        if error.transient or status >= 500:
            raise Refused(Failure.SERVER_FAILED, error, reply.retry_after)
        raise Refused(Failure.REJECTED, error)
