"""Authentication and authorisation of every segflow API (DESIGN.md section 5).

Owns: the roles, the ``Principal`` a verified bearer JWT yields, the ``Authenticator`` (HS256 from a
secret in development; RS256 from a PEM public key or a JWKS URL in production), development token
issuing, the FastAPI dependencies ``current_principal`` / ``require_roles`` and field-level masking of
financial fields.

Rules:
- a token must be signed with the configured algorithm and carry ``sub``, ``exp``, ``iat`` and
  ``roles``; ``aud`` must equal ``settings.jwt_audience`` and ``iss`` ``settings.jwt_issuer``;
- every role must be known; a ``customer`` token must carry ``customer_id``, a ``partner`` token
  ``partner_id`` (object-level checks take the id from the token, never from the path);
- ``admin`` passes every role check; financial fields are visible to ``finance`` and ``admin`` only;
- a verified token is remembered (its principal, by the exact token string) until its ``exp`` plus the
  leeway, but never longer than ``VERIFIED_TTL_S`` (the JWKS key lifespan, so a rotated-out key stops
  being honoured as it would without the cache); at most ``VERIFIED_MAX`` tokens, oldest dropped first.
  Services see the same few tokens on every call, and a signature check per request was most of an
  authenticated call's CPU.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.runtime.problems import Problem, problem_responses
from services.runtime.settings import Settings


class Role(StrEnum):
    ADMIN = "admin"
    PLANNER = "planner"
    APPROVER = "approver"
    FINANCE = "finance"
    CUSTOMER = "customer"
    PARTNER = "partner"
    SERVICE = "service"


KNOWN_ROLES: frozenset[str] = frozenset(role.value for role in Role)
FINANCIAL_FIELDS: tuple[str, ...] = ("revenue", "margin", "cost", "unit_cost", "margin_pct")
FINANCIAL_READERS: frozenset[str] = frozenset({Role.FINANCE.value, Role.ADMIN.value})
AUTH_RESPONSES = problem_responses(401, 403)


class AuthError(Exception):
    """The token is missing, malformed, expired or not acceptable; ``str(error)`` says why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as proven by the token."""

    subject: str
    roles: frozenset[str]
    customer_id: str | None = None
    partner_id: str | None = None
    token_id: str | None = None

    def has_role(self, role: str) -> bool:
        """True when the principal holds ``role``; admin holds every role."""
        return role in self.roles or Role.ADMIN.value in self.roles

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return any(self.has_role(role) for role in roles)

    @property
    def sees_financials(self) -> bool:
        return bool(self.roles & FINANCIAL_READERS)


def _validate_roles(roles: Iterable[str], customer_id: str | None, partner_id: str | None) -> frozenset[str]:
    role_set = frozenset(str(r) for r in roles)
    if not role_set:
        raise AuthError("token carries no roles")
    unknown = sorted(role_set - KNOWN_ROLES)
    if unknown:
        raise AuthError(f"unknown role(s): {', '.join(unknown)}")
    if Role.CUSTOMER.value in role_set and not customer_id:
        raise AuthError("a customer token must carry customer_id")
    if Role.PARTNER.value in role_set and not partner_id:
        raise AuthError("a partner token must carry partner_id")
    return role_set


def _optional_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise AuthError(f"claim {name} must be a non-empty string")
    return value


VERIFIED_TTL_S = 300.0
VERIFIED_MAX = 10_000


class Authenticator:
    """Verifies bearer tokens against the settings' algorithm, key, audience and issuer."""

    def __init__(
        self, settings: Settings, *, leeway_s: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.algorithm = settings.jwt_algorithm
        self.leeway_s = leeway_s
        self.clock = clock
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._jwks: jwt.PyJWKClient | None = None
        self._key: Any = None
        if self.algorithm == "HS256":
            self._key = settings.effective_jwt_secret
        elif settings.jwt_public_key:
            self._key = settings.jwt_public_key
        elif settings.jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)
        else:
            raise ValueError("RS256 needs settings.jwt_public_key or settings.jwks_url")

    @property
    def uses_jwks(self) -> bool:
        return self._jwks is not None

    def _signing_key(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientError as error:
            raise AuthError(f"no signing key for token: {error}") from error
        except jwt.InvalidTokenError as error:
            raise AuthError(f"malformed token: {error}") from error

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises ``AuthError`` with the reason otherwise.

        Blocking when keys come from a JWKS URL (first use and key rotation fetch over HTTP); in async
        code use ``averify``.
        """
        if not token:
            raise AuthError("empty token")
        now = self.clock()
        remembered = self._verified.get(token)
        if remembered is not None:
            if now <= remembered[0]:
                return remembered[1]
            del self._verified[token]
        principal, exp = self._verify_signed(token)
        while len(self._verified) >= VERIFIED_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (min(exp + self.leeway_s, now + VERIFIED_TTL_S), principal)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float]:
        """The full check (signature, claims, roles): the principal and the token's ``exp``."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._signing_key(token),
                algorithms=[self.algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthError("token expired") from error
        except jwt.InvalidTokenError as error:
            raise AuthError(f"invalid token: {error}") from error
        roles_claim = claims.get("roles")
        if not isinstance(roles_claim, list) or not all(isinstance(r, str) for r in roles_claim):
            raise AuthError("claim roles must be a list of strings")
        customer_id = _optional_str(claims, "customer_id")
        partner_id = _optional_str(claims, "partner_id")
        roles = _validate_roles(roles_claim, customer_id, partner_id)
        token_id = claims.get("jti")
        principal = Principal(
            subject=str(claims["sub"]),
            roles=roles,
            customer_id=customer_id,
            partner_id=partner_id,
            token_id=str(token_id) if token_id is not None else None,
        )
        return principal, float(claims["exp"])

    async def averify(self, token: str) -> Principal:
        """``verify`` without blocking the event loop (JWKS lookups run in a worker thread)."""
        if self._jwks is None:
            return self.verify(token)
        return await run_in_threadpool(self.verify, token)


def issue_token(
    settings: Settings,
    *,
    subject: str,
    roles: Iterable[str],
    customer_id: str | None = None,
    partner_id: str | None = None,
    ttl_s: int = 3600,
    private_key_pem: str | bytes | None = None,
    kid: str | None = None,
    now: float | None = None,
) -> str:
    """A signed token for ``subject``: HS256 with the settings' secret, RS256 with ``private_key_pem``.

    Claims: sub, roles, iss, aud, iat, nbf, exp = iat + ttl_s, jti (uuid4), customer_id / partner_id
    when given. Refuses unknown roles and customer/partner tokens without their id.
    """
    try:
        role_set = _validate_roles([str(r) for r in roles], customer_id, partner_id)
    except AuthError as error:
        raise ValueError(str(error)) from error
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": sorted(role_set),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + int(ttl_s),
        "jti": str(uuid.uuid4()),
    }
    if customer_id is not None:
        claims["customer_id"] = customer_id
    if partner_id is not None:
        claims["partner_id"] = partner_id
    headers = {"kid": kid} if kid else None
    if private_key_pem is not None:
        return jwt.encode(claims, private_key_pem, algorithm="RS256", headers=headers)
    return jwt.encode(claims, settings.effective_jwt_secret, algorithm="HS256", headers=headers)


_bearer = HTTPBearer(auto_error=False, description="Bearer JWT (roles claim, DESIGN.md section 5)")


def _unauthorized(detail: str, *, error: str | None) -> Problem:
    challenge = 'Bearer realm="segflow"'
    if error is not None:
        safe = detail.replace('"', "'")
        challenge += f', error="{error}", error_description="{safe}"'
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    """FastAPI dependency: the caller's principal, or a 401 problem with ``WWW-Authenticate: Bearer``."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("missing bearer token", error=None)
    authenticator: Authenticator = request.app.state.authenticator
    try:
        principal = await authenticator.averify(credentials.credentials)
    except AuthError as error:
        raise _unauthorized(str(error), error="invalid_token") from error
    request.state.principal = principal
    return principal


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency factory: the principal when it holds one of ``roles`` (admin always does).

    Otherwise a 403 problem naming the required roles (``required_roles`` member).
    """
    required = tuple(str(r) for r in roles)
    unknown = sorted(set(required) - KNOWN_ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(unknown)}")

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if required and not principal.has_any_role(required):
            raise Problem(
                403,
                "Forbidden",
                f"requires one of the roles: {', '.join(required)}",
                required_roles=list(required),
            )
        return principal

    return dependency


def mask_financials(obj: dict[str, Any], principal: Principal) -> tuple[dict[str, Any], list[str]]:
    """Null every financial field (``FINANCIAL_FIELDS``, at any depth) unless the caller is finance/admin.

    Returns (masked copy, dotted paths of the masked fields, e.g. ``["lines.0.margin", "revenue"]``);
    for finance and admin the object is returned unchanged with an empty list. Keys keep their place
    (value ``null``) so response schemas stay the same for every role.
    """
    if principal.sees_financials:
        return obj, []
    masked: list[str] = []
    return _mask(obj, "", masked), masked


def _mask(value: Any, path: str, masked: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key in FINANCIAL_FIELDS:
                out[key] = None
                masked.append(child)
            else:
                out[key] = _mask(item, child, masked)
        return out
    if isinstance(value, list | tuple):
        return [_mask(item, f"{path}.{i}" if path else str(i), masked) for i, item in enumerate(value)]
    return value
