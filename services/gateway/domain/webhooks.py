"""Webhook delivery rules: the HMAC-SHA256 signature and the exponential retry schedule."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The X-Segflow-Signature value: "sha256=" + hex(HMAC-SHA256(key=secret, msg=body))."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` equals sign(secret, body) (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), signature)


def backoff_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Delay before the next attempt after ``attempts`` failures: min(cap, base * 2^(attempts-1))."""
    if attempts < 1:
        return 0.0
    return min(cap_s, base_s * 2.0 ** (attempts - 1))


def next_status(attempts: int, max_attempts: int) -> str:
    """ "dead" once attempts >= max_attempts (dead-lettered), else "pending" (retried later)."""
    return "dead" if attempts >= max_attempts else "pending"
