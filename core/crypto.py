"""Field encryption at rest with MultiFernet: the first key of FIELD_ENCRYPTION_KEYS encrypts, all of them decrypt."""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise DecryptionError("FIELD_ENCRYPTION_KEYS is empty")
    return _fernet_for(tuple(keys))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


@lru_cache(maxsize=4096)
def _decrypt(token: str, keys: tuple[str, ...]) -> str:
    try:
        return _fernet_for(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("no configured key decrypts this value") from None


def decrypt(token: str) -> str:
    """Memoized per process by ciphertext and keys: every API request verifies with its site's shared secret, and a
    Fernet decryption (HMAC check and AES) was a tenth of a read. A new secret is a new ciphertext, so a rotation
    or reinstall never meets an old entry; failures are not cached."""
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise DecryptionError("FIELD_ENCRYPTION_KEYS is empty")
    return _decrypt(token, tuple(keys))


def reencrypt(token: str) -> str:
    """The same plaintext under the current first key (for key rotation)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("no configured key decrypts this value") from None
