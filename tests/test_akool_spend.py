"""
Credits are money: creates and presses are sent again only when the first attempt
provably did not arrive; otherwise ImageOutcomeUnknown carries the request.  Checked
under the emulator's fault knobs, on both backends in virtual time.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from a1art_async import akool
from a1art_async.testing.akool import Emulator

from ._akool import make_client, requests_to

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _resent_only_after_unacted(entries: list[Any]) -> bool:
    # Every attempt that did not make an image never arrived or was refused for the rate.
    return all(entry.outcome in ("ok", "dropped_before", "rate_limited") for entry in entries)


@pytest.mark.parametrize(
    "knobs",
    [
        {"drop_before_rate": 0.5},
        {"rate_limit": 0.5},
    ],
)
async def test_attempts_that_did_nothing_are_sent_again(knobs: dict[str, Any]) -> None:
    """
    Creates refused before anything was done (never connected, rate limited) are
    retried, and each image is made and charged once.
    """
    emulator = Emulator(seed=3)
    emulator.faults.update({**knobs, "endpoints": ["createbyprompt"]})
    patient = akool._config.DEFAULT_POLL_POLICY
    async with make_client(emulator, poll_policy=patient, max_retries=8) as client:
        for n in range(6):
            await client.images.create(f"retry {n}")
    entries = requests_to(emulator, "createbyprompt")
    assert 6 == emulator.paid_requests() == sum(e.outcome == "ok" for e in entries)
    assert 12 == emulator.charged()
    assert len(entries) > 6
    assert _resent_only_after_unacted(entries)


@pytest.mark.parametrize(
    ("knobs", "client_options"),
    [
        ({"drop_after_rate": 1.0}, {}),
        ({"server_error_rate": 1.0}, {}),
        ({"malformed_json_rate": 1.0}, {}),
        ({"http_5xx_rate": 1.0}, {}),
        ({"latency": 5.0}, {"timeout": 1.0}),
    ],
)
async def test_a_create_that_may_have_arrived_is_not_resent(
    knobs: dict[str, Any], client_options: dict[str, Any]
) -> None:
    """
    A dropped answer, 1108, a cut body, a gateway page or a timeout after sending raise
    ImageOutcomeUnknown with the request, after exactly one createbyprompt.
    """
    emulator = Emulator(seed=4)
    emulator.faults.update({**knobs, "endpoints": ["createbyprompt"]})
    async with make_client(emulator, **client_options) as client:
        with pytest.raises(akool.ImageOutcomeUnknown) as unknown:
            await client.images.create("once only", scale="3:2")
    assert akool.CreateRequest("once only", "3:2") == unknown.value.request
    assert unknown.value.arrived is None
    assert 1 == len(requests_to(emulator, "createbyprompt"))


async def test_a_success_without_an_id_is_outcome_unknown() -> None:
    """
    "Success" whose data names no image: credits were spent on an image nobody can
    name, so it is ImageOutcomeUnknown, not an unexpected response.
    """
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"code": 1000, "msg": "OK", "data": {"image_status": 1}})

    client = akool.AsyncClient(api_key="k" * 24, transport=httpx.MockTransport(answer))
    async with client:
        with pytest.raises(akool.ImageOutcomeUnknown):
            await client.images.create("nameless")
    assert 1 == len(sent)


async def test_a_lost_press_answer_is_settled_by_the_parents_used_buttons() -> None:
    """
    A press whose answer was lost is not resent; one query of the parent shows U3 among
    its used buttons, so the error says the press arrived.
    """
    emulator = Emulator(seed=5)
    async with make_client(emulator) as client:
        parent = await (await client.images.create("settle me")).result()
        emulator.faults.update({"drop_after_rate": 1.0, "endpoints": ["createbybutton"]})
        with pytest.raises(akool.ImageOutcomeUnknown) as unknown:
            await client.images.press(parent, "U3")
    assert unknown.value.arrived is True
    assert "arrived" in str(unknown.value)
    assert akool.PressRequest(parent.id, "U3") == unknown.value.request
    assert 1 == len(requests_to(emulator, "createbybutton"))


async def test_a_press_that_did_not_show_on_the_parent_stays_unknown() -> None:
    """
    When the parent's used buttons did not gain the button (a 1108, nothing done), the
    press stays unknown (arrived is None) and is not resent.
    """
    emulator = Emulator(seed=6)
    async with make_client(emulator) as client:
        parent = await (await client.images.create("maybe")).result()
        emulator.faults.update({"server_error_rate": 1.0, "endpoints": ["createbybutton"]})
        with pytest.raises(akool.ImageOutcomeUnknown) as unknown:
            await client.images.press(parent, "V1")
    assert unknown.value.arrived is None
    assert isinstance(unknown.value.cause, akool.GenerationError)
    assert (1, 2) == (len(requests_to(emulator, "createbybutton")), emulator.charged())
