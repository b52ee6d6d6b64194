from __future__ import annotations

import pytest

import a1art_async as a1
from a1art_async._exceptions import API_ERRORS, api_error

#: The 24 documented codes (0 is success) and the class each must raise.
DOCUMENTED = {
    10001: a1.InvalidParamsError,
    10002: a1.UnsupportedSuffixError,
    10410: a1.AuthenticationError,
    10411: a1.AuthenticationError,
    20000: a1.RateLimitError,
    20002: a1.ServerError,
    20003: a1.ServerError,
    20100: a1.FileError,
    20101: a1.UnsupportedSuffixError,
    324010: a1.AppNotAPIEnabledError,
    324011: a1.QuantityError,
    324012: a1.AppNotFoundError,
    324013: a1.AppVersionOutdatedError,
    324018: a1.AppNotOwnedError,
    324019: a1.VIPRequiredError,
    400000: a1.MissingImageFileError,
    400001: a1.TooManyImagesError,
    400002: a1.NotAnImageError,
    400003: a1.ImageTooLargeError,
    400004: a1.InvalidFileError,
    400005: a1.UnsupportedImageFormatError,
    400006: a1.ImageDimensionsTooLargeError,
    810012: a1.BalanceInsufficientError,
}


def test_every_documented_code_is_in_the_table() -> None:
    """
    The table maps exactly the 23 documented error codes (24 with success) to classes.
    """
    assert 23 == len(DOCUMENTED)
    assert DOCUMENTED == API_ERRORS


@pytest.mark.parametrize(("code", "cls"), sorted(DOCUMENTED.items()))
def test_api_error_carries_code_and_both_messages(code: int, cls: type[a1.APIError]) -> None:
    """
    Each code raises its class, under APIError and A1ArtError, with code, msg and msg_cn.
    """
    error = api_error(code, "english", "中文", status=200)
    assert cls is type(error)
    assert isinstance(error, a1.APIError)
    assert isinstance(error, a1.A1ArtError)
    assert (code, "english", "中文") == (error.code, error.msg, error.msg_cn)
    assert str(code) in str(error)


def test_unknown_code_still_raises_a_useful_error() -> None:
    """
    A code the docs do not list becomes UnknownAPIError with everything the server said.
    """
    error = api_error(999999, "new failure", "新错误")
    assert a1.UnknownAPIError is type(error)
    assert "999999" in str(error)
    assert "new failure" in str(error)


def test_rate_limit_error_keeps_retry_after() -> None:
    """
    RateLimitError carries the server's Retry-After.
    """
    error = api_error(20000, "too may request", retry_after=4.0)
    assert isinstance(error, a1.RateLimitError)
    assert 4.0 == error.retry_after


def test_validation_error_names_the_field() -> None:
    """
    ValidationError is a ValueError that names the field at fault.
    """
    error = a1.ValidationError("generate_num", "must be 1 to 4")
    assert isinstance(error, ValueError)
    assert "generate_num" == error.field
    assert "generate_num: must be 1 to 4" == str(error)


def test_transport_errors_are_their_own_branch() -> None:
    """
    Transport failures are not API errors.
    """
    assert issubclass(a1.ConnectError, a1.TransportError)
    assert issubclass(a1.TimeoutError, a1.TransportError)
    assert not issubclass(a1.TransportError, a1.APIError)
