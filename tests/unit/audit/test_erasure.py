"""Crypto-shredding: personal fields encrypted per subject, decrypted or "[erased]", chain unaffected."""

from __future__ import annotations

import base64
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.audit.domain.chain import GENESIS_HASH, seal_entry, verify_chain
from services.audit.domain.erasure import (
    ERASED,
    ErasureError,
    decrypt_view,
    encrypt_personal_fields,
    encrypted_subjects,
    parse_path,
    personal_paths,
    protect_payload,
    subject_key_id,
    subjects_for,
)

PATHS = ["contacts[].name", "contacts[].email", "contacts[].phone", "owner.email", "tags[]"]
KEYS = {"c-1": bytes([1]) * 32, "c-2": bytes([2]) * 32, "cust-9": bytes([9]) * 32}


def doc() -> dict[str, object]:
    return {
        "customer_id": "cust-9",
        "contacts": [
            {"id": "c-1", "name": "Ada Lovelace", "email": "ada@example.com", "phone": 4412345},
            {"id": "c-2", "name": "Émile", "email": None},
        ],
        "owner": {"email": "owner@example.com"},
        "tags": ["vip", "north"],
        "revenue": 120.5,
    }


def subject_of(holder: dict[str, object]) -> str:
    return str(holder.get("id", "cust-9"))


def counter_nonces() -> object:
    state = {"n": 0}

    def nxt(size: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(size, "big")

    return nxt


def test_parse_path() -> None:
    assert parse_path("contacts[].name") == [("contacts", True), ("name", False)]
    assert parse_path("a.b[]") == [("a", False), ("b", True)]
    with pytest.raises(ValueError):
        parse_path("a..b")


def test_personal_fields_are_replaced_with_aesgcm_objects_others_untouched() -> None:
    protected = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    ada = protected["contacts"][0]
    for field in ("name", "email", "phone"):
        assert set(ada[field]) == {"enc", "subject", "kid", "nonce", "ct"}
        assert ada[field]["enc"] == "aesgcm" and ada[field]["subject"] == "c-1"
        assert ada[field]["kid"] == subject_key_id(KEYS["c-1"])
    assert protected["contacts"][1]["email"] is None  # null stays null
    assert protected["contacts"][1]["name"]["subject"] == "c-2"
    assert protected["owner"]["email"]["subject"] == "cust-9"
    assert [t["subject"] for t in protected["tags"]] == ["cust-9", "cust-9"]
    assert protected["revenue"] == 120.5 and protected["customer_id"] == "cust-9"
    assert "Ada" not in json.dumps(protected) and "ada@example.com" not in json.dumps(protected)
    assert doc()["contacts"][0]["name"] == "Ada Lovelace"  # the input was not mutated


def test_ciphertext_decrypts_with_plain_aesgcm_and_the_documented_aad() -> None:
    protected = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    field = protected["contacts"][0]["phone"]
    aad = rfc8785.dumps({"subject": "c-1", "kid": field["kid"]})
    plain = AESGCM(KEYS["c-1"]).decrypt(base64.b64decode(field["nonce"]), base64.b64decode(field["ct"]), aad)
    assert json.loads(plain) == 4412345


def test_decrypt_view_round_trips_and_shows_erased_subjects() -> None:
    protected = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    assert decrypt_view(protected, KEYS) == doc()
    view = decrypt_view(protected, {**KEYS, "c-1": None})
    assert view["contacts"][0] == {"id": "c-1", "name": ERASED, "email": ERASED, "phone": ERASED}
    assert view["contacts"][1]["name"] == "Émile"
    assert decrypt_view(protected, {})["owner"]["email"] == ERASED


def test_tampered_ciphertext_or_wrong_key_is_an_error_not_a_silent_erasure() -> None:
    protected = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    ct = bytearray(base64.b64decode(protected["owner"]["email"]["ct"]))
    ct[0] ^= 1
    protected["owner"]["email"]["ct"] = base64.b64encode(bytes(ct)).decode()
    with pytest.raises(ErasureError):
        decrypt_view(protected, KEYS)
    other = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    with pytest.raises(ErasureError):
        decrypt_view(other, {**KEYS, "c-1": bytes(32)})
    moved = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    moved["contacts"][0]["name"]["subject"] = "c-2"  # relabel to another subject: AAD no longer matches
    with pytest.raises(ErasureError):
        decrypt_view(moved, {**KEYS, "c-2": KEYS["c-1"]})


def test_missing_key_at_encryption_and_subject_listing() -> None:
    assert subjects_for(doc(), PATHS, subject_of) == {"c-1", "c-2", "cust-9"}
    with pytest.raises(ErasureError):
        encrypt_personal_fields(doc(), PATHS, subject_of, {"c-1": KEYS["c-1"]})
    protected = encrypt_personal_fields(doc(), PATHS, subject_of, KEYS)
    assert encrypted_subjects(protected) == {"c-1", "c-2", "cust-9"}
    assert encrypt_personal_fields(protected, PATHS, subject_of, KEYS) == protected  # idempotent


def test_fresh_nonces_and_injected_randomness() -> None:
    a = encrypt_personal_fields(doc(), ["owner.email"], "cust-9", KEYS)
    b = encrypt_personal_fields(doc(), ["owner.email"], "cust-9", KEYS)
    assert a["owner"]["email"]["nonce"] != b["owner"]["email"]["nonce"]
    c = encrypt_personal_fields(doc(), ["owner.email"], "cust-9", KEYS, counter_nonces())  # type: ignore[arg-type]
    assert base64.b64decode(c["owner"]["email"]["nonce"]) == (1).to_bytes(12, "big")


def test_schema_marked_personal_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "contacts": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string", "x-personal": True},
                                                           "role": {"type": "string"}}},
            },
            "owner": {"type": "object", "properties": {"email": {"x-personal": True}}},
            "tags": {"type": "array", "items": {"type": "string", "x-personal": True}},
            "revenue": {"type": "number"},
        },
    }  # fmt: skip
    assert personal_paths(schema) == ["contacts[].name", "owner.email", "tags[]"]


def test_erasure_keeps_the_chain_verifying() -> None:
    raw = json.dumps(doc()).encode()
    protected = protect_payload(raw, PATHS, subject_of, KEYS)
    entries = []
    prev = GENESIS_HASH
    for seq in range(3):
        entry = seal_entry(
            prev, seq=seq, topic="segflow.mdm.customers.v1", partition=0, offset=seq, key=b"cust-9",
            headers=[], type="customer.upserted", subject="cust-9", event_time="2026-01-01T00:00:00Z",
            event_id=f"e{seq}", payload=protected,
        )  # fmt: skip
        entries.append(entry)
        prev = entry.entry_hash
    assert verify_chain(entries).ok
    keys = dict(KEYS)
    assert decrypt_view(json.loads(entries[1].payload), keys)["contacts"][0]["name"] == "Ada Lovelace"  # type: ignore[arg-type]
    del keys["c-1"]  # erase subject c-1: delete its key; the stored bytes are untouched
    assert verify_chain(entries, deep=True).ok
    view = decrypt_view(json.loads(entries[1].payload), keys)  # type: ignore[arg-type]
    assert view["contacts"][0]["email"] == ERASED and view["contacts"][1]["name"] == "Émile"
    assert protect_payload(b"[1,2]", PATHS, subject_of, KEYS) == b"[1,2]"
