"""
The SDK logs through ``logging.getLogger("a1art_async")``: each request line and status
at DEBUG, each retry at INFO.  The API key is never logged: it travels only in a header,
and headers are never logged.

``A1ART_LOG=debug`` (or ``info``, ``warning``) in the environment attaches a stderr
handler at that level the first time a client is created, for quick diagnosis without
touching the application's logging setup.

A program that shows the SDK's logs itself (the ``a1art`` command's ``-v``) uses
:func:`log_to`: for as long as it lasts, its handler is the only one the SDK's records
reach, so each line is written once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

logger = logging.getLogger("a1art_async")

_configured = False
#: How many :func:`log_to` blocks are active: ``A1ART_LOG`` waits until none is.
_overrides = 0


def configure_from_env() -> None:
    """
    Honour ``A1ART_LOG`` once per process (not while :func:`log_to` is in effect).
    """
    global _configured
    if _configured or _overrides:
        return
    _configured = True
    level_name = os.environ.get("A1ART_LOG", "").strip().upper()
    if not level_name:
        return
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


@contextlib.contextmanager
def log_to(handler: logging.Handler, level: int = logging.DEBUG) -> Iterator[None]:
    """
    Send the SDK's records at *level* and above to *handler*, and nowhere else, until
    the block ends; then restore the logger as it was.

    Without this, a record would also reach ``A1ART_LOG``'s handler and any handler of
    the root logger (the record propagates), and be written two or three times.
    """
    global _overrides
    saved = (logger.level, logger.propagate, list(logger.handlers))
    _overrides += 1
    try:
        for existing in saved[2]:
            logger.removeHandler(existing)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
        yield
    finally:
        _overrides -= 1
        logger.removeHandler(handler)
        for existing in saved[2]:
            logger.addHandler(existing)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
