"""JWT verification (HS256, RS256 from a PEM key and from a JWKS URL), roles, and financial masking."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI
from pydantic import ValidationError

from services.runtime.auth import (
    AUTH_RESPONSES,
    FINANCIAL_FIELDS,
    VERIFIED_TTL_S,
    Authenticator,
    AuthError,
    Principal,
    Role,
    current_principal,
    issue_token,
    mask_financials,
    require_roles,
)
from services.runtime.http import create_app
from services.runtime.problems import PROBLEM_MEDIA_TYPE
from services.runtime.settings import DEV_JWT_SECRET, Settings

SECRET = "auth-test-secret-0123456789abcdef0123456789"


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"env": "test", "mode": "embedded", "jwt_secret": SECRET}
    values.update(overrides)
    return Settings(**values)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "u-1",
        "roles": ["planner"],
        "iss": "segflow-dev",
        "aud": "segflow",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


# --------------------------------------------------------------------------- Authenticator


def test_valid_hs256_token_yields_its_principal() -> None:
    settings = _settings()
    token = issue_token(settings, subject="c-user", roles=["customer"], customer_id="CUST-42")
    principal = Authenticator(settings).verify(token)
    assert principal.subject == "c-user"
    assert principal.roles == frozenset({"customer"})
    assert principal.customer_id == "CUST-42"
    assert principal.partner_id is None
    assert principal.token_id == jwt.decode(token, options={"verify_signature": False})["jti"]


def test_issued_token_carries_the_standard_claims() -> None:
    settings = _settings()
    token = issue_token(
        settings, subject="p", roles=["partner"], partner_id="3PL-7", ttl_s=120, now=1_700_000_000
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_120
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["partner_id"] == "3PL-7"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_expired_token_is_rejected() -> None:
    settings = _settings()
    token = issue_token(settings, subject="u", roles=["planner"], ttl_s=60, now=time.time() - 3600)
    with pytest.raises(AuthError, match="expired"):
        Authenticator(settings).verify(token)


def test_wrong_signature_is_rejected() -> None:
    forged = jwt.encode(_claims(), "another-secret-of-sufficient-length-0123456789", algorithm="HS256")
    with pytest.raises(AuthError, match="invalid token"):
        Authenticator(_settings()).verify(forged)


def test_tampered_payload_is_rejected() -> None:
    settings = _settings()
    token = issue_token(settings, subject="u", roles=["planner"])
    header, _payload, signature = token.split(".")
    tampered_claims = jwt.decode(token, options={"verify_signature": False}) | {"roles": ["admin"]}
    tampered_payload = jwt.utils.base64url_encode(json.dumps(tampered_claims).encode()).decode()
    with pytest.raises(AuthError):
        Authenticator(settings).verify(f"{header}.{tampered_payload}.{signature}")


@pytest.mark.parametrize(
    ("claim", "value"),
    [("aud", "someone-else"), ("iss", "https://evil.example"), ("aud", None), ("exp", None)],
)
def test_wrong_or_missing_registered_claims_are_rejected(claim: str, value: Any) -> None:
    token = jwt.encode(_claims(**{claim: value}), SECRET, algorithm="HS256")
    with pytest.raises(AuthError):
        Authenticator(_settings()).verify(token)


def test_token_for_another_audience_setting_is_rejected() -> None:
    token = issue_token(_settings(jwt_audience="other-platform"), subject="u", roles=["planner"])
    with pytest.raises(AuthError, match=r"[Aa]udience"):
        Authenticator(_settings()).verify(token)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"roles": ["customer"]}, "customer_id"),
        ({"roles": ["partner"]}, "partner_id"),
        ({"roles": ["customer"], "customer_id": ""}, "customer_id"),
        ({"roles": ["planner", "superuser"]}, "unknown role"),
        ({"roles": []}, "no roles"),
        ({"roles": "admin"}, "list of strings"),
        ({"roles": None}, "list of strings"),
    ],
)
def test_unacceptable_role_claims_are_rejected(claims: dict[str, Any], reason: str) -> None:
    token = jwt.encode(_claims(**claims), SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match=reason):
        Authenticator(_settings()).verify(token)


def test_issue_token_refuses_what_verify_would_reject() -> None:
    settings = _settings()
    with pytest.raises(ValueError, match="customer_id"):
        issue_token(settings, subject="u", roles=["customer"])
    with pytest.raises(ValueError, match="unknown role"):
        issue_token(settings, subject="u", roles=["root"])


def test_development_tokens_use_the_development_secret_only_in_development() -> None:
    dev = Settings(env="development", mode="embedded", jwt_secret=None)
    token = issue_token(dev, subject="dev", roles=[Role.ADMIN])
    assert jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"], audience="segflow")["roles"] == ["admin"]
    with pytest.raises(AuthError):
        Authenticator(_settings()).verify(token)


def test_principal_is_immutable_and_admin_holds_every_role() -> None:
    admin = Principal(subject="a", roles=frozenset({"admin"}))
    planner = Principal(subject="p", roles=frozenset({"planner"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        admin.subject = "b"  # type: ignore[misc]
    assert all(admin.has_role(role) for role in Role)
    assert planner.has_role("planner") and not planner.has_role("approver")


@pytest.mark.parametrize(
    "overrides",
    [
        {"env": "production", "jwt_secret": None},
        {"env": "test", "jwt_secret": None},
        {"env": "production", "jwt_secret": DEV_JWT_SECRET},
        {"env": "production", "jwt_secret": None, "jwt_algorithm": "RS256"},
    ],
)
def test_settings_refuse_to_build_without_a_real_key_outside_development(
    overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SEGFLOW_JWT_SECRET", "SEGFLOW_JWKS_URL", "SEGFLOW_JWT_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError):
        Settings(mode="embedded", **overrides)


# --------------------------------------------------------------------------- RS256 and JWKS


def test_rs256_with_a_public_key() -> None:
    private_pem, public_pem = _rsa_pair()
    settings = _settings(jwt_secret=None, jwt_algorithm="RS256", jwt_public_key=public_pem)
    token = issue_token(settings, subject="svc", roles=["service"], private_key_pem=private_pem)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert Authenticator(settings).verify(token).roles == frozenset({"service"})

    other_private, _ = _rsa_pair()
    foreign = issue_token(settings, subject="svc", roles=["service"], private_key_pem=other_private)
    with pytest.raises(AuthError):
        Authenticator(settings).verify(foreign)


def test_rs256_rejects_hs256_tokens_signed_with_the_public_key() -> None:
    """Algorithm confusion: an HS256 token 'signed' with the public key text must not pass."""
    _, public_pem = _rsa_pair()
    settings = _settings(jwt_secret=None, jwt_algorithm="RS256", jwt_public_key=public_pem)
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = jwt.utils.base64url_encode(json.dumps(_claims(roles=["admin"])).encode())
    signing_input = header + b"." + payload
    signature = jwt.utils.base64url_encode(
        hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()
    )
    with pytest.raises(AuthError):
        Authenticator(settings).verify((signing_input + b"." + signature).decode())


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, str, list[int]]]:
    """A JWKS endpoint on 127.0.0.1 serving one RSA key with kid 'k1'; yields (url, private pem, hits)."""
    private_pem, public_pem = _rsa_pair()
    public_key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()
    hits: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", private_pem, hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_rs256_via_jwks_url(jwks_server: tuple[str, str, list[int]]) -> None:
    url, private_pem, hits = jwks_server
    settings = _settings(jwt_secret=None, jwt_algorithm="RS256", jwks_url=url)
    authenticator = Authenticator(settings)
    assert authenticator.uses_jwks
    token = issue_token(settings, subject="erp", roles=["service"], private_key_pem=private_pem, kid="k1")
    assert authenticator.verify(token).subject == "erp"
    assert authenticator.verify(token).subject == "erp"
    assert len(hits) == 1  # the key set is cached

    unknown_kid = issue_token(
        settings, subject="erp", roles=["service"], private_key_pem=private_pem, kid="k9"
    )
    with pytest.raises(AuthError, match="signing key"):
        authenticator.verify(unknown_kid)
    other_private, _ = _rsa_pair()
    forged = issue_token(settings, subject="erp", roles=["service"], private_key_pem=other_private, kid="k1")
    with pytest.raises(AuthError):
        authenticator.verify(forged)


async def test_jwks_verification_through_an_http_route(jwks_server: tuple[str, str, list[int]]) -> None:
    url, private_pem, _ = jwks_server
    settings = _settings(jwt_secret=None, jwt_algorithm="RS256", jwks_url=url)
    app = _app(settings)
    token = issue_token(settings, subject="erp", roles=["service"], private_key_pem=private_pem, kid="k1")
    async with _client(app) as client:
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["subject"] == "erp"


# --------------------------------------------------------------------------- FastAPI dependencies


def _app(settings: Settings) -> FastAPI:
    router = APIRouter()

    @router.get("/whoami", responses=AUTH_RESPONSES)
    async def whoami(principal: Principal = Depends(current_principal)) -> dict[str, Any]:
        return {"subject": principal.subject, "roles": sorted(principal.roles)}

    @router.post("/overrides/{override_id}/approve", responses=AUTH_RESPONSES)
    async def approve(
        override_id: str, principal: Principal = Depends(require_roles(Role.APPROVER))
    ) -> dict[str, str]:
        return {"approved": override_id, "by": principal.subject}

    return create_app(service="authtest", settings=settings, routers=[router])


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_missing_token_is_401_with_bearer_challenge() -> None:
    async with _client(_app(_settings())) as client:
        response = await client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"] == "missing bearer token"


async def test_non_bearer_scheme_is_401() -> None:
    async with _client(_app(_settings())) as client:
        response = await client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "make_token",
    [
        lambda s: issue_token(s, subject="u", roles=["planner"], now=time.time() - 7200),
        lambda s: jwt.encode(_claims(), "not-the-secret-but-long-enough-0123456789", algorithm="HS256"),
        lambda s: jwt.encode(_claims(aud="elsewhere"), SECRET, algorithm="HS256"),
        lambda s: jwt.encode(_claims(roles=["customer"]), SECRET, algorithm="HS256"),
        lambda s: "not.a.jwt",
    ],
    ids=["expired", "wrong-signature", "wrong-audience", "customer-without-customer_id", "garbage"],
)
async def test_invalid_tokens_are_401_problems(make_token: Any) -> None:
    settings = _settings()
    async with _client(_app(settings)) as client:
        response = await client.get("/whoami", headers=_bearer(make_token(settings)))
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer") and 'error="invalid_token"' in challenge
    assert response.json()["status"] == 401


async def test_wrong_role_is_403_naming_the_required_roles() -> None:
    settings = _settings()
    token = issue_token(settings, subject="pl", roles=["planner"])
    async with _client(_app(settings)) as client:
        response = await client.post("/overrides/o-1/approve", headers=_bearer(token))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    assert body["required_roles"] == ["approver"]
    assert "approver" in body["detail"]


@pytest.mark.parametrize("roles", [["approver"], ["admin"], ["planner", "approver"]])
async def test_holders_of_the_role_and_admin_pass(roles: list[str]) -> None:
    settings = _settings()
    token = issue_token(settings, subject="someone", roles=roles)
    async with _client(_app(settings)) as client:
        response = await client.post("/overrides/o-1/approve", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"approved": "o-1", "by": "someone"}


async def test_role_check_without_token_is_401_not_403() -> None:
    async with _client(_app(_settings())) as client:
        response = await client.post("/overrides/o-1/approve")
    assert response.status_code == 401


def test_require_roles_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        require_roles("superuser")


async def test_openapi_declares_401_and_403_and_the_bearer_scheme() -> None:
    async with _client(_app(_settings())) as client:
        schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/overrides/{override_id}/approve"]["post"]["responses"]
    assert {"401", "403"} <= set(responses)
    assert PROBLEM_MEDIA_TYPE in responses["403"]["content"]
    assert any(s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values())


# --------------------------------------------------------------------------- masking

DOCUMENT: dict[str, Any] = {
    "customer_id": "C-1",
    "segment": "PLATINUM",
    "revenue": 125000.0,
    "margin_pct": 0.31,
    "measures": {"margin": 38750.0, "order_lines": 420, "cost": None},
    "lines": [
        {"sku": "A", "unit_cost": 3.2, "quantity": 10},
        {"sku": "B", "quantity": 4},
    ],
}


def _walk_financial_paths(value: Any, path: str = "") -> list[str]:
    """Independent reference: every financial key's dotted path, found by an explicit stack walk."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, here = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{here}.{key}" if here else key
                if key in FINANCIAL_FIELDS:
                    found.append(child_path)
                else:
                    stack.append((child, child_path))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                stack.append((child, f"{here}.{index}" if here else str(index)))
    return found


