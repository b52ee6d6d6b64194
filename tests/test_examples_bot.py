"""
examples/bot.py: the framework-neutral chat-bot handler, with several users at once on
one client, against the in-process emulator in virtual time on both backends; and the
example's ``main``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from a1art_async import AsyncClient, PollPolicy
from a1art_async.testing import Emulator, Faults, png_bytes

from ._examples import load_example

KEY = "bot-test-key"


bot = load_example("bot")


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


class Chat:
    """
    Every reply the bot sent, per user, with the virtual time it was sent at.
    """

    def __init__(self) -> None:
        self.replies: dict[str, list[tuple[float, str, tuple[str, ...]]]] = {}

    def reply_to(self, user: str) -> Any:
        async def reply(text: str, attachments: Sequence[str]) -> None:
            self.replies.setdefault(user, []).append(
                (anyio.current_time(), text, tuple(attachments))
            )

        return reply

    def texts(self, user: str) -> list[str]:
        return [text for _, text, _ in self.replies.get(user, [])]


@pytest.mark.anyio
async def test_concurrent_users_get_progress_and_their_own_results() -> None:
    """
    Five users at once each get a queued message, a "drawing now" message once a poll
    sees the task running, "still working" messages, and finally their own result URL.
    """
    emulator = Emulator(api_key=KEY, balance=100, seed=4)
    chat = Chat()
    # Polls from 5 s after submitting (as the docs advise), every 2 s: one sees state 30.
    policy = PollPolicy(first_delay=5.0, hint_fraction=0.0, interval=2.0)
    async with AsyncClient(
        api_key=KEY, transport=emulator.transport(), poll_policy=policy
    ) as client:
        art = bot.ArtBot(client, progress_every=10.0)
        async with anyio.create_task_group() as group:
            for n in range(5):
                message = bot.Message(f"user{n}", f"/pet cat number {n}", png_bytes(300, 300))
                group.start_soon(art.handle, message, chat.reply_to(f"user{n}"))
    urls = set()
    for n in range(5):
        texts = chat.texts(f"user{n}")
        assert texts[0].startswith("Got it!")
        assert "Drawing now..." in texts
        assert any(text.startswith("Still working") for text in texts)
        assert "Here you go!" == texts[-1]
        (_, _, attachments) = chat.replies[f"user{n}"][-1]
        assert 1 == len(attachments)
        urls.add(attachments[0])
    assert 5 == len(urls)
    assert 5 == emulator.generate_calls()


@pytest.mark.anyio
async def test_progress_messages_send_no_requests() -> None:
    """
    Telling a user how the task goes reads what the scheduler's polls brought in: a bot
    with progress every second polls no more than one that never reports progress.
    """
    counts = []
    for progress_every, tick in ((1.0, 0.5), (10_000.0, 10_000.0)):
        emulator = Emulator(api_key=KEY, balance=100, seed=4)
        async with AsyncClient(api_key=KEY, transport=emulator.transport()) as client:
            art = bot.ArtBot(client, progress_every=progress_every, tick=tick)
            message = bot.Message("alice", "/pet black cat", png_bytes(300, 300))
            await art.handle(message, Chat().reply_to("alice"))
        counts.append(sum(1 for entry in emulator.journal if entry.endpoint == "tasks"))
    assert counts[0] == counts[1]


@pytest.mark.anyio
async def test_one_job_per_user_and_helpful_refusals() -> None:
    """
    A second /pet while the first runs, a /pet without a photo, an unknown style, other
    text and a failed task each get a plain answer, and only the first job is generated.
    """
    emulator = Emulator(api_key=KEY, balance=100, seed=4)
    chat = Chat()
    photo = png_bytes(300, 300)
    async with AsyncClient(api_key=KEY, transport=emulator.transport()) as client:
        art = bot.ArtBot(client)
        async with anyio.create_task_group() as group:
            group.start_soon(
                art.handle, bot.Message("ann", "/pet cat", photo), chat.reply_to("ann")
            )
            await anyio.sleep(1)
            await art.handle(bot.Message("ann", "/pet dog", photo), chat.reply_to("ann"))
            await art.handle(bot.Message("bea", "/pet dog"), chat.reply_to("bea"))
            await art.handle(bot.Message("cy", "/pet dog style=Oil", photo), chat.reply_to("cy"))
            await art.handle(bot.Message("di", "hello"), chat.reply_to("di"))
        emulator.faults = Faults(task_failure_rate=1.0)
        await art.handle(bot.Message("ed", "/pet cat", photo), chat.reply_to("ed"))
    assert chat.texts("ann")[1].startswith("You already have a picture on the way")
    assert "Here you go!" == chat.texts("ann")[-1]
    assert ["Please attach a photo of your pet to the /pet message."] == chat.texts("bea")
    assert chat.texts("cy")[0].startswith("I can't draw that: unknown style 'Oil'")
    assert [bot.HELP] == chat.texts("di")
    assert chat.texts("ed")[-1].startswith("Sorry, that one didn't work out")
    assert 2 == emulator.generate_calls()


@pytest.mark.anyio
async def test_the_example_main_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """
    The example's ``main`` (what ``python examples/bot.py`` runs) holds four conversations
    at once and delivers three pictures: the fourth user sent no photo.
    """
    await bot.main()
    out = capsys.readouterr().out
    assert 3 == out.count("Here you go!")
    assert "bot -> dave   Please attach a photo" in out
    assert "3 generations, 3 credits" in out
