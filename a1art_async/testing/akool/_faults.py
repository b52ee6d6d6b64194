"""
akool's fault knobs: the kit's, and the webhooks' own.
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from .._kit import FaultKnobs
from .._kit._faults import non_negative, probability

API_ENDPOINTS: Final = frozenset({"createbyprompt", "createbybutton", "infobymodelid"})
"""The endpoint names request-level knobs hit when :attr:`Faults.endpoints` is None."""


@attrs.define
class Faults(FaultKnobs):
    """
    Fault knobs, all off by default; assign to any of them at any time.

    The kit's knobs (see ``docs/emulator.md``) work on the three endpoints, with akool's
    wording: ``rate_limit`` answers HTTP 429 with ``Retry-After`` and a plain page (the
    docs list no code for it), ``server_error_rate`` answers code 1108 ("image generate
    error, please try again later") without doing anything, task knobs make images
    fail (status 4) or stay processing (status 2), and ``result_ttl`` makes results
    expire sooner than the documented 7 days.  The webhooks' own knobs act on each
    webhook the emulator sends (see ``Emulator.sending_webhooks``):

    Attributes:
        webhook_drop_rate: Probability that a webhook is never sent.
        webhook_duplicate_rate: Probability that it is sent twice.
        webhook_delay: Seconds added before every webhook.
        webhook_jitter: A further delay drawn in ``[0, jitter]`` per webhook, which
            reorders webhooks sent close together.
        webhook_forge_rate: Probability that a forged webhook is sent too: a signed body
            encrypted with another key, or a real one with ``dataEncrypt`` tampered, each
            claiming the image completed.
    """

    webhook_drop_rate: float = attrs.field(default=0.0, validator=probability)
    webhook_duplicate_rate: float = attrs.field(default=0.0, validator=probability)
    webhook_delay: float = attrs.field(default=0.0, validator=non_negative)
    webhook_jitter: float = attrs.field(default=0.0, validator=non_negative)
    webhook_forge_rate: float = attrs.field(default=0.0, validator=probability)

    ENDPOINTS: ClassVar[frozenset[str] | None] = API_ENDPOINTS
