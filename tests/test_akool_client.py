"""
The akool client against its emulator, endpoint by endpoint, in virtual time on asyncio
and trio: models, credentials, input checks before any request, every documented code
as a typed error, waiting, tokens and downloads.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async import RetryPolicy, TaskTimeoutError, ValidationError, akool
from a1art_async.testing.akool import Emulator

from ._akool import make_client, requests_to

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=0)


async def test_create_wait_and_press_make_images_with_their_documented_fields(
    emulator: Emulator,
) -> None:
    """
    A prompt becomes a completed image with eight buttons; pressing U2 makes a 4K image
    of it, and the parent then lists U2 as used.
    """
    async with make_client(emulator) as client:
        handle = await client.images.create("a lighthouse at dusk", scale="16:9")
        assert akool.ImageStatus.QUEUEING == handle.state
        assert 2 == (handle.latest.deduction_credit if handle.latest else None)
        image = await handle.result()
        assert akool.ImageStatus.COMPLETED == image.status
        assert akool.BUTTONS == image.buttons
        assert image.image == emulator.result_url(image.id)
        assert isinstance(image.create_time, dt.datetime)
        assert "a lighthouse at dusk" == image.origin_prompt
        upscale = await (await client.images.press(image, "U2")).result()
        assert (image.id, "U2") == (upscale.image_content_model_id, upscale.op_button)
        parent = await client.images.get(image.id)
    assert ("U2",) == parent.used_buttons
    assert (upscale.image,) == parent.upscaled_urls
    assert 4 == emulator.charged()


async def test_unknown_fields_are_ignored_and_ids_stay_strings() -> None:
    """
    A record with extra fields and a numeric id reads into the model without them.
    """
    data = {"_id": 123, "image_status": 2, "new_field": {"x": 1}, "deduction_credit": 2}
    image = akool._models.image_from_wire(data)
    assert ("123", akool.ImageStatus.PROCESSING) == (image.id, image.status)


async def test_the_key_goes_as_x_api_key_and_a_token_alone_as_bearer(
    emulator: Emulator,
) -> None:
    """
    With a key the request carries x-api-key only; with a token, Authorization: Bearer
    only, even when a key is given too.
    """
    token = emulator.issue_token()
    async with make_client(emulator) as client:
        await client.images.create("one")
    async with make_client(emulator, token=token) as client:
        await client.images.create("two")
    first, second = requests_to(emulator, "createbyprompt")
    assert (emulator.api_key, None) == (
        first.headers.get("x-api-key"),
        first.headers.get("authorization"),
    )
    assert (None, f"Bearer {token}") == (
        second.headers.get("x-api-key"),
        second.headers.get("authorization"),
    )


async def test_the_key_and_client_id_come_from_the_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    AKOOL_API_KEY and AKOOL_CLIENT_ID are used when not passed; no key at all is a
    ValidationError naming api_key.
    """
    monkeypatch.setenv("AKOOL_API_KEY", emulator.api_key)
    monkeypatch.setenv("AKOOL_CLIENT_ID", emulator.client_id)
    client = akool.AsyncClient(transport=emulator.transport())
    assert emulator.client_id == client.client_id
    async with client:
        await client.images.create("from the environment")
    monkeypatch.delenv("AKOOL_API_KEY")
    with pytest.raises(ValidationError) as refused:
        akool.AsyncClient()
    assert "api_key" == refused.value.field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.images.create(""), "prompt"),
        (lambda c: c.images.create("   "), "prompt"),
        (lambda c: c.images.create("x", scale="5:4"), "scale"),
        (lambda c: c.images.create("x", source_image="pet.png"), "source_image"),
        (lambda c: c.images.create("x", webhook_url="ftp://example.com/hook"), "webhook_url"),
        (lambda c: c.images.create("x", webhook_url="not a url"), "webhook_url"),
        (lambda c: c.images.press("abc", "U5"), "button"),
        (lambda c: c.images.press("", "U1"), "image_id"),
        (lambda c: c.images.get(""), "image_id"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    emulator: Emulator, call: Any, field: str
) -> None:
    """
    Each bad argument raises ValidationError naming its field, and nothing is sent.
    """
    async with make_client(emulator) as client:
        with pytest.raises(ValidationError) as refused:
            await call(client)
    assert field == refused.value.field
    assert [] == emulator.journal


