"""The compiled drafting and sealing (segflow_native) against the Python rules they implement: event times
of every shape (``event_us_of``), UTF-8 decoding with replacement, the first occurrence of a header, the
Merkle frontier and its completed subtrees (``MerkleFrontier.append_completing``), and bad input."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest
import segflow_native
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contracts.envelope import EnvelopeError
from services.audit.domain.frontier import MerkleFrontier
from services.audit.sealing import Draft, draft_of, event_us_of, seal_drafts, unique_drafts
from services.runtime.bus.base import Record

TOPIC = "segflow.erp.orders.v1"


def _two(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda v: f"{v:02d}")


@st.composite
def ce_times(draw: st.DrawFn) -> str:
    """Mostly the common shape with fields at and past their limits, sometimes other RFC 3339 spellings."""
    year = draw(st.sampled_from(["1970", "2026", "2024", "2100", "1900", "1600", "0001", "9999", "0000"]))
    date = f"{year}-{draw(_two(0, 13))}-{draw(_two(0, 32))}"
    clock = f"{draw(_two(0, 25))}:{draw(_two(0, 61))}:{draw(_two(0, 61))}"
    fraction = draw(
        st.sampled_from(["", "."]) | st.text("0123456789", min_size=1, max_size=7).map(".{}".format)
    )
    zone = draw(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00"])
        | st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), _two(0, 25), _two(0, 61))
    )
    separator = draw(st.sampled_from(["T", "T", "T", "t", " "]))
    return f"{date}{separator}{clock}{fraction}{zone}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _python_event_us(text: str) -> int | None:
    try:
        return event_us_of(text)
    except EnvelopeError:
        return None


def _record(headers: tuple[tuple[str, bytes], ...], timestamp_ms: int = 1_767_225_600_123) -> Record:
    return Record(TOPIC, 1, 7, b"k", b"{}", headers, timestamp_ms)


@settings(max_examples=600, deadline=None)
@given(ce_times())
@example("2026-02-29T00:00:00Z")  # not a leap year
@example("2024-02-29T23:59:59.999999-23:59")
@example("1969-12-31T23:59:59.999999Z")
@example("2255-06-05T23:47:34.740991Z")  # at the edge of exact doubles
def test_event_times_match_the_python_rule(ce_time: str) -> None:
    rec = _record((("ce_id", b"e"), ("ce_time", ce_time.encode())))
    (native,) = unique_drafts([rec])
    expected = _python_event_us(ce_time)
    if expected is None:  # unusable: the broker's timestamp, formatted as Python does
        assert native == draft_of(rec) and native.event_us == rec.timestamp_ms * 1000
    else:
        assert (native.event_time, native.event_us) == (ce_time, expected)


INVALID_UTF8 = [
    b"\xed\xa0\x80",
    b"\xc0\x80",
    b"\xf0\x9f\x98",
    b"\xe2\x82",
    b"\xff\xfe",
    b"a\x80b",
    b"\xf4\x90\x80\x80",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(INVALID_UTF8) | st.binary(max_size=6) | st.text(max_size=4).map(str.encode)))
def test_header_text_is_decoded_with_replacement_like_python(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    rec = _record((("ce_id", raw or b"x"), ("ce_type", raw), ("ce_subject", raw)))
    (native,) = unique_drafts([rec])
    text = raw.decode("utf-8", errors="replace")
    assert (native.type, native.subject) == (text, text)
    assert native == draft_of(rec)


def test_the_first_occurrence_of_a_header_counts_and_odd_shapes_are_read() -> None:
    headers = (
        ("ce_id", b"first"), ("ce_id", b"second"), (b"bytes-name", b"?"),  # type: ignore[arg-type]
        ["ce_subject", bytearray(b"S-1")],  # type: ignore[list-item]
    )  # fmt: skip
    (native,) = unique_drafts([_record(headers)])
    assert native.event_id == "first" and native.subject == "S-1"
    assert native.dedup_key == hashlib.sha256(f"{TOPIC}|first".encode()).digest()[:16]
    sealable = _record(headers[:2] + headers[3:])  # a header name must be text to be sealed
    (row,), _, _ = segflow_native.seal_batch(bytes(32), 0, [], [draft_of(sealable)], [b"{}"], 0, 8)
    expected = [["ce_id", b64(b"first")], ["ce_id", b64(b"second")], ["ce_subject", b64(b"S-1")]]
    assert orjson.loads(row[5]) == expected
    with pytest.raises(TypeError):
        segflow_native.seal_batch(bytes(32), 0, [], [native], [b"{}"], 0, 8)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 600), st.integers(1, 300), st.integers(1, 4))
def test_frontier_and_completed_subtrees_match_the_python_frontier(
    start: int, count: int, level: int
) -> None:
    reference = MerkleFrontier()
    for i in range(start):
        reference.append(hashlib.sha256(i.to_bytes(8, "big")).digest())
    drafts = [
        draft_of(_record((("ce_id", f"e{i}".encode()), ("ce_time", b"2026-01-01T00:00:00Z"))))
        for i in range(count)
    ]
    rows, roots, subtrees = segflow_native.seal_batch(
        bytes(32), start, reference.hashes, drafts, [d.record.value for d in drafts], 0, level
    )
    expected = []
    for row in rows:
        expected.extend(reference.append_completing(row[12], level))
    assert roots == list(reference.hashes)
    assert subtrees == expected


def test_bad_input_is_refused_with_a_reason() -> None:
    d = draft_of(_record((("ce_id", b"e"),)))
    with pytest.raises(ValueError, match="32 bytes"):
        segflow_native.seal_batch(b"short", 0, [], [d], [b"{}"], 0, 8)
    with pytest.raises(ValueError, match="frontier of size 3 holds 2 hashes, got 1"):
        segflow_native.seal_batch(bytes(32), 3, [bytes(32)], [d], [b"{}"], 0, 8)
    with pytest.raises(ValueError, match="fewer payloads"):
        segflow_native.seal_batch(bytes(32), 0, [], [d, d], [b"{}"], 0, 8)
    with pytest.raises(ValueError, match="more payloads"):
        segflow_native.seal_batch(bytes(32), 0, [], [d], [b"{}", b"{}"], 0, 8)
    with pytest.raises(TypeError):
        segflow_native.seal_batch(bytes(32), 0, [], ["not a draft"], [b"{}"], 0, 8)
    with pytest.raises(ValueError, match="does not match chain size"):
        seal_drafts(bytes(32), 1, MerkleFrontier(), [d], [b"{}"], 0)


def test_drafts_compare_by_value_and_show_their_fields() -> None:
    rec = _record((("ce_id", b"e"),))
    a, b = Draft(rec, b"k", "e", None, None, "t", 1), Draft(rec, b"k", "e", None, None, "t", 1)
    assert a == b and (a != b) is False and a != Draft(rec, b"k", "e", "type", None, "t", 1)
    assert a != "something else"
    assert repr(a).startswith("Draft(record=Record(") and "event_us=1" in repr(a)


def test_a_topic_with_a_lone_surrogate_gets_the_python_dedup_key() -> None:
    rec = Record("odd\ud800topic", 0, 3, None, b"{}", (("ce_id", b"e1"),), 0)
    (native,) = unique_drafts([rec])
    assert native == draft_of(rec)
    assert native.dedup_key == hashlib.sha256(b"odd?topic|e1").digest()[:16]
