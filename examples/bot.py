"""
A chat-bot command handler on a1art_async, tied to no chat framework.

    /pet <what the pet looks like> [style=<name>] [aspect=<16:9>]    with a photo attached

:class:`ArtBot` gets a :class:`Message` (who sent it, its text, the attached photo) and a
``reply`` coroutine function, and talks back through it: at once when the job is queued,
when the task starts running, every ``progress_every`` seconds while it runs, and with
the result URLs at the end.  To put it on Telegram, Discord or Slack, turn their update
into a ``Message`` and their send call into ``reply``.

Every user shares one AsyncClient: one connection pool, one request budget, one polling
scheduler.  The progress messages read the state the scheduler's polls bring in, so
telling a user "drawing now" costs no request.  Each user has at most one job at a time.

    python examples/bot.py      # four users chatting at once, against the emulator
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from a1art_async import (
    APIError,
    AsyncClient,
    GenerationOutcomeUnknown,
    PollPolicy,
    Task,
    TaskFailedError,
    TaskHandle,
    TaskState,
    TaskTimeoutError,
    TransportError,
    ValidationError,
)

#: The docs' "Crazy Pet" app.
APP_ID = "1803632078862147586"
HELP = "Send a photo of your pet with: /pet <what it looks like> [style=...] [aspect=16:9]"


@dataclass(frozen=True)
class Message:
    """
    One incoming chat message.
    """

    user: str
    text: str
    photo: bytes | None = None


#: ``await reply(text, attachments)``: send a message back to the user who wrote.
Reply = Callable[[str, Sequence[str]], Awaitable[None]]


class ArtBot:
    """
    The ``/pet`` command, for any number of users at once.

    Args:
        client: An open client (``async with``), shared by every conversation.
        app_id: The app to generate with.
        progress_every: Seconds between "still working" messages.
        tick: How often progress is checked (it reads state; it sends no request).
        timeout: Give up waiting after this long; the task goes on.
    """

    def __init__(
        self,
        client: AsyncClient,
        app_id: str = APP_ID,
        *,
        progress_every: float = 20.0,
        tick: float = 1.0,
        timeout: float = 300.0,
    ) -> None:
        self.client = client
        self.app_id = app_id
        self.progress_every = progress_every
        self.tick = tick
        self.timeout = timeout
        self._busy: set[str] = set()

    async def handle(self, message: Message, reply: Reply) -> None:
        """
        Answer one message; returns when the conversation about it is over.
        """
        words = shlex.split(message.text) if message.text.strip() else []
        if not words or words[0] != "/pet":
            await reply(HELP, ())
            return
        if message.photo is None:
            await reply("Please attach a photo of your pet to the /pet message.", ())
            return
        if message.user in self._busy:
            await reply("You already have a picture on the way; one at a time, please!", ())
            return
        options = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        prompt = " ".join(word for word in words[1:] if "=" not in word)
        self._busy.add(message.user)
        try:
            await self._generate(message.photo, prompt, options, reply)
        finally:
            self._busy.discard(message.user)

    async def _generate(
        self, photo: bytes, prompt: str, options: dict[str, str], reply: Reply
    ) -> None:
        try:
            handle = await self.client.generate(
                self.app_id,
                image=photo,
                prompt=prompt or None,
                style=options.get("style", "High Quality Anmie"),
                aspect=options.get("aspect", "1:1"),
            )
        except ValidationError as error:
            await reply(f"I can't draw that: {error.reason}", ())
            return
        except APIError as error:
            await reply(f"a1.art said no: {error.msg}", ())
            return
        except (GenerationOutcomeUnknown, TransportError):
            await reply("I couldn't reach the art studio. Please try again in a minute.", ())
            return
        expected = f" (usually about {handle.process_time:.0f} s)" if handle.process_time else ""
        await reply(f"Got it! Your picture is in the queue{expected}.", ())
        try:
            task = await self._follow(handle, reply)
        except TaskFailedError:
            await reply("Sorry, that one didn't work out. Try another photo?", ())
        except TaskTimeoutError:
            await reply("This is taking unusually long; I'll stop watching it.", ())
        except (APIError, TransportError):
            await reply("I lost track of your picture. Please try again.", ())
        else:
            await reply("Here you go!", task.images)

    async def _follow(self, handle: TaskHandle, reply: Reply) -> Task:
        """
        Wait for the task while telling the user how it goes.
        """
        result: Task | Exception | None = None

        async def wait() -> None:
            nonlocal result
            try:
                result = await handle.result(timeout=self.timeout)
            except Exception as error:  # raised below, outside the task group
                result = error
            group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(self._progress, handle, reply)
            group.start_soon(wait)
        if isinstance(result, Exception):
            raise result
        assert result is not None
        return result

    async def _progress(self, handle: TaskHandle, reply: Reply) -> None:
        started = last = anyio.current_time()
        said_running = False
        while True:
            await anyio.sleep(self.tick)
            now = anyio.current_time()
            if not said_running and handle.state is TaskState.RUNNING:
                said_running = True
                last = now
                await reply("Drawing now...", ())
            elif now - last >= self.progress_every:
                last = now
                await reply(f"Still working on it ({now - started:.0f} s so far)...", ())


async def main() -> None:
    """
    Four users talk to the bot at once, against the built-in emulator (tasks at 1/20 of
    a1.art's durations, polled on the same scale).
    """
    from a1art_async.testing import Emulator, png_bytes

    scale = 0.05
    emulator = Emulator(api_key="bot-demo-key", balance=100, time_scale=scale, seed=5)
    policy = PollPolicy(first_delay=5 * scale, hint_fraction=0.875 * scale, interval=4.75 * scale)
    started = time.monotonic()
    async with AsyncClient(
        api_key="bot-demo-key", transport=emulator.transport(), poll_policy=policy
    ) as client:
        bot = ArtBot(client, progress_every=20 * scale, tick=scale)
        conversations = [
            Message("alice", "/pet black devon rex cat style=Watercolor", png_bytes(512, 512)),
            Message("bob", "/pet golden retriever puppy aspect=16:9", png_bytes(640, 480)),
            Message("carol", "/pet calico cat style='3D Cartoon'", png_bytes(600, 600)),
            Message("dave", "/pet grey parrot"),
        ]

        def replier(user: str) -> Reply:
            async def reply(text: str, attachments: Sequence[str]) -> None:
                stamp = f"{time.monotonic() - started:5.2f}s"
                print(f"{stamp}  bot -> {user:<5}  {text}", flush=True)
                for url in attachments:
                    print(f"{' ' * 6}  {' ' * 13}  {url}", flush=True)

            return reply

        async with anyio.create_task_group() as group:
            for message in conversations:
                print(f" 0.00s  {message.user:<5} -> bot  {message.text}", flush=True)
                group.start_soon(bot.handle, message, replier(message.user))
    print(f"{emulator.generate_calls()} generations, {emulator.charged()} credits")


if __name__ == "__main__":
    anyio.run(main)
