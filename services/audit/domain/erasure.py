"""Crypto-shredding of personal fields: encrypt per data subject before hashing, decrypt or show "[erased]".

Rule: each personal field value ``v`` (selected by paths such as ``contacts[].email``) is replaced by
``{"enc": "aesgcm", "subject": s, "kid": k, "nonce": b64(n), "ct": b64(AES-256-GCM(K_s, n, JCS(v),
aad = JCS({"kid": k, "subject": s})))}`` with ``K_s`` the subject's 32-byte key, ``n`` a fresh 96-bit
nonce and ``k = hex(SHA-256("segflow-subject-key" || K_s))[:16]``. Erasing a subject deletes ``K_s`` (the
caller's key store does that); the stored bytes never change, so the hash chain still verifies, and
``decrypt_view`` shows every field of that subject as ``"[erased]"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ERASED = "[erased]"
ENCRYPTED_KEYS = frozenset({"enc", "subject", "kid", "nonce", "ct"})
SubjectOf = str | Callable[[Mapping[str, Any]], str]


class ErasureError(ValueError):
    """A key is missing at encryption time, or a ciphertext fails authentication (tampered or wrong key)."""


def subject_key_id(key: bytes) -> str:
    """``hex(SHA-256(b"segflow-subject-key" || key))[:16]``: names a key without revealing it."""
    return hashlib.sha256(b"segflow-subject-key" + key).hexdigest()[:16]


def parse_path(path: str) -> list[tuple[str, bool]]:
    """``"contacts[].name"`` -> ``[("contacts", True), ("name", False)]``; True = the value is a list whose
    every item continues the path."""
    out: list[tuple[str, bool]] = []
    for part in path.split("."):
        is_list = part.endswith("[]")
        name = part[:-2] if is_list else part
        if not name:
            raise ValueError(f"empty segment in personal-field path {path!r}")
        out.append((name, is_list))
    return out


def personal_paths(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Paths of every property a JSON Schema marks ``"x-personal": true`` (walking ``properties`` and
    ``items``; ``$ref`` is not followed, so inline or dereference the schema first)."""
    found: list[str] = []
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        if sub.get("x-personal") is True:
            found.append(path)
            continue
        if sub.get("type") == "array" or "items" in sub:
            items = sub.get("items") or {}
            if items.get("x-personal") is True:
                found.append(path + "[]")
            else:
                found.extend(personal_paths(items, path + "[]"))
        else:
            found.extend(personal_paths(sub, path))
    return found


def is_encrypted(value: Any) -> bool:
    """True for a value already replaced by an encrypted-field object."""
    return isinstance(value, dict) and value.keys() == ENCRYPTED_KEYS and value.get("enc") == "aesgcm"


def _aad(subject: str, kid: str) -> bytes:
    return rfc8785.dumps({"subject": subject, "kid": kid})


def encrypt_value(value: Any, subject: str, key: bytes, nonce: bytes) -> dict[str, str]:
    """The encrypted-field object for one JSON value (see the module rule)."""
    if len(key) != 32 or len(nonce) != 12:
        raise ErasureError("AES-256-GCM needs a 32-byte key and a 12-byte nonce")
    kid = subject_key_id(key)
    ct = AESGCM(key).encrypt(nonce, rfc8785.dumps(value), _aad(subject, kid))
    return {
        "enc": "aesgcm",
        "subject": subject,
        "kid": kid,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ct": base64.b64encode(ct).decode("ascii"),
    }


def _walk(node: Any, steps: list[tuple[str, bool]], visit: Callable[[dict[str, Any], str], None]) -> None:
    if not isinstance(node, dict) or not steps:
        return
    (name, is_list), rest = steps[0], steps[1:]
    if name not in node:
        return
    if is_list:
        items = node[name]
        if not isinstance(items, list):
            return
        if not rest:
            holder = {str(i): item for i, item in enumerate(items)}
            for i in range(len(items)):
                visit(holder, str(i))
            node[name] = [holder[str(i)] for i in range(len(items))]
            return
        for item in items:
            _walk(item, rest, visit)
    elif rest:
        _walk(node[name], rest, visit)
    else:
        visit(node, name)


