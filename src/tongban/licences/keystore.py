"""The key store that holds the seals' private keys. Callers get public keys and signatures, never a
private key. It is a ``key_store`` plugin (``core.registry``, docs/plugins.md): the default,
``encrypted-db``, keeps each private key in the database encrypted with SM4-GCM under a key encryption key
from the settings (TONGBAN_SEAL_KEK); a deployment registers another (a hardware security module adapter,
say) with the same two methods and chooses it in ``TONGBAN_PLUGINS["key_store"]`` (TONGBAN_KEY_STORE)."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import threading
from typing import Protocol

from cryptography.hazmat.primitives import hashes as c_hashes
from cryptography.hazmat.primitives import serialization as c_serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tongsuopy.crypto import hashes as t_hashes
from tongsuopy.crypto import serialization as t_serialization
from tongsuopy.crypto.asymciphers import ec

from tongban.core.registry import Plugin, Registry

from .constants import Algorithm


class KeyStore(Protocol):
    name: str

    def generate(self, algorithm: str) -> tuple[str, bytes]:
        """A new key pair: (public key PEM, opaque handle the store understands)."""

    def sign(self, algorithm: str, handle: bytes, data: bytes) -> bytes: ...

    def check_config(self) -> list[str]: ...


key_stores: Registry[KeyStore] = Registry("key_store", label=gettext_lazy("印章密钥库"))


@key_stores.register(
    "encrypted-db",
    options_schema={
        "type": "object",
        # base64 of 16 bytes; empty: derived from the secret key. Never shown on the health page.
        "properties": {"kek": {"type": "string", "writeOnly": True}},
        "additionalProperties": False,
    },
)
class EncryptedKeyStore(Plugin):
    """Private keys as PKCS#8, encrypted with SM4-GCM (the algorithm bound as associated data). The key
    encryption key is option ``kek`` (TONGBAN_SEAL_KEK, base64 of 16 bytes) or, when unset, derived from
    the secret key with HKDF, so that a copy of the database alone signs nothing."""

    name = "encrypted-db"
    label = gettext_lazy("数据库（SM4-GCM 加密保存私钥）")
    VERSION = b"T1"

    def __init__(self, *, kek: str = "") -> None:
        self._configured_kek = kek
        self._loaded: dict[bytes, object] = {}
        self._lock = threading.Lock()

    def check_config(self) -> list[str]:
        try:
            self._kek  # noqa: B018 - decodes and checks the configured key
        except ImproperlyConfigured:
            return [_("TONGBAN_SEAL_KEK 必须是 16 字节（SM4 密钥）的 base64 编码。")]
        return []

    @functools.cached_property
    def _kek(self) -> bytes:
        configured = self._configured_kek
        if configured:
            try:
                key = base64.b64decode(configured)
            except ValueError:
                key = b""
            if len(key) != 16:
                raise ImproperlyConfigured("TONGBAN_SEAL_KEK must be base64 of 16 bytes (an SM4 key).")
            return key
        return HKDF(c_hashes.SHA256(), 16, salt=b"tongban-seal", info=b"key encryption key").derive(
            settings.SECRET_KEY.encode()
        )

    def _seal(self, algorithm: str, plain: bytes) -> bytes:
        nonce = os.urandom(12)
        encryptor = Cipher(algorithms.SM4(self._kek), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(algorithm.encode())
        body = encryptor.update(plain) + encryptor.finalize()
        return self.VERSION + nonce + encryptor.tag + body

    def _open(self, algorithm: str, handle: bytes) -> bytes:
        if handle[:2] != self.VERSION:
            raise ValueError("unknown key handle format")
        nonce, tag, body = handle[2:14], handle[14:30], handle[30:]
        decryptor = Cipher(algorithms.SM4(self._kek), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(algorithm.encode())
        return decryptor.update(body) + decryptor.finalize()

    def generate(self, algorithm: str) -> tuple[str, bytes]:
        if algorithm == Algorithm.SM2:
            key = ec.generate_private_key(ec.SM2())
            der = key.private_bytes(
                t_serialization.Encoding.DER,
                t_serialization.PrivateFormat.PKCS8,
                t_serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                t_serialization.Encoding.PEM, t_serialization.PublicFormat.SubjectPublicKeyInfo
            )
        elif algorithm == Algorithm.ED25519:
            key = Ed25519PrivateKey.generate()
            der = key.private_bytes(
                c_serialization.Encoding.DER,
                c_serialization.PrivateFormat.PKCS8,
                c_serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                c_serialization.Encoding.PEM, c_serialization.PublicFormat.SubjectPublicKeyInfo
            )
        else:
            raise ValueError(f"unsupported algorithm {algorithm}")
        return public.decode(), self._seal(algorithm, der)

    def _key(self, algorithm: str, handle: bytes) -> object:
        cache_key = hashlib.sha256(handle).digest()
        key = self._loaded.get(cache_key)
        if key is None:
            der = self._open(algorithm, handle)
            if algorithm == Algorithm.SM2:
                key = t_serialization.load_der_private_key(der, None)
            else:
                key = c_serialization.load_der_private_key(der, None)
            with self._lock:
                self._loaded[cache_key] = key
        return key

    def sign(self, algorithm: str, handle: bytes, data: bytes) -> bytes:
        key = self._key(algorithm, bytes(handle))
        if algorithm == Algorithm.SM2:
            return key.sign(data, ec.ECDSA(t_hashes.SM3()))
        return key.sign(data)


def key_store() -> KeyStore:
    """The configured key store (``TONGBAN_PLUGINS["key_store"]``), one instance per configuration."""
    return key_stores.configured()


__all__ = ["EncryptedKeyStore", "KeyStore", "key_store", "key_stores"]