async def test_a_press_the_known_parent_cannot_take_is_refused_locally(
    emulator: Emulator,
) -> None:
    """
    Pressing on a parent this client saw unfinished, or a button a finished 4K image
    does not offer, raises ValidationError without a createbybutton request.
    """
    async with make_client(emulator) as client:
        handle = await client.images.create("a cat")
        with pytest.raises(ValidationError) as early:
            await client.images.press(handle.task_id, "U1")
        image = await handle.result()
        upscale = await (await client.images.press(image, "U1")).result()
        with pytest.raises(ValidationError) as no_button:
            await client.images.press(upscale.id, "V1")
    assert ("image", "button") == (early.value.field, no_button.value.field)
    assert 1 == len(requests_to(emulator, "createbybutton"))


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (1003, akool.ParameterError),
        (1008, akool.NotFoundError),
        (1009, akool.PermissionDeniedError),
        (1010, akool.ContentNotOperableError),
        (1101, akool.AuthenticationError),
        (1102, akool.AuthenticationError),
        (1200, akool.AccountBannedError),
        (4242, akool.UnknownAPIError),
    ],
)
async def test_every_documented_code_is_a_typed_error(code: int, error: type[Exception]) -> None:
    """
    A refusal with each code raises its class, carrying the code and message as sent.
    """

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": code, "msg": f"message {code}", "data": None})

    client = akool.AsyncClient(api_key="k" * 24, transport=httpx.MockTransport(answer))
    async with client:
        with pytest.raises(error) as raised:
            await client.images.get("abc")
    assert (code, f"message {code}") == (raised.value.code, raised.value.msg)  # type: ignore[attr-defined]
    assert akool.API_ERRORS.get(code, akool.UnknownAPIError) is error


async def test_the_emulator_answers_the_documented_codes(emulator: Emulator) -> None:
    """
    An unknown image is 1008, another account's 1009, a press on an unfinished image
    1010, an unknown key 1101, a banned account 1200.
    """
    emulator.add_key("other-key-0123456789abcd", client_id="other-client-id1")
    async with make_client(emulator) as client:
        with pytest.raises(akool.NotFoundError):
            await client.images.get("0" * 24)
        handle = await client.images.create("mine")
        async with make_client(emulator, api_key="other-key-0123456789abcd") as other:
            with pytest.raises(akool.PermissionDeniedError):
                await other.images.get(handle.task_id)
        other_client = make_client(emulator)  # knows nothing of the parent
        async with other_client:
            with pytest.raises(akool.ContentNotOperableError):
                await other_client.images.press(handle.task_id, "U1")
    async with make_client(emulator, api_key="wrong-key-0123456789abcd") as stranger:
        with pytest.raises(akool.AuthenticationError) as unknown:
            await stranger.images.get(handle.task_id)
    emulator.ban()
    async with make_client(emulator) as client:
        with pytest.raises(akool.AccountBannedError):
            await client.images.get(handle.task_id)
    assert 1101 == unknown.value.code


async def test_an_image_that_fails_raises_image_failed_error(emulator: Emulator) -> None:
    """
    An image that ends with status 4 ends the wait with ImageFailedError and its record.
    """
    emulator.faults.task_failure_rate = 1.0
    async with make_client(emulator) as client:
        handle = await client.images.create("doomed")
        with pytest.raises(akool.ImageFailedError) as failed:
            await handle.result()
    assert akool.ImageStatus.FAILED == failed.value.image.status


async def test_an_unknown_status_ends_the_wait_instead_of_polling_forever(
    emulator: Emulator,
) -> None:
    """
    A status outside 1-4 ends the wait with UnknownStatusError after one poll.
    """
    async with make_client(emulator) as client:
        handle = await client.images.create("odd")
        emulator.force_status(handle.task_id, 7)
        with pytest.raises(akool.UnknownStatusError) as odd:
            await handle.result()
    assert 7 == odd.value.value
    assert 1 == len(requests_to(emulator, "infobymodelid"))


async def test_a_stuck_image_times_out_and_goes_on(emulator: Emulator) -> None:
    """
    An image that never ends raises TaskTimeoutError at the wait's deadline.
    """
    emulator.faults.task_stuck_rate = 1.0
    async with make_client(emulator) as client:
        handle = await client.images.create("forever")
        with pytest.raises(TaskTimeoutError):
            await handle.result(timeout=120)
    assert akool.ImageStatus.PROCESSING == handle.state


