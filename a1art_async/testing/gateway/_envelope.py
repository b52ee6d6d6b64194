"""
The gateway's envelope, ``{success, code, message, data}``, with the documented answers
word for word: 200 "successful", 400 "Invalid request parameters", 401 "Unauthorized",
429 "Rate limit exceeded"; and, where the docs are silent, 500 "Internal server error"
and 404 "Not Found" in the same envelope.  ``code`` is a string, as documented; the
journal records it as a number.
"""

from __future__ import annotations

from typing import Final

from .._kit import Response

MESSAGES: Final = {
    200: "successful",
    400: "Invalid request parameters",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Rate limit exceeded",
    500: "Internal server error",
}


class Refusal(Exception):
    """
    Raised by an endpoint to answer a documented error (400 for every bad parameter).
    """

    def __init__(self, status: int = 400) -> None:
        super().__init__(MESSAGES[status])
        self.status = status


def success(data: object) -> Response:
    """
    HTTP 200, ``{"success": true, "code": "200", "message": "successful", "data": ...}``.
    """
    payload = {"success": True, "code": "200", "message": MESSAGES[200], "data": data}
    return Response.json(200, payload, code=200)


def failure(status: int) -> Response:
    """
    The error envelope for *status*, on that HTTP status, without ``data`` (as the
    docs' examples show it).
    """
    payload = {"success": False, "code": str(status), "message": MESSAGES[status]}
    return Response.json(status, payload, code=status)
