"""
Sealing a webhook body the way akool documents it: AES-CBC with PKCS#7 padding under
the client secret (the API key) as key and the client id as IV, base64; signed with the
hex SHA-1 of the sorted concatenation of client id, timestamp, nonce and ciphertext.

Needs the ``cryptography`` package (the ``akool`` extra), imported when first used.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Final

INSTALL_HINT: Final = (
    "the akool emulator's webhooks need the cryptography package: pip install -e '.[akool]'"
)


def sign(client_id: str, timestamp: str, nonce: str, data_encrypt: str) -> str:
    """
    The documented signature.
    """
    joined = "".join(sorted((client_id, timestamp, nonce, data_encrypt)))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def encrypt(plain: bytes, key: str, client_id: str) -> str:
    """
    base64(AES-CBC(PKCS#7(plain))) with *key* and IV *client_id*.

    Raises:
        ImportError: Without ``cryptography``.
        ValueError: A key that is not 16, 24 or 32 bytes, or a client id not 16.
    """
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    pad = 16 - len(plain) % 16
    padded = plain + bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(client_id.encode())).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def seal(
    data: dict[str, Any], *, api_key: str, client_id: str, timestamp: int, nonce: str
) -> dict[str, Any]:
    """
    The webhook body for *data* (``{_id, status, type, url}``).
    """
    data_encrypt = encrypt(json.dumps(data, separators=(",", ":")).encode(), api_key, client_id)
    return {
        "signature": sign(client_id, str(timestamp), nonce, data_encrypt),
        "dataEncrypt": data_encrypt,
        "timestamp": timestamp,
        "nonce": nonce,
    }
