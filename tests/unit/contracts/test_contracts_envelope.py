"""The CloudEvents envelope: round trip through Kafka headers, every rejection with its reason, ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import (
    SEGFLOW_NAMESPACE,
    Envelope,
    EnvelopeError,
    deterministic_id,
    format_time,
    from_kafka,
    new_envelope,
    parse_time,
    to_headers,
)
from contracts.erp import InventoryPosition

T0 = datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC)


def _valid_headers(**overrides: bytes | None) -> list[tuple[str, bytes]]:
    base: dict[str, bytes | None] = {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-1",
        "ce_source": b"erp/SAP-EU",
        "ce_type": b"segflow.order.line.placed",
        "ce_time": b"2024-03-05T14:30:15Z",
        "ce_subject": b"SO-1",
        "content-type": b"application/json",
    }
    base.update(overrides)
    return [(k, v) for k, v in base.items() if v is not None]


def test_round_trip_through_headers_keeps_every_attribute() -> None:
    env = Envelope(
        id="e-1",
        source="segflow/classifier",
        type="segflow.segment.changed",
        time=T0,
        subject="customer:gln:4012345000009",
        data=b'{"a": 1}',
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate="rojo=00f067aa0ba902b7",
    )
    headers = to_headers(env)
    names = [name for name, _ in headers]
    assert names == [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "content-type",
        "traceparent",
        "tracestate",
    ]
    assert dict(headers)["ce_time"] == b"2024-03-05T14:30:15.123456Z"
    back = from_kafka(env.data, headers)
    assert back == env
    assert back.data == b'{"a": 1}'  # bytes exactly as on the wire, not re-serialised
    assert back.payload() == {"a": 1}


def test_optional_headers_are_omitted_when_absent() -> None:
    env = new_envelope(source="wms/DC1", type="segflow.inventory.position", subject=None, payload={"x": 1})
    names = [name for name, _ in to_headers(env)]
    assert "ce_subject" not in names and "traceparent" not in names and "tracestate" not in names
    assert from_kafka(env.data, to_headers(env)).subject is None


def test_new_envelope_defaults_and_model_payload() -> None:
    before = datetime.now(UTC)
    model = InventoryPosition(sku="S1", site="DC1", on_hand=-3.5, unit="EA", as_of=T0)
    env = new_envelope(source="wms/DC1", type=InventoryPosition.EVENT_TYPE, subject="S1@DC1", payload=model)
    after = datetime.now(UTC)
    assert uuid.UUID(env.id).version == 4
    assert before <= env.time <= after and env.time.utcoffset() == timedelta(0)
    assert env.payload() == {
        "sku": "S1",
        "site": "DC1",
        "on_hand": -3.5,
        "unit": "EA",
        "as_of": "2024-03-05T14:30:15.123456Z",
    }
    assert env.specversion == "1.0" and env.datacontenttype == "application/json"
    assert new_envelope(source="s", type="t", subject=None, payload={}).id != env.id


def test_new_envelope_tombstone_and_explicit_id_time() -> None:
    env = new_envelope(source="s", type="t", subject="k", payload=None, id="fixed", time=T0)
    assert env.data is None and env.is_tombstone and env.id == "fixed" and env.time == T0
    back = from_kafka(None, to_headers(env))
    assert back == env
    with pytest.raises(EnvelopeError, match="tombstone"):
        back.payload()


def test_deterministic_id_is_uuid5_of_source_and_key() -> None:
    first = deterministic_id("SAP-EU", "order-1/line-2")
    assert first == deterministic_id("SAP-EU", "order-1/line-2")
    assert first == str(uuid.uuid5(SEGFLOW_NAMESPACE, "SAP-EU:order-1/line-2"))
    assert uuid.UUID(first).version == 5
    assert first != deterministic_id("SAP-US", "order-1/line-2")
    assert first != deterministic_id("SAP-EU", "order-1/line-3")
    with pytest.raises(ValueError):
        deterministic_id("", "x")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"ce_id": None}, "missing required header ce_id"),
        ({"ce_id": b""}, "header ce_id is empty"),
        ({"ce_source": None}, "missing required header ce_source"),
        ({"ce_source": b""}, "header ce_source is empty"),
        ({"ce_type": None}, "missing required header ce_type"),
        ({"ce_type": b""}, "header ce_type is empty"),
        ({"ce_specversion": None}, "missing required header ce_specversion"),
        ({"ce_specversion": b""}, "header ce_specversion is empty"),
        ({"ce_specversion": b"0.3"}, "unsupported specversion '0.3'"),
        ({"ce_time": None}, "missing required header ce_time"),
        ({"ce_time": b"2024-03-05 14:30"}, "is not an RFC 3339 timestamp"),
        ({"ce_time": b"2024-03-05T14:30:15"}, "is not an RFC 3339 timestamp"),  # no offset
        ({"ce_time": b"2024-13-05T14:30:15Z"}, "is not a valid date-time"),
        ({"ce_time": b"2024-02-30T14:30:15Z"}, "is not a valid date-time"),
        ({"ce_time": b"2024-03-05T25:30:15Z"}, "is not a valid date-time"),
        ({"ce_time": b"2024-03-05T14:30:15+24:00"}, "invalid offset"),
        ({"ce_time": b"1709649015"}, "is not an RFC 3339 timestamp"),
        ({"ce_subject": b""}, "header ce_subject is empty"),
        ({"content-type": b"text/plain"}, "unsupported content type 'text/plain'"),
        ({"content-type": b"application/cloudevents+json"}, "unsupported content type"),
        ({"content-type": b"application/json; charset=latin-1"}, "unsupported content type"),
        ({"content-type": b"application/xml"}, "unsupported content type"),
        ({"content-type": None}, "missing required header content-type"),
        ({"ce_id": b"\xff\xfe"}, "header ce_id is not valid UTF-8"),
        ({"ce_subject": b"caf\xc3"}, "header ce_subject is not valid UTF-8"),
    ],
)
def test_rejections_name_their_reason(overrides: dict[str, bytes | None], reason: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        from_kafka(b"{}", _valid_headers(**overrides))
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "value is not valid JSON"),
        (b"", "value is not valid JSON"),
        (b'{"a": 1', "value is not valid JSON"),
        (b"\xff\xfe{}", "value is not valid JSON"),
        (b"[1, 2]", "value must be a JSON object, got list"),
        (b"42", "value must be a JSON object, got int"),
    ],
)
def test_value_must_be_a_json_object(value: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        from_kafka(value, _valid_headers())
    assert reason in caught.value.reason


def test_duplicate_attribute_header_is_rejected() -> None:
    headers = [*_valid_headers(), ("ce_id", b"evt-2")]
    with pytest.raises(EnvelopeError, match="duplicate header ce_id"):
        from_kafka(b"{}", headers)


def test_accepted_variants() -> None:
    ok = from_kafka(b'{"k": "v"}', _valid_headers(**{"content-type": b"application/json; charset=utf-8"}))
    assert ok.datacontenttype == "application/json; charset=utf-8"
    assert from_kafka(b"{}", _valid_headers(**{"content-type": b"Application/JSON;Charset=UTF-8"}))
    # a tombstone may omit content-type: there is no content
    assert from_kafka(None, _valid_headers(**{"content-type": None})).is_tombstone
    # unknown headers (e.g. DLQ headers, extensions) are ignored, not errors
    env = from_kafka(b"{}", [*_valid_headers(), ("dlq_error", b"\xff"), ("ce_partitionkey", b"x")])
    assert env.id == "evt-1"
    # trace context under the ce_ names is accepted too
    env = from_kafka(b"{}", [*_valid_headers(), ("ce_traceparent", b"00-abc-def-01")])
    assert env.traceparent == "00-abc-def-01"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T14:30:15Z", datetime(2024, 3, 5, 14, 30, 15, tzinfo=UTC)),
        ("2024-03-05t14:30:15z", datetime(2024, 3, 5, 14, 30, 15, tzinfo=UTC)),
        ("2024-03-05T14:30:15.5+01:00", datetime(2024, 3, 5, 13, 30, 15, 500000, tzinfo=UTC)),
        ("2024-03-05T14:30:15.123456789-05:30", datetime(2024, 3, 5, 20, 0, 15, 123456, tzinfo=UTC)),
        ("2024-03-05T00:00:00+00:00", datetime(2024, 3, 5, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo is not None


def test_format_time_keeps_offset_and_moves_second_offsets_to_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert format_time(datetime(2024, 1, 1, 12, 0, tzinfo=plus_one)) == "2024-01-01T12:00:00+01:00"
    minus = timezone(-timedelta(hours=9, minutes=30))
    assert format_time(datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=minus)) == "2024-01-01T12:00:00.000005-09:30"
    odd = timezone(timedelta(minutes=17, seconds=30))
    assert format_time(datetime(2024, 1, 1, 12, 0, tzinfo=odd)) == "2024-01-01T11:42:30Z"
    with pytest.raises(EnvelopeError):
        format_time(datetime(2024, 1, 1))


def test_envelope_time_is_normalised_to_a_fixed_offset() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    env = Envelope(id="i", source="s", type="t", time=local, subject=None, data=None)
    assert env.time == local and env.time.utcoffset() == timedelta(hours=2)
    assert isinstance(env.time.tzinfo, timezone)
    assert format_time(env.time) == "2024-07-01T09:00:00+02:00"


def test_envelope_itself_refuses_invalid_attributes() -> None:
    with pytest.raises(EnvelopeError, match="timezone-aware"):
        Envelope(id="i", source="s", type="t", time=datetime(2024, 1, 1), subject=None, data=None)
    with pytest.raises(EnvelopeError, match="id must be a non-empty"):
        Envelope(id="", source="s", type="t", time=T0, subject=None, data=None)
    with pytest.raises(EnvelopeError, match="subject"):
        Envelope(id="i", source="s", type="t", time=T0, subject="", data=None)
    with pytest.raises(TypeError):
        new_envelope(source="s", type="t", subject=None, payload=[1, 2])  # type: ignore[arg-type]


# --- property: any valid envelope survives to_headers/from_kafka unchanged -------------------------

_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)
_json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
)
_json_value = st.recursive(
    _json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_json_object = st.dictionaries(st.text(max_size=8), _json_value, max_size=6).map(orjson.dumps)
_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m))
)
_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_offsets | st.timezones()
)


@settings(max_examples=300, deadline=None)
@given(
    id=_text,
    source=_text,
    type=_text,
    time=_times,
    subject=st.none() | _text,
    data=st.none() | _json_object,
    datacontenttype=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
    ),
    traceparent=st.none() | _text,
    tracestate=st.none() | _text,
)
def test_property_any_valid_envelope_survives_the_wire(
    id: str,
    source: str,
    type: str,
    time: datetime,
    subject: str | None,
    data: bytes | None,
    datacontenttype: str,
    traceparent: str | None,
    tracestate: str | None,
) -> None:
    env = Envelope(
        id=id,
        source=source,
        type=type,
        time=time,
        subject=subject,
        data=data,
        datacontenttype=datacontenttype,
        traceparent=traceparent,
        tracestate=tracestate,
    )
    back = from_kafka(env.data, to_headers(env))
    assert back == env
    assert back.data == data
    assert back.time.timestamp() == time.timestamp()
    offset = time.utcoffset()
    assert offset is not None
    if not offset % timedelta(minutes=1):
        assert back.time.utcoffset() == offset
        assert back.time.replace(tzinfo=None) == time.replace(tzinfo=None)  # same wall clock
