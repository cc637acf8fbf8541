"""The Ed25519 signing key of the tree heads: load it from a PEM file, or generate it outside production.

Rule: the key file is ``AuditSettings.signing_key_file`` or ``<data_dir>/audit-signing-key.pem``. When it
does not exist it is generated (mode 0600) in development and test; production refuses to start without
one, so a restart never silently switches keys (old tree heads would stop verifying).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from services.audit.config import AuditSettings
from services.audit.domain.checkpoint import key_id, public_key_bytes
from services.runtime.settings import Settings

KEY_FILE_NAME = "audit-signing-key.pem"


class SigningKey:
    """The private key plus its raw public key and key id."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private
        self.public: Ed25519PublicKey = private.public_key()
        self.public_raw = public_key_bytes(private)
        self.key_id = key_id(self.public_raw)


def key_path(settings: Settings, audit: AuditSettings) -> Path:
    return audit.signing_key_file or settings.data_dir / KEY_FILE_NAME


def load_or_create(settings: Settings, audit: AuditSettings) -> SigningKey:
    """Read the PEM key; generate and save one when absent (never in production)."""
    path = key_path(settings, audit)
    if path.exists():
        loaded = load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return SigningKey(loaded)
    if settings.env == "production":
        raise ValueError(f"audit signing key {path} is missing (set SEGFLOW_AUDIT_SIGNING_KEY_FILE)")
    private = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first: use theirs
        return load_or_create(settings, audit)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return SigningKey(private)
