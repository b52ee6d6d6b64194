"""
The command line for the gateway: ``a1art gateway generate`` and ``a1art gateway task``
against the emulator in process, with the command line's output conventions and exit
statuses, and the batch rows of the gateway.
"""

from __future__ import annotations

from a1art_async import gateway
from a1art_async._cli._exit import ExitCode, describe, error_json, exit_code


def test_gateway_api_errors_exit_as_api_errors() -> None:
    """
    A gateway API error exits with status 3 and reads as one line with its code and
    message, as an a1.art one does.
    """
    error = gateway.InvalidParamsError("400", "Invalid request parameters", status=400)
    assert ExitCode.API == exit_code(error)
    assert "API error 400: Invalid request parameters" == describe(error)
    assert {"code": "400", "msg": "Invalid request parameters"} == {
        key: value for key, value in error_json(error).items() if key in ("code", "msg", "msg_cn")
    }
