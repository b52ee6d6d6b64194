"""
The classification every envelope API shares (``EnvelopeWire``), row by row on a toy
wire, and each provider's wire on the rows where their facts differ: how a bare HTTP 429
and a refusing envelope read.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest

import a1art_async as a1
from a1art_async import akool, gateway
from a1art_async._engine._errors import A1ArtError, APIError, UnexpectedResponseError
from a1art_async._engine._retry import Failure
from a1art_async._engine._wire import EnvelopeWire, Refused, Reply, json_envelope
from a1art_async._wire import A1ArtWire
from a1art_async.akool._wire import AkoolWire
from a1art_async.gateway._wire import GatewayWire

SECRET = "sk-wire-secret-0f1e2d"


class ToyError(APIError):
    """
    The toy API's refusals.
    """


class ToyLimited(ToyError):
    transient: ClassVar[bool] = True


class ToyBusy(ToyError):
    transient: ClassVar[bool] = True


class ToyWire(EnvelopeWire):
    """
    ``{"ok": bool, "code": int, "msg": str, "data": ...}``: code 7 is "too many
    requests", 8 "busy, try later", any other a rejection.
    """

    success = ("ok", True)
    rate_limited = ToyLimited
    too_many_requests = (7, "slow down (HTTP 429)")

    def error(self, envelope: Any, reply: Reply) -> APIError:
        cls = {7: ToyLimited, 8: ToyBusy}.get(envelope["code"], ToyError)
        message = reply.redact(str(envelope.get("msg", "")))
        return cls(envelope["code"], message, status=reply.status, retry_after=reply.retry_after)

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        return a1.OutcomeUnknown(request, cause)


def _reply(
    status: int, body: bytes | None, retry_after: str | None = None, json: Any = None
) -> Reply:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    if json is not None:
        response = httpx.Response(status, json=json, headers=headers)
        body = response.content
    else:
        response = httpx.Response(status, headers=headers)
    return Reply(response, body, lambda text: text.replace(SECRET, "<secret>"))


def _refusal(wire: EnvelopeWire, reply: Reply) -> Refused:
    with pytest.raises(Refused) as refused:
        wire.read(reply)
    return refused.value


def test_a_success_envelope_gives_its_data() -> None:
    """
    A success envelope on HTTP 200 reads as its ``data``.
    """
    assert {"id": 1} == ToyWire().read(
        _reply(200, None, json={"ok": True, "code": 0, "data": {"id": 1}})
    )


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, b'{"ok": true, "code": 0, "data": 1}', "an HTTP error with a success envelope"),
        (404, b'{"ok": true, "code": 0, "data": 1}', "an HTTP error with a success envelope"),
        (502, b"<html>Bad Gateway</html>", "the body is not the API's JSON envelope"),
        (200, b'{"ok": true, "code": "0"}', "the body is not the API's JSON envelope"),
        (200, b'{"ok": true, "code": true}', "the body is not the API's JSON envelope"),
        (200, b"[1, 2]", "the body is not the API's JSON envelope"),
        (200, b"{", "the body is not the API's JSON envelope"),
        (200, None, "the body is too large to be an API envelope"),
    ],
)
def test_answers_that_cannot_be_trusted_are_the_server_failing(
    status: int, body: bytes | None, reason: str
) -> None:
    """
    A success envelope on an HTTP error, and any answer that is not the envelope (but a
    bare 429), are ``SERVER_FAILED`` with an ``UnexpectedResponseError``.
    """
    refused = _refusal(ToyWire(), _reply(status, body))
    assert (Failure.SERVER_FAILED, UnexpectedResponseError, reason, status) == (
        refused.failure,
        type(refused.error),
        getattr(refused.error, "reason", None),
        getattr(refused.error, "status", None),
    )


def test_a_bare_429_is_rate_limited_with_its_retry_after() -> None:
    """
    HTTP 429 without an envelope is ``RATE_LIMITED``: the wire's rate-limit error with
    the code and message it states, and the server's ``Retry-After``.
    """
    refused = _refusal(ToyWire(), _reply(429, b"<html>Too Many Requests</html>", "7"))
    error = refused.error
    assert isinstance(error, ToyLimited)
    assert (Failure.RATE_LIMITED, 7.0, 7, "slow down (HTTP 429)", 429, 7.0) == (
        refused.failure,
        refused.retry_after,
        error.code,
        error.message,
        error.status,
        error.retry_after,
    )


@pytest.mark.parametrize(
    ("status", "code", "failure", "cls", "retry_after"),
    [
        (200, 7, Failure.RATE_LIMITED, ToyLimited, 3.0),
        (429, 9, Failure.RATE_LIMITED, ToyError, 3.0),
        (200, 8, Failure.SERVER_FAILED, ToyBusy, 3.0),
        (503, 9, Failure.SERVER_FAILED, ToyError, 3.0),
        (400, 9, Failure.REJECTED, ToyError, None),
        (200, 9, Failure.REJECTED, ToyError, None),
    ],
)
def test_refusing_envelopes_are_classified_by_class_and_status(
    status: int, code: int, failure: Failure, cls: type[ToyError], retry_after: float | None
) -> None:
    """
    A refusing envelope is ``RATE_LIMITED`` for the rate-limit class or HTTP 429,
    ``SERVER_FAILED`` for a transient class or HTTP 5xx, ``REJECTED`` otherwise; only a
    rejection drops ``Retry-After``.
    """
    reply = _reply(status, None, "3", json={"ok": False, "code": code, "msg": "no"})
    refused = _refusal(ToyWire(), reply)
    assert (failure, cls, retry_after) == (
        refused.failure,
        type(refused.error),
        refused.retry_after,
    )


def test_the_key_is_removed_from_what_the_server_says() -> None:
    """
    A message that repeats the key, and an HTML page that does, show ``<secret>``.
    """
    envelope = {"ok": False, "code": 9, "msg": f"bad key {SECRET}"}
    rejected = _refusal(ToyWire(), _reply(401, None, json=envelope))
    page = _refusal(ToyWire(), _reply(502, f"<p>key {SECRET} refused</p>".encode()))
    assert "API error 9: bad key <secret>" == str(rejected.error)
    assert SECRET not in str(page.error)
    assert "<secret>" in str(page.error)


@pytest.mark.parametrize(
    ("body", "code", "expected"),
    [
        (b'{"code": 0, "data": null}', int, {"code": 0, "data": None}),
        (b'{"code": false}', int, None),
        (b'{"code": "0"}', int, None),
        (b'{"code": "0"}', (str, int), {"code": "0"}),
        (b'{"data": 1}', int, None),
        (b"[0]", int, None),
        (b"\xff\xfe", int, None),
        (b"[" * 100_000, int, None),
    ],
)
def test_json_envelope_takes_only_an_object_with_a_code_of_its_type(
    body: bytes, code: type | tuple[type, ...], expected: dict[str, Any] | None
) -> None:
    """
    ``json_envelope`` returns a JSON object whose ``code`` has the given type (never a
    boolean); anything else, deep nesting included, is ``None``.
    """
    assert expected == json_envelope(body, code=code)


@pytest.mark.parametrize(
    ("wire", "cls", "code", "message"),
    [
        (A1ArtWire(), a1.RateLimitError, 20000, "too many requests (HTTP 429)"),
        (AkoolWire(), akool.RateLimitError, 429, "too many requests (HTTP 429)"),
        (GatewayWire(), gateway.RateLimitError, "429", "Rate limit exceeded (HTTP 429)"),
    ],
)
def test_each_provider_reads_a_bare_429_as_its_own_rate_limit_error(
    wire: EnvelopeWire, cls: type[APIError], code: int | str, message: str
) -> None:
    """
    Each provider's wire makes a bare 429 its ``RateLimitError`` with the code and
    message it always had, and ``Retry-After``.
    """
    refused = _refusal(wire, _reply(429, b"", "2"))
    assert (Failure.RATE_LIMITED, cls, code, 2.0) == (
        refused.failure,
        type(refused.error),
        getattr(refused.error, "code", None),
        refused.retry_after,
    )
    assert message in str(refused.error)


@pytest.mark.parametrize(
    ("wire", "envelope", "status", "failure", "cls"),
    [
        (A1ArtWire(), {"code": 20000, "msg": "busy"}, 200, Failure.RATE_LIMITED, "RateLimitError"),
        (A1ArtWire(), {"code": 20002, "msg": "x"}, 200, Failure.SERVER_FAILED, "ServerError"),
        (A1ArtWire(), {"code": 324011, "msg": "x"}, 429, Failure.RATE_LIMITED, "QuantityError"),
        (A1ArtWire(), {"code": 324011, "msg": "x"}, 200, Failure.REJECTED, "QuantityError"),
        (AkoolWire(), {"code": 1108, "msg": "x"}, 200, Failure.SERVER_FAILED, "GenerationError"),
        (AkoolWire(), {"code": 1003, "msg": "x"}, 502, Failure.SERVER_FAILED, "ServerError"),
        (AkoolWire(), {"code": 1108, "msg": "x"}, 503, Failure.SERVER_FAILED, "GenerationError"),
        (AkoolWire(), {"code": 1108, "msg": "x"}, 429, Failure.RATE_LIMITED, "RateLimitError"),
        (AkoolWire(), {"code": 1003, "msg": "x"}, 200, Failure.REJECTED, "ParameterError"),
        (
            GatewayWire(),
            {"success": False, "code": 429, "message": "x"},
            429,
            Failure.RATE_LIMITED,
            "RateLimitError",
        ),
        (
            GatewayWire(),
            {"success": False, "code": "503", "message": "x"},
            503,
            Failure.SERVER_FAILED,
            "ServerError",
        ),
        (
            GatewayWire(),
            {"success": False, "code": "401", "message": "x"},
            401,
            Failure.REJECTED,
            "AuthenticationError",
        ),
    ],
)
def test_each_provider_classifies_its_codes_as_before(
    wire: EnvelopeWire, envelope: dict[str, Any], status: int, failure: Failure, cls: str
) -> None:
    """
    Each provider's refusing envelopes keep their failure and error class: a1.art's
    20000 and 20002, akool's 1108 and its 5xx and 429 replacements, the gateway's
    string codes.
    """
    refused = _refusal(wire, _reply(status, None, json=envelope))
    assert (failure, cls) == (refused.failure, type(refused.error).__name__)