def test_planner_gets_financials_masked_and_listed() -> None:
    planner = Principal(subject="p", roles=frozenset({"planner"}))
    masked, paths = mask_financials(DOCUMENT, planner)
    assert sorted(paths) == sorted(_walk_financial_paths(DOCUMENT))
    assert sorted(paths) == ["lines.0.unit_cost", "margin_pct", "measures.cost", "measures.margin", "revenue"]
    assert masked["revenue"] is None and masked["margin_pct"] is None
    assert masked["measures"] == {"margin": None, "order_lines": 420, "cost": None}
    assert masked["lines"][0] == {"sku": "A", "unit_cost": None, "quantity": 10}
    assert masked["segment"] == "PLATINUM"
    assert DOCUMENT["revenue"] == 125000.0  # the input is not modified


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_finance_and_admin_see_everything(role: str) -> None:
    masked, paths = mask_financials(DOCUMENT, Principal(subject="f", roles=frozenset({role})))
    assert paths == []
    assert masked == DOCUMENT


@pytest.mark.parametrize("role", ["customer", "partner", "approver", "service"])
def test_every_other_role_is_masked(role: str) -> None:
    principal = Principal(subject="x", roles=frozenset({role}), customer_id="C-1", partner_id="P-1")
    masked, paths = mask_financials(DOCUMENT, principal)
    assert len(paths) == 5
    assert masked["revenue"] is None


