"""
``akool.AsyncClient``: akool's image generation API on the engine.

The engine's client core (:class:`~.._engine._client.ClientCore`) owns the connection
pool, the credentials, the request budget, the retries, the polling scheduler and the
lifecycle; akool's wire format (``_wire.py``) says what each answer means;
``client.images`` has the three endpoints, ``client.webhooks`` turns webhooks into
immediate polls, ``client.batch`` runs journaled batches.
"""

from __future__ import annotations

import os
from typing import ClassVar, Literal, Unpack

import httpx

from .._engine._batch import BatchOptions
from .._engine._client import ClientCore, optional_secret
from .._engine._errors import ValidationError
from .._engine._limiter import RateLimit, TokenSource
from .._engine._retry import RetryPolicy
from .._engine._schedule import PollPolicy
from ._config import (
    API_ORIGIN,
    API_PREFIX,
    DEFAULT_LIMITS,
    DEFAULT_POLL_POLICY,
    DEFAULT_TIMEOUT,
    WEBHOOK_POLL_POLICY,
    check_webhook_url,
    normalize_origin,
)
from ._images import ImagePoller, Images, Seen
from ._jobs import Batch
from ._models import Image
from ._webhooks import Webhooks
from ._wire import AkoolWire, key_auth, token_auth


class AsyncClient(ClientCore[Image]):
    """
    akool's image API, asynchronously, on asyncio or trio.

    Args:
        api_key: The API key (sent as ``x-api-key``); ``AKOOL_API_KEY`` by default.  It
            is also the client secret webhooks are encrypted with.
        token: A token from akool's token endpoint, sent as ``Authorization: Bearer``
            instead of the key (the docs: Bearer wins when both are sent, so only one
            ever is); the key, if given too, only opens webhooks.
        client_id: The client id (``AKOOL_CLIENT_ID`` by default): webhooks only.
        base_url: Another origin (a loopback emulator); plain http only on loopback.
        webhook_url: Where akool posts status changes for every image this client
            makes (each call may name its own).  With it, background polling slows down
            (:data:`WEBHOOK_POLL_POLICY`) but never stops.
        timeout, limits, max_retries, retry, http_client, transport, rate_limit,
            token_source: As for ``a1art_async.AsyncClient``.
        poll_policy: When to poll images somebody waits for.

    Use it as ``async with akool.AsyncClient() as client:``; waiting needs that form.
    """

    provider: ClassVar[str] = "akool"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        token: str | None = None,
        client_id: str | None = None,
        base_url: str | None = None,
        webhook_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | Literal["aiohttp"] | None = None,
        poll_policy: PollPolicy | None = None,
        rate_limit: float | RateLimit | None = None,
        token_source: TokenSource | None = None,
    ) -> None:
        key = optional_secret(
            "api_key", api_key if api_key is not None else os.environ.get("AKOOL_API_KEY")
        )
        bearer = optional_secret("token", token)
        if key is None and bearer is None:
            raise ValidationError(
                "api_key", "no API key: pass api_key= (or token=) or set AKOOL_API_KEY"
            )
        given_id = client_id if client_id is not None else os.environ.get("AKOOL_CLIENT_ID")
        self.client_id = given_id.strip() if given_id and given_id.strip() else None
        self.webhook_url = check_webhook_url(webhook_url)
        self.origin = normalize_origin(base_url or API_ORIGIN)
        credential = bearer if bearer is not None else key
        assert credential is not None
        default = WEBHOOK_POLL_POLICY if self.webhook_url else DEFAULT_POLL_POLICY
        seen = Seen()
        super().__init__(
            base=self.origin + API_PREFIX,
            auth=token_auth(credential) if bearer is not None else key_auth(credential),
            secret=credential,
            wire=AkoolWire(),
            poller=lambda session: ImagePoller(session, seen),
            poll_policy=poll_policy or default,
            timeout=timeout,
            limits=limits,
            max_retries=max_retries,
            retry=retry,
            http_client=http_client,
            transport=transport,
            rate_limit=rate_limit,
            token_source=token_source,
        )
        self._images = Images(self._session, self._scheduler, seen, self.webhook_url)
        self._webhooks = Webhooks(key, self.client_id, self._scheduler)

    def __repr__(self) -> str:
        return f"<akool.AsyncClient origin={self.origin!r}>"

    @property
    def images(self) -> Images:
        """
        ``create``, ``press``, ``get``, ``wait``, ``as_completed``, ``events``,
        ``track``, ``resume``, ``download``, ``estimate``.
        """
        return self._images

    @property
    def webhooks(self) -> Webhooks:
        """
        ``open(body)``, ``await deliver(body)`` and ``asgi()``: webhooks as immediate polls.
        """
        return self._webhooks

    def batch(self, **options: Unpack[BatchOptions]) -> Batch:
        """
        A journaled batch of creates and presses: ``async with client.batch(...) as b:``;
        options as for ``a1art_async.AsyncClient.batch``.
        """
        return Batch(
            images=self._images,
            webhook_url=self.webhook_url,
            **self._batch_engine(),
            **options,
        )
