"""
The SDK logs through ``logging.getLogger("a1art_async")``: each request line and status
at DEBUG, each retry at INFO.  The API key is never logged: it travels only in a header,
and headers are never logged.

``A1ART_LOG=debug`` (or ``info``, ``warning``) in the environment attaches a stderr
handler at that level the first time a client is created, for quick diagnosis without
touching the application's logging setup.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("a1art_async")

_configured = False


def configure_from_env() -> None:
    """
    Honour ``A1ART_LOG`` once per process.
    """
    global _configured
    if _configured:
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
