"""
The documented envelope codes and their exact messages, in one table.

Every envelope the emulator writes takes ``msg`` and ``msg_cn`` from :data:`MESSAGES`, so a
client matching on either string sees what the real service documents (typos included:
``"too may request"`` is the documented spelling).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from .._kit import Response

OK: Final = 0
INVALID_PARAMS: Final = 10001
UNSUPPORTED_SUFFIX: Final = 10002
MISSING_API_KEY: Final = 10410
INVALID_API_KEY: Final = 10411
TOO_MANY_REQUESTS: Final = 20000
SERVER_ERROR: Final = 20002
INTERNAL_ERROR: Final = 20003
FILE_ERROR: Final = 20100
FILE_SUFFIX_ERROR: Final = 20101
NO_API_ACCESS: Final = 324010
QUANTITY: Final = 324011
APP_NOT_FOUND: Final = 324012
APP_UPDATED: Final = 324013
FOREIGN_APP: Final = 324018
VIP_ONLY: Final = 324019
MISSING_IMAGE: Final = 400000
ONE_IMAGE_ONLY: Final = 400001
NOT_AN_IMAGE: Final = 400002
IMAGE_TOO_LARGE: Final = 400003
INVALID_FILE: Final = 400004
UNSUPPORTED_FORMAT: Final = 400005
DIMENSIONS_TOO_LARGE: Final = 400006
BALANCE_INSUFFICIENT: Final = 810012

# Copied cell by cell from the error table of the docs (escaped "\*" unescaped).
MESSAGES: Final[Mapping[int, tuple[str, str]]] = MappingProxyType(
    {
        OK: ("success", "成功"),
        INVALID_PARAMS: ("invalid params", "无效的参数"),
        UNSUPPORTED_SUFFIX: ("unsupported image suffix", "不支持的文件后缀"),
        MISSING_API_KEY: ("Missing API key", "缺少API key"),
        INVALID_API_KEY: ("Invalid API key", "无效的API key"),
        TOO_MANY_REQUESTS: ("too may request", "接口访问触发限流"),
        SERVER_ERROR: ("server error", "服务器错误"),
        INTERNAL_ERROR: ("service internal error", "服务内部错误"),
        FILE_ERROR: ("file error", "文件异常"),
        FILE_SUFFIX_ERROR: ("file suffix error", "文件后缀异常"),
        NO_API_ACCESS: ("This app does not support API access", "此应用不支持通过API访问"),
        QUANTITY: ("The quantity must not exceed 4", "单个应用单次请求生图数量1～4张"),  # noqa: RUF001
        APP_NOT_FOUND: ("This app does not exist", "无效的应用ID"),
        APP_UPDATED: (
            "The application is updated. You need to obtain the application information again",
            "应用版本已更新，请重新获取应用信息",  # noqa: RUF001
        ),
        FOREIGN_APP: ("You can only use API of your built apps.", "调用他人的未发布应用api"),
        MISSING_IMAGE: ("Missing image file", "缺少图片文件"),
        ONE_IMAGE_ONLY: ("Only one image can be uploaded at a time", "一次只支持上传一张图片"),
        NOT_AN_IMAGE: ("Non image format files are not supported", "不支持非图片格式文件"),
        IMAGE_TOO_LARGE: ("The image file cannot exceed 10M", "图片文件不能超过10M"),
        INVALID_FILE: ("Invalid file", "无效的文件"),
        UNSUPPORTED_FORMAT: ("This image format is not supported", "不支持该图片格式"),
        DIMENSIONS_TOO_LARGE: (
            "The size of the image file cannot exceed 2048*2048",
            "图片文件尺寸不能超过 2048*2048",
        ),
        VIP_ONLY: (
            "No rights to use VIP app*Available after payment",
            "没有使用 vip app 的权益*付费后可用",
        ),
        BALANCE_INSUFFICIENT: ("balance insufficient error", "账户余额不足"),
    }
)


class ApiError(Exception):
    """
    Raised inside a handler to answer with an envelope error instead of data.

    Handlers validate top to bottom and raise at the first violation, which keeps the
    documented check order visible in the code.
    """

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def envelope(code: int, data: object = None) -> dict[str, object]:
    """
    Build the response envelope every API answer shares.

    Args:
        code: An envelope code from :data:`MESSAGES`.
        data: The payload; the service sends ``null`` on errors.

    Returns:
        ``{"code", "msg", "msg_cn", "data"}`` ready for JSON encoding.
    """
    msg, msg_cn = MESSAGES[code]
    return {"code": code, "msg": msg, "msg_cn": msg_cn, "data": data}


def reply(code: int, data: object = None, status: int = 200) -> Response:
    """
    An API answer: the envelope as compact JSON, its code kept for the journal.

    Args:
        code: An envelope code from :data:`MESSAGES`.
        data: The payload (errors carry ``null``).
        status: The HTTP status (200, even for errors, unless a knob asks otherwise).
    """
    return Response.json(status, envelope(code, data), code)