async def test_rate_limits_and_1108_on_queries_are_retried(emulator: Emulator) -> None:
    """
    HTTP 429 and code 1108 on infobymodelid are retried until an answer comes.
    """
    patient = RetryPolicy(max_retries=10, initial=0.1, cap=1.0)
    async with make_client(emulator, retry=patient) as client:
        handle = await client.images.create("patience")
        emulator.faults.update({"rate_limit": 1.0, "endpoints": ["infobymodelid"]})
        got = await asyncio_all(client, handle.task_id, 3)
        emulator.faults.update({"rate_limit": None, "server_error_rate": 0.4})
        got += await asyncio_all(client, handle.task_id, 8)
    assert 11 == len(got)
    outcomes = {entry.outcome for entry in requests_to(emulator, "infobymodelid")}
    assert {"rate_limited", "server_error", "ok"} <= outcomes


async def asyncio_all(client: akool.AsyncClient, image_id: str, n: int) -> list[akool.Image]:
    return [await client.images.get(image_id) for _ in range(n)]


async def test_a_body_that_is_not_the_envelope_is_an_unexpected_response() -> None:
    """
    An HTML page and a success code on an HTTP error are UnexpectedResponseError.
    """
    from a1art_async import UnexpectedResponseError

    bodies = iter(
        [
            httpx.Response(502, text="<html>bad gateway</html>"),
            httpx.Response(500, json={"code": 1000, "msg": "OK", "data": {}}),
        ]
    )
    client = akool.AsyncClient(
        api_key="k" * 24, max_retries=0, transport=httpx.MockTransport(lambda r: next(bodies))
    )
    async with client:
        for _ in range(2):
            with pytest.raises(UnexpectedResponseError):
                await client.images.get("abc")


async def test_waiters_share_polls_and_tokens_resume() -> None:
    """
    Two waits on one image (one through a handle rebuilt from its token) make the polls
    one wait makes; as_completed yields each image once.
    """
    polls: list[int] = []
    # Without jitter both runs follow one schedule, so any extra poll would be a waiter's.
    exact = attrs.evolve(akool._config.DEFAULT_POLL_POLICY, jitter=0.0)
    for waiters in (1, 2):
        emulator = Emulator(seed=5)
        async with make_client(emulator, poll_policy=exact) as client:
            handle = await client.images.create("tree")
            resumed = client.images.resume(handle.to_token())
            assert (handle.task_id, "prompt") == (resumed.task_id, resumed.kind)
            async with anyio.create_task_group() as group:
                for waiter in (handle, resumed)[:waiters]:
                    group.start_soon(waiter.result)
        polls.append(len(requests_to(emulator, "infobymodelid")))
    assert polls[0] == polls[1]
    emulator = Emulator(seed=6)
    async with make_client(emulator) as client:
        handles = [await client.images.create(f"tree {n}") for n in range(3)]
        async with client.images.as_completed([*handles, handles[0].task_id]) as results:
            ids = [outcome.task_id async for outcome in results]
    assert sorted(h.task_id for h in handles) == sorted(ids)


async def test_downloads_carry_no_key_and_the_key_is_never_shown(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """
    A result is saved without the key reaching the file host, and neither the client's
    repr, its handles, errors nor debug logs show the key.
    """
    caplog.set_level(logging.DEBUG, logger="a1art_async")
    async with make_client(emulator) as client:
        image = await (await client.images.create("secret keeper")).result()
        path = await client.images.download(image, tmp_path)
        with pytest.raises(akool.NotFoundError) as missing:
            await client.images.get("f" * 24)
        shown = [repr(client), repr(client.webhooks), str(missing.value)]
    assert path.read_bytes().startswith(b"\x89PNG")
    files = [entry for entry in emulator.journal if entry.endpoint == "file"]
    assert [None] == [entry.key for entry in files]
    assert all(emulator.api_key not in text for text in [*shown, caplog.text])


async def test_a_redirect_is_not_followed_and_a_token_is_never_shown(emulator: Emulator) -> None:
    """
    A redirect to another origin raises UnexpectedRedirectError without following it, so
    neither key nor token reaches that origin; the token shows in no repr or error.
    """
    from a1art_async import UnexpectedRedirectError

    token = emulator.issue_token()
    emulator.faults.redirect_to = "https://elsewhere.example"
    async with make_client(emulator, token=token) as client:
        with pytest.raises(UnexpectedRedirectError) as redirected:
            await client.images.create("go elsewhere")
        shown = [repr(client), str(redirected.value), repr(client.images.track("a"))]
    assert [] == [entry for entry in emulator.journal if entry.origin != emulator.api_origin]
    assert 0 == emulator.charged()
    assert all(token not in text and emulator.api_key not in text for text in shown)
