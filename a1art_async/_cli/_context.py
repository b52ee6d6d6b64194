"""
What every command shares: the parsed options, the output, logging, and the client.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TextIO

import httpx
from rich.console import Console

from .._client import AsyncClient
from .._engine._schedule import PollPolicy
from ._exit import UsageError
from ._output import Output
from ._progress import stderr_console

#: Loggers whose records ``-v`` shows.
_LOGGERS = ("a1art_async", "httpx")


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
    )


class Context:
    """
    One run of the command line.

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
        self._levels: dict[str, int] = {}

    @property
    def api_key(self) -> str:
        """
        The key from ``--api-key`` or ``A1ART_API_KEY``.

        Raises:
            UsageError: Neither is set.
        """
        key = self.args.api_key or os.environ.get("A1ART_API_KEY", "")
        if not key.strip():
            raise UsageError("no API key: pass --api-key or set A1ART_API_KEY")
        return str(key).strip()

    def configure_logging(self, secret: str | None = None) -> None:
        """
        With ``-v``, send debug logs to stderr, with *secret* (the key) redacted.
        """
        if not self.args.verbose:
            return
        if self._handler is None:
            self._handler = logging.StreamHandler(self.stderr)
            self._handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            for name in _LOGGERS:
                logger = logging.getLogger(name)
                self._levels[name] = logger.level
                logger.addHandler(self._handler)
                logger.setLevel(logging.DEBUG)
        if secret:
            self._handler.addFilter(_Redact(secret))

    def close(self) -> None:
        """
        Detach the log handler this run added, and restore the loggers' levels.
        """
        if self._handler is not None:
            for name in _LOGGERS:
                logger = logging.getLogger(name)
                logger.removeHandler(self._handler)
                logger.setLevel(self._levels.get(name, logging.NOTSET))
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
    def timeout(self) -> float | None:
        """
        ``--timeout`` when the command has it.
        """
        value = getattr(self.args, "timeout", None)
        return None if value is None else float(value)