def encrypt_personal_fields(
    doc: Mapping[str, Any],
    paths: Sequence[str],
    subject_of: SubjectOf,
    keys: Mapping[str, bytes],
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> dict[str, Any]:
    """A copy of ``doc`` with every non-null value at ``paths`` encrypted for its data subject.

    ``subject_of`` is the subject id, or a function of the object holding the field (e.g. a contact) that
    returns it. ``keys[subject]`` must exist (create keys first; ``subjects_for`` lists them). Already
    encrypted values are left as they are, so protecting twice changes nothing.
    """
    out: dict[str, Any] = json.loads(json.dumps(doc))

    def visit(holder: dict[str, Any], name: str) -> None:
        value = holder[name]
        if value is None or is_encrypted(value):
            return
        subject = subject_of if isinstance(subject_of, str) else subject_of(holder)
        key = keys.get(subject)
        if key is None:
            raise ErasureError(f"no key for data subject {subject!r}")
        holder[name] = encrypt_value(value, subject, key, random_bytes(12))

    for path in paths:
        _walk(out, parse_path(path), visit)
    return out


def subjects_for(doc: Mapping[str, Any], paths: Sequence[str], subject_of: SubjectOf) -> set[str]:
    """The data subjects whose keys ``encrypt_personal_fields`` will need for this document."""
    found: set[str] = set()

    def visit(holder: dict[str, Any], name: str) -> None:
        if holder[name] is not None and not is_encrypted(holder[name]):
            found.add(subject_of if isinstance(subject_of, str) else subject_of(holder))

    scratch = json.loads(json.dumps(doc))
    for path in paths:
        _walk(scratch, parse_path(path), visit)
    return found


def protect_payload(
    raw: bytes,
    paths: Sequence[str],
    subject_of: SubjectOf,
    keys: Mapping[str, bytes],
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> bytes:
    """Bytes in, bytes out: parse the JSON event, encrypt its personal fields, serialise compactly (UTF-8,
    no whitespace). These protected bytes are what the audit log hashes and stores."""
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        return raw
    protected = encrypt_personal_fields(doc, paths, subject_of, keys, random_bytes)
    return json.dumps(protected, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encrypted_subjects(doc: Any) -> set[str]:
    """Every data subject that has an encrypted field anywhere in ``doc``."""
    if is_encrypted(doc):
        return {doc["subject"]}
    if isinstance(doc, dict):
        return set().union(*(encrypted_subjects(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(encrypted_subjects(v) for v in doc))
    return set()


def _decrypt(field: Mapping[str, str], keys: Mapping[str, bytes | None]) -> Any:
    key = keys.get(field["subject"])
    if key is None:
        return ERASED
    if subject_key_id(key) != field["kid"]:
        raise ErasureError(f"key for subject {field['subject']!r} is not key {field['kid']}")
    try:
        plain = AESGCM(key).decrypt(
            base64.b64decode(field["nonce"]),
            base64.b64decode(field["ct"]),
            _aad(field["subject"], field["kid"]),
        )
    except (InvalidTag, ValueError) as exc:
        raise ErasureError(f"encrypted field of subject {field['subject']!r} fails authentication") from exc
    return json.loads(plain)


def decrypt_view(doc: Any, keys: Mapping[str, bytes | None]) -> Any:
    """A copy of ``doc`` with each encrypted field decrypted, or ``"[erased]"`` when its subject's key is
    absent or None. Raises ErasureError when a ciphertext fails authentication."""
    if is_encrypted(doc):
        return _decrypt(doc, keys)
    if isinstance(doc, dict):
        return {k: decrypt_view(v, keys) for k, v in doc.items()}
    if isinstance(doc, list):
        return [decrypt_view(v, keys) for v in doc]
    return doc