def test_masking_a_document_without_financials_lists_nothing() -> None:
    planner = Principal(subject="p", roles=frozenset({"planner"}))
    assert mask_financials({"segment": "GOLD", "tiers": [1, 2]}, planner) == (
        {"segment": "GOLD", "tiers": [1, 2]},
        [],
    )


# --------------------------------------------------------------------------- verified-token cache


class _Counting(Authenticator):
    """Counts the full signature checks behind ``verify``."""

    checks = 0

    def _verify_signed(self, token: str) -> tuple[Any, float]:
        self.checks += 1
        return super()._verify_signed(token)


def test_a_verified_token_is_checked_once_until_its_exp_plus_leeway() -> None:
    settings, now = _settings(), time.time()
    token = issue_token(settings, subject="u", roles=["planner"], ttl_s=60, now=now)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    clock = [now]
    auth = _Counting(settings, leeway_s=10.0, clock=lambda: clock[0])
    first, second = auth.verify(token), auth.verify(token)
    assert first is second and auth.checks == 1
    clock[0] = exp + 10.0  # the last instant the token is still accepted
    assert auth.verify(token) is first and auth.checks == 1
    clock[0] = exp + 10.5  # past it: checked again (PyJWT's own clock still says valid here)
    auth.verify(token)
    assert auth.checks == 2


