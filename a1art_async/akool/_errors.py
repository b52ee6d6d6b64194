"""
The akool image API's errors: one class per documented code, under :class:`APIError`.

The tree (the shared errors come from ``_engine/_errors.py``)::

    A1ArtError
    ├── ValidationError                bad input, caught before any request is sent
    ├── APIError                       the API answered with a code other than 1000
    │   ├── ParameterError             1003 parameter error or empty parameter
    │   ├── NotFoundError              1008 the content does not exist
    │   ├── PermissionDeniedError      1009 no permission to operate
    │   ├── ContentNotOperableError    1010 this content cannot be operated on
    │   ├── AuthenticationError        1101 invalid or expired authorization, 1102 none
    │   ├── GenerationError            1108 "image generate error, please try again later"
    │   ├── AccountBannedError         1200
    │   ├── RateLimitError             HTTP 429 (the docs list no code for it)
    │   ├── ServerError                HTTP 5xx that carried an envelope
    │   └── UnknownAPIError            a code the docs do not list
    ├── UnexpectedResponseError        not the documented envelope (HTML 502, bad JSON)
    ├── UnknownStatusError             an ``image_status`` outside 1-4 (ends a wait)
    ├── UnexpectedRedirectError, TransportError (ConnectError, TimeoutError)
    ├── ImageOutcomeUnknown            a create or press may have been charged; not resent
    ├── ImageFailedError               the image ended with status 4
    ├── TaskTimeoutError               a wait passed its deadline; the image goes on
    ├── WebhookError                   a webhook body that is forged, tampered or unreadable
    └── DownloadError (ResultExpiredError)

Transient (a wait polls again, a batch job stays pending): :class:`GenerationError`,
:class:`RateLimitError`, :class:`ServerError`.  1108 says "please try again later", so
it is treated as the service failing; for a paid request that means its outcome is
unknown (the request arrived, and whether it was charged is not said), never a resend.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._engine._errors import A1ArtError, OutcomeUnknown, TaskFailedError, code_table
from .._engine._errors import APIError as _APIError


class APIError(_APIError):
    """
    The akool API answered with a ``code`` other than 1000.

    Attributes:
        code: The code (or the HTTP status, for a refusal without an envelope).
        msg: The API's message.
        status: The HTTP status of the response.
        retry_after: Seconds the server asked to wait, when it said so.
    """

    def __init__(
        self,
        code: int | str,
        msg: str = "",
        *,
        status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, msg, status=status, retry_after=retry_after)
        self.msg = msg

    def __str__(self) -> str:
        return f"akool error {self.code}: {self.msg or '(no message)'}"


class ParameterError(APIError):
    """
    "Parameter error or Parameter can not be empty" (1003).
    """

    codes: ClassVar[tuple[int | str, ...]] = (1003,)


class NotFoundError(APIError):
    """
    "The content you get does not exist" (1008): no image has this id.
    """

    codes: ClassVar[tuple[int | str, ...]] = (1008,)


class PermissionDeniedError(APIError):
    """
    "You do not have permission to operate" (1009).
    """

    codes: ClassVar[tuple[int | str, ...]] = (1009,)


class ContentNotOperableError(APIError):
    """
    "You can not operate this content" (1010).
    """

    codes: ClassVar[tuple[int | str, ...]] = (1010,)


class AuthenticationError(APIError):
    """
    "Invalid authorization or The request token has expired" (1101), "Authorization
    cannot be empty" (1102).
    """

    codes: ClassVar[tuple[int | str, ...]] = (1101, 1102)


class GenerationError(APIError):
    """
    "image generate error, please try again later" (1108).
    """

    codes: ClassVar[tuple[int | str, ...]] = (1108,)
    transient: ClassVar[bool] = True


class AccountBannedError(APIError):
    """
    "The account has been banned" (1200).
    """

    codes: ClassVar[tuple[int | str, ...]] = (1200,)


class RateLimitError(APIError):
    """
    Too many requests: HTTP 429 (the docs list no code for it).
    """

    transient: ClassVar[bool] = True


class ServerError(APIError):
    """
    An HTTP 5xx that carried the envelope.
    """

    transient: ClassVar[bool] = True


class UnknownAPIError(APIError):
    """
    A code the docs do not list; ``code`` and ``msg`` are kept as sent.
    """


#: Every documented code other than 1000 and the class it raises.
API_ERRORS: dict[int | str, type[APIError]] = code_table(APIError)


def api_error(
    code: int, msg: str = "", *, status: int = 200, retry_after: float | None = None
) -> APIError:
    """
    The error for an envelope ``code``, through :data:`API_ERRORS`.
    """
    cls = API_ERRORS.get(code, UnknownAPIError)
    return cls(code, msg, status=status, retry_after=retry_after)


class UnknownStatusError(A1ArtError):
    """
    An ``image_status`` the docs do not list (1-4): a wait ends with this error instead
    of polling forever (unlike an unreadable body, which is polled again).

    Attributes:
        image_id: The image.
        value: The status as sent.
    """

    def __init__(self, image_id: str, value: Any) -> None:
        super().__init__(f"image {image_id} has an unknown image_status {value!r}")
        self.image_id = image_id
        self.value = value


class ImageOutcomeUnknown(OutcomeUnknown):
    """
    A create or a press (both spend credits, neither has an idempotency key) may have
    reached akool, but no answer says whether an image was made.  It was not sent again.

    Attributes:
        request: The :class:`CreateRequest` or :class:`PressRequest`, to resend by hand.
        cause: What went wrong after it was sent.
        arrived: For a press, ``True`` when the parent image's ``used_buttons`` gained the
            button since the client last saw it: the press arrived (and was charged); the
            new image's id is what stays unknown.  ``None`` when that cannot be told.
    """

    def __init__(
        self,
        request: Any,
        cause: BaseException,
        *,
        arrived: bool | None = None,
    ) -> None:
        super().__init__(request, cause)
        self.arrived = arrived
        if arrived:
            self.args = (
                f"{self.args[0]}; the parent's used_buttons gained {getattr(request, 'button', '')}"
                ": the press arrived and was charged, the new image's id is unknown",
            )


class ImageFailedError(TaskFailedError):
    """
    The image ended with ``image_status`` 4 (failed).

    Attributes:
        image: The image as the last poll saw it.
    """

    def __init__(self, image: Any) -> None:
        super().__init__(image, task_id=image.id)
        self.image = image


class WebhookError(A1ArtError):
    """
    A webhook body that cannot be trusted or read: not the documented JSON, a signature
    that does not match, or ``dataEncrypt`` that does not decrypt with the key and client
    id.  Nothing was done with it.
    """
