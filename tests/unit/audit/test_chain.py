"""The hash chain: canonical bytes equal RFC 8785, hashes follow the formula, every tamper is named."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.chain import (
    GENESIS_HASH,
    ChainEntry,
    canonical_metadata,
    chain_hash,
    metadata_dict,
    seal_entry,
    verify_chain,
)
from tests.unit.audit.helpers import make_chain, make_record

text = st.text(max_size=30)  # any unicode except lone surrogates (hypothesis default excludes Cs)
opt_text = st.none() | text
safe_int = st.integers(min_value=0, max_value=2**53 - 1)


@st.composite
def entries(draw: st.DrawFn) -> ChainEntry:
    return ChainEntry(
        seq=draw(safe_int),
        topic=draw(text),
        partition=draw(safe_int),
        offset=draw(safe_int),
        key=draw(opt_text),
        headers=tuple(draw(st.lists(st.tuples(text, text), max_size=4))),
        type=draw(opt_text),
        subject=draw(opt_text),
        event_time=draw(opt_text),
        event_id=draw(opt_text),
        payload_sha256=draw(opt_text),
        payload=None,
        entry_hash=b"",
    )


@settings(max_examples=500)
@given(entries())
def test_fast_canonicaliser_equals_rfc8785_on_the_metadata_shape(entry: ChainEntry) -> None:
    assert canonical_metadata(entry) == rfc8785.dumps(metadata_dict(entry))


def test_canonicaliser_escapes_controls_quotes_and_keeps_unicode_raw() -> None:
    entry = make_chain(1)[0]
    weird = dataclasses.replace(entry, subject='a"b\\c\x00\x1f\x7f\n\u2028é😀')
    expected = rfc8785.dumps(metadata_dict(weird))
    assert canonical_metadata(weird) == expected
    assert b'"a\\"b\\\\c\\u0000\\u001f\x7f\\n' in expected


def test_entry_hashes_follow_the_formula_computed_independently() -> None:
    chain = make_chain(30)
    prev = bytes(32)
    for seq, entry in enumerate(chain):
        record = make_record(seq)
        payload = record["payload"]
        meta = {
            "seq": seq,
            "topic": record["topic"],
            "partition": record["partition"],
            "offset": record["offset"],
            "key": None if record["key"] is None else base64.b64encode(record["key"]).decode(),  # type: ignore[arg-type]
            "headers": [[n, base64.b64encode(v).decode()] for n, v in record["headers"]],  # type: ignore[attr-defined]
            "type": record["type"],
            "subject": record["subject"],
            "event_time": record["event_time"],
            "event_id": record["event_id"],
            "payload_sha256": None if payload is None else hashlib.sha256(payload).hexdigest(),  # type: ignore[arg-type]
        }
        prev = hashlib.sha256(prev + rfc8785.dumps(meta)).digest()
        assert entry.entry_hash == prev
    assert chain[0].seq == 0


def test_intact_chain_verifies_in_fast_and_deep_mode() -> None:
    chain = make_chain(50)
    assert verify_chain(chain).ok and verify_chain(chain).checked == 50
    deep = verify_chain(chain, deep=True)
    assert deep.ok and deep.checked == 50 and deep.first_bad_seq is None
    assert verify_chain([]).ok


def test_edited_payload_bytes_are_named() -> None:
    chain = make_chain(20)
    chain[7] = dataclasses.replace(chain[7], payload=chain[7].payload + b" ")  # type: ignore[operator]
    result = verify_chain(chain)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 7, 7)
    assert result.reason is not None and result.reason.startswith("payload_hash_mismatch")


def test_payload_and_its_hash_edited_together_still_breaks_the_entry_hash() -> None:
    chain = make_chain(20)
    forged = b'{"order_id":"forged"}'
    chain[4] = dataclasses.replace(
        chain[4], payload=forged, payload_sha256=hashlib.sha256(forged).hexdigest()
    )
    result = verify_chain(chain)
    assert result.first_bad_seq == 4 and result.reason.startswith("entry_hash_mismatch")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "ORD-X"),
        ("topic", "segflow.other.v1"),
        ("offset", 5),
        ("event_time", "2025-01-01T00:00:00Z"),
        ("headers", ()),
        ("key", None),
        ("type", "order.line.cancelled"),
    ],
)
def test_edited_metadata_is_named(field: str, value: object) -> None:
    chain = make_chain(20)
    original = chain[11]
    chain[11] = dataclasses.replace(original, **{field: value})
    assert getattr(chain[11], field) != getattr(original, field)  # the edit really changes something
    result = verify_chain(chain)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 11, 11)
    assert result.reason.startswith("entry_hash_mismatch")  # type: ignore[union-attr]


def test_deleted_row_is_named_by_the_missing_seq() -> None:
    chain = make_chain(20)
    del chain[9]
    result = verify_chain(chain)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 9, 9)
    assert "deleted" in result.reason  # type: ignore[operator]


def test_reordered_rows_are_named() -> None:
    chain = make_chain(20)
    chain[5], chain[6] = chain[6], chain[5]
    result = verify_chain(chain)
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_reordered_rows_with_renumbered_seqs_break_the_hash() -> None:
    chain = make_chain(20)
    a, b = chain[5], chain[6]
    chain[5], chain[6] = dataclasses.replace(b, seq=5), dataclasses.replace(a, seq=6)
    result = verify_chain(chain)
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert result.reason.startswith("entry_hash_mismatch")  # type: ignore[union-attr]


def test_duplicated_row_is_named() -> None:
    chain = make_chain(10)
    chain.insert(4, chain[3])
    result = verify_chain(chain)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "reordered or duplicated" in result.reason  # type: ignore[operator]


def test_truncation_needs_an_expected_count() -> None:
    chain = make_chain(10)[:7]
    assert verify_chain(chain).ok
    result = verify_chain(chain, expected_count=10)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 7, 7)


def test_tombstone_rules() -> None:
    chain = make_chain(12)
    assert chain[10].payload is None and chain[10].payload_sha256 is None
    chain[10] = dataclasses.replace(chain[10], payload=b"resurrected")
    assert verify_chain(chain).first_bad_seq == 10


def test_verifying_a_segment_from_a_known_prev_hash() -> None:
    chain = make_chain(30)
    tail = chain[10:]
    assert not verify_chain(tail).ok  # wrong starting seq and prev hash
    result = verify_chain(tail, prev_hash=chain[9].entry_hash, first_seq=10)
    assert result.ok and result.checked == 20


def test_deep_mode_catches_what_fast_mode_cannot_see() -> None:
    # A row written by something other than seal_entry with an integer beyond 2^53: orjson serialises it
    # (so the fast path re-derives its own hash), RFC 8785 refuses it; only deep mode notices.
    entry = dataclasses.replace(make_chain(1)[0], offset=2**60)
    entry = dataclasses.replace(entry, entry_hash=chain_hash(GENESIS_HASH, canonical_metadata(entry)))
    assert verify_chain([entry]).ok
    result = verify_chain([entry], deep=True)
    assert (result.ok, result.first_bad_seq) == (False, 0)
    assert result.reason.startswith("non_canonical_metadata")  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        seal_entry(GENESIS_HASH, **{**make_record(0), "offset": 2**60})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        seal_entry(GENESIS_HASH, **{**make_record(0), "partition": True})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        seal_entry(GENESIS_HASH, **{**make_record(0), "subject": "lone \ud800 surrogate"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [{"seq": -1}, {"offset": 2**53}, {"topic": 5}, {"subject": b"bytes"}, {"event_time": 3}],
)
def test_seal_refuses_fields_rfc8785_cannot_represent(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        seal_entry(GENESIS_HASH, **{**make_record(1), **change})  # type: ignore[arg-type]


def test_seal_refuses_a_short_prev_hash() -> None:
    with pytest.raises(ValueError):
        seal_entry(b"\x00" * 31, **make_record(0))  # type: ignore[arg-type]


def test_headers_keep_order_and_binary_values() -> None:
    record = {**make_record(1), "headers": [("b", b"\xff\x00"), ("a", b"")]}
    entry = seal_entry(GENESIS_HASH, **record)  # type: ignore[arg-type]
    assert entry.headers == (("b", "/wA="), ("a", ""))
    assert b'"headers":[["b","/wA="],["a",""]]' in canonical_metadata(entry)