def test_a_remembered_token_is_rechecked_after_the_key_lifespan() -> None:
    settings, now = _settings(), time.time()
    token = issue_token(settings, subject="u", roles=["planner"], ttl_s=3600, now=now)
    clock = [now]
    auth = _Counting(settings, clock=lambda: clock[0])
    auth.verify(token)
    clock[0] = now + VERIFIED_TTL_S - 1
    auth.verify(token)
    assert auth.checks == 1
    clock[0] = now + VERIFIED_TTL_S + 1  # a rotated-out JWKS key would be noticed now
    auth.verify(token)
    assert auth.checks == 2


def test_rejected_tokens_are_never_remembered() -> None:
    forged = jwt.encode(_claims(), "another-secret-of-sufficient-length-0123456789", algorithm="HS256")
    auth = _Counting(_settings())
    for expected_checks in (1, 2):
        with pytest.raises(AuthError, match="invalid token"):
            auth.verify(forged)
        assert auth.checks == expected_checks


def test_the_cache_keeps_at_most_verified_max_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.runtime.auth.VERIFIED_MAX", 2)
    settings = _settings()
    tokens = [issue_token(settings, subject=f"u{i}", roles=["planner"]) for i in range(3)]
    auth = _Counting(settings)
    for token in tokens:
        auth.verify(token)
    assert auth.checks == 3
    auth.verify(tokens[2])  # still remembered
    assert auth.checks == 3
    assert auth.verify(tokens[0]).subject == "u0"  # the oldest was dropped: checked again
    assert auth.checks == 4
