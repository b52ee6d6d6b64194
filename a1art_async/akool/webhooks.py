"""
akool webhooks without a client: ``akool.webhooks.open(body, api_key=..., client_id=...)``
verifies and decrypts one body into a :class:`WebhookEvent` (see ``_webhooks.py``).
"""

from ._webhooks import WebhookEvent as WebhookEvent
from ._webhooks import open as open
from ._webhooks import signature as signature

__all__ = ["WebhookEvent", "open", "signature"]
