"""
What every command shares: the parsed options, the output, logging, and the client.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Mapping
from typing import TextIO

import httpx
from rich.console import Console

from .._client import AsyncClient
from .._engine._logging import log_to
from .._engine._schedule import PollPolicy
from ._exit import UsageError
from ._fields import FLAGS
from ._interrupt import Interrupts
from ._output import Output
from ._progress import stderr_console


class _Redact(logging.Filter):
    """
    Replace the API key wherever it might appear in a log line.
    """

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, "<secret>")
            record.args = None
        return True


def scaled_policy(scale: float | None) -> PollPolicy:
    """
    The default polling schedule with every wait multiplied by *scale*, for an emulator
    whose tasks run *scale* times as long as the service's.
    """
    policy = PollPolicy()
    if scale is None:
        return policy
    return PollPolicy(
        first_delay=policy.first_delay * scale,
        hint_fraction=policy.hint_fraction * scale,
        hint_cap=policy.hint_cap * scale,
        interval=policy.interval * scale,
        steady_for=policy.steady_for,
        backoff=policy.backoff,
        max_interval=policy.max_interval * scale,
        jitter=policy.jitter,
        deadline=None if policy.deadline is None else max(60.0, policy.deadline * scale),
        max_concurrent=policy.max_concurrent,
        coalesce=policy.coalesce * scale,
        # Seconds of lag a poll is worth: times too, or learned schedules would poll
        # scaled tasks as if they took the service's time.
        poll_cost=policy.poll_cost * scale,
        busy_poll_cost=policy.busy_poll_cost * scale,
    )


class Context:
    """
    One run of the command line.

    Attributes:
        interrupts: What Ctrl-C stops, and the task it must not lose (see ``_interrupt``).

    Args:
        args: The parsed arguments.
        stdout: Results go here.
        stderr: Progress, logs and errors go here.
        transport: The client's httpx transport (an emulator's, in tests).
    """

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.args = args
        self.transport = transport
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.out = Output(json_mode=bool(args.json), stdout=self.stdout)
        self._handler: logging.Handler | None = None
        self._logging = contextlib.ExitStack()
        self.interrupts = Interrupts()

    @property
    def api_key(self) -> str:
        """
        The key from ``--api-key`` or ``A1ART_API_KEY``.

        Raises:
            UsageError: Neither is set.
        """
        given: str | None = self.args.api_key
        if given is not None:
            if not given.strip():
                raise UsageError("--api-key: the key is empty")
            return given.strip()
        key = os.environ.get("A1ART_API_KEY", "")
        if not key.strip():
            raise UsageError("no API key: pass --api-key or set A1ART_API_KEY")
        return key.strip()

    def configure_logging(self, secret: str | None = None) -> None:
        """
        With ``-v``, send the SDK's debug logs to stderr, with *secret* (the key) redacted.

        Only the SDK's logger is shown: its line for each request has the method, the URL
        and the status.  httpx logs the same request again at INFO, so its logger is left
        alone, and :func:`log_to` keeps the record from reaching other handlers too.
        """
        if not self.args.verbose:
            return
        if self._handler is None:
            self._handler = logging.StreamHandler(self.stderr)
            self._handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            self._logging.enter_context(log_to(self._handler, logging.DEBUG))
        if secret:
            self._handler.addFilter(_Redact(secret))

    def close(self) -> None:
        """
        Detach the log handler this run added, and restore the SDK's logger.
        """
        self._logging.close()
        self._handler = None

    def client(self) -> AsyncClient:
        """
        A client from the global options: key, base URL, region and time scale.
        """
        key = self.api_key
        self.configure_logging(key)
        return AsyncClient(
            api_key=key,
            base_url=self.args.base_url,
            region=self.args.region,
            poll_policy=scaled_policy(self.args.time_scale),
            transport=self.transport,
        )

    def progress_console(self) -> Console:
        """
        The console on stderr that progress is shown on (never animated with ``-v``).
        """
        return stderr_console(self.stderr, plain=bool(self.args.verbose))

    @property
    def names(self) -> Mapping[str, str]:
        """
        How errors name what is wrong: by flag, and by the file itself for the commands
        that take one image as their argument (``upload``, ``enhance``).
        """
        source = getattr(self.args, "source", None)
        if isinstance(source, str):
            return {**FLAGS, "image": shlex.quote(source)}
        return FLAGS

    @property
    def timeout(self) -> float | None:
        """
        ``--timeout`` when the command has it.
        """
        value = getattr(self.args, "timeout", None)
        return None if value is None else float(value)
