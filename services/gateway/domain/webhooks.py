"""Webhook delivery rules: the HMAC-SHA256 signature, the receiver's check and the retry schedule.

Every delivery is a POST with these headers:
  X-Segflow-Timestamp: <unix seconds when this attempt was sent>
  X-Segflow-Signature: sha256=<hex HMAC-SHA256(key=secret, msg="{timestamp}.{raw body}")>
  X-Segflow-Delivery:  <delivery id> (the same on every retry: receivers dedupe on it)
A receiver recomputes the signature over the timestamp header, a "." and the raw body, compares in
constant time and rejects timestamps older than its tolerance (``verify_delivery``, 5 minutes default).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_S = 300.0


def signed_payload(timestamp: int, body: bytes) -> bytes:
    """The bytes that are signed: ``f"{timestamp}."`` followed by the raw body (Stripe-style), so a
    captured delivery cannot be replayed with a fresh timestamp without the secret."""
    return f"{timestamp}.".encode() + body


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Segflow-Signature value: "sha256=" + hex(HMAC-SHA256(key=secret, msg="{timestamp}.{body}"))."""
    digest = hmac.new(secret.encode(), signed_payload(timestamp, body), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    """True when ``signature`` equals sign(secret, timestamp, body) (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def verify_delivery(
    secret: str,
    timestamp_header: str,
    body: bytes,
    signature: str,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """The receiver's check of one delivery: accepted iff the X-Segflow-Timestamp header is an integer t
    with |now - t| <= tolerance_s AND signature == sign(secret, t, body). A replay of an old delivery
    (old t, valid signature) fails the age test; a re-stamped replay fails the signature test."""
    if not timestamp_header.isdigit():
        return False
    timestamp = int(timestamp_header)
    if abs(now_s - timestamp) > tolerance_s:
        return False
    return verify(secret, timestamp, body, signature)


def backoff_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Delay before the next attempt after ``attempts`` failures: min(cap, base * 2^(attempts-1))."""
    if attempts < 1:
        return 0.0
    return min(cap_s, base_s * 2.0 ** (attempts - 1))


def next_status(attempts: int, max_attempts: int) -> str:
    """ "dead" once attempts >= max_attempts (dead-lettered), else "pending" (retried later)."""
    return "dead" if attempts >= max_attempts else "pending"
