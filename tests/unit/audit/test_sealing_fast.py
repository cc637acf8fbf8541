"""The batch sealer's hand-assembled canonical JSON and headers column against an independent RFC 8785
computation, on adversarial names, ids, subjects, types, keys and binary values."""

from __future__ import annotations

import base64
import hashlib
import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.frontier import MerkleFrontier
from services.audit.sealing import draft_of, seal_drafts, unique_drafts
from services.runtime.bus.base import Record

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)  # Kafka names are UTF-8
RAW = st.binary(max_size=16) | TEXT.map(str.encode)
CE_TIMES = st.sampled_from([b"2026-01-01T00:00:00Z", b"2026-03-31T23:59:59.123456+02:00", b"junk", b""])


@st.composite
def records(draw: st.DrawFn) -> list[Record]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        headers = [(draw(TEXT), draw(RAW)) for _ in range(draw(st.integers(0, 4)))]
        for name in ("ce_id", "ce_type", "ce_subject"):
            if draw(st.booleans()):
                headers.append((name, draw(RAW)))
        if draw(st.booleans()):
            headers.append(("ce_time", draw(CE_TIMES)))
        topic = draw(st.sampled_from(["segflow.erp.orders.v1", 'we"ird\\topic\u00e9', "segflow.dlq.v1"]))
        key = draw(st.none() | st.binary(max_size=10))
        value = draw(st.none() | st.binary(max_size=40))
        offset = draw(st.integers(0, 2**53 - 1))
        out.append(Record(topic, draw(st.integers(0, 2**31 - 1)), offset, key, value, tuple(headers), i))
        if draw(st.booleans()):  # a redelivery inside the batch
            out.append(draw(st.sampled_from(out)))
    return out


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@settings(max_examples=200, deadline=None)
@given(records())
def test_sealed_rows_match_an_independent_rfc8785_chain(batch: list[Record]) -> None:
    drafts = unique_drafts(batch)
    reference, seen = [], set()
    for rec in batch:  # the one-record path, first occurrence of each dedup key
        d = draft_of(rec)
        if d.dedup_key not in seen:
            seen.add(d.dedup_key)
            reference.append(d)
    assert drafts == reference
    start = 7
    base = MerkleFrontier(start, [bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32])
    sealed = seal_drafts(bytes(32), start, base, drafts, [d.record.value for d in drafts], 42)
    prev = bytes(32)
    for seq, (d, row) in enumerate(zip(drafts, sealed.rows, strict=True), start=start):
        rec = d.record
        headers = [[name, b64(value)] for name, value in rec.headers]
        assert json.loads(row[5]) == headers
        digest = None if rec.value is None else hashlib.sha256(rec.value).hexdigest()
        meta = {
            "seq": seq, "topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
            "key": None if rec.key is None else b64(rec.key), "headers": headers, "type": d.type,
            "subject": d.subject, "event_time": d.event_time, "event_id": d.event_id, "payload_sha256": digest,
        }  # fmt: skip
        prev = hashlib.sha256(prev + rfc8785.dumps(meta)).digest()
        assert row[0] == seq and row[10] == digest and row[12] == prev and row[15] == 42
    assert sealed.last_hash == prev and sealed.size == start + len(drafts)
