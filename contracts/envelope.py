"""The CloudEvents 1.0 envelope in Kafka binary mode: attributes in ``ce_*`` headers, JSON value.

Owns the envelope dataclass, its construction (random or deterministic ids), its encoding to Kafka
headers and its strict decoding from a Kafka record. Decoding rejects, with a reason, what the
CloudEvents 1.0 spec rejects (missing or empty id/source/type/specversion, an unsupported
specversion, a time that is not RFC 3339) plus what segflow's wire forbids (a content type other
than JSON, a header that is not UTF-8, a value that is not a JSON object). A ``None`` value is a
tombstone; whether a topic allows one is the topic layer's business.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from pydantic import BaseModel

SPECVERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
SEGFLOW_NAMESPACE = uuid.UUID("6f1c2a8e-5b57-4b7e-9d5c-3a0e8f4b2c71")

HEADER_SPECVERSION = "ce_specversion"
HEADER_ID = "ce_id"
HEADER_SOURCE = "ce_source"
HEADER_TYPE = "ce_type"
HEADER_TIME = "ce_time"
HEADER_SUBJECT = "ce_subject"
HEADER_CONTENT_TYPE = "content-type"
HEADER_TRACEPARENT = "traceparent"
HEADER_TRACESTATE = "tracestate"
_ALIASES = {"ce_traceparent": HEADER_TRACEPARENT, "ce_tracestate": HEADER_TRACESTATE}
_KNOWN = {
    HEADER_SPECVERSION,
    HEADER_ID,
    HEADER_SOURCE,
    HEADER_TYPE,
    HEADER_TIME,
    HEADER_SUBJECT,
    HEADER_CONTENT_TYPE,
    HEADER_TRACEPARENT,
    HEADER_TRACESTATE,
}

_RFC3339_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
_CHARSET_RE = re.compile(r'^charset\s*=\s*"?utf-8"?$', re.IGNORECASE)


class EnvelopeError(ValueError):
    """A record that is not a valid segflow CloudEvent; ``reason`` says why (goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    """One CloudEvent: context attributes plus the JSON value bytes exactly as on the wire.

    ``time`` is normalised on construction to a fixed-offset datetime (what RFC 3339 can carry), so an
    envelope compares equal to itself after a trip through Kafka headers.
    """

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None
    data: bytes | None
    specversion: str = SPECVERSION
    datacontenttype: str = JSON_CONTENT_TYPE
    traceparent: str | None = None
    tracestate: str | None = None

    def __post_init__(self) -> None:
        for name in ("id", "source", "type", "specversion"):
            if not getattr(self, name):
                raise EnvelopeError(f"{name} must be a non-empty string")
        if self.subject == "":
            raise EnvelopeError("subject must be None or a non-empty string")
        offset = self.time.utcoffset()
        if offset is None:
            raise EnvelopeError("time must be timezone-aware")
        # The wire carries an instant and an offset, so the envelope holds exactly that: a fixed offset
        # (UTC when the offset is not a whole number of minutes, which RFC 3339 cannot express).
        if offset % timedelta(minutes=1):
            fixed = self.time.astimezone(UTC)
        else:
            fixed = self.time.replace(tzinfo=UTC if not offset else timezone(offset))
        object.__setattr__(self, "time", fixed)

    @property
    def is_tombstone(self) -> bool:
        """True when the record has no value (a delete on a compacted topic)."""
        return self.data is None

    def payload(self) -> dict[str, Any]:
        """The value decoded with orjson; a tombstone or a non-object value raises ``EnvelopeError``."""
        if self.data is None:
            raise EnvelopeError("tombstone has no payload")
        try:
            value = orjson.loads(self.data)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"value is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise EnvelopeError(f"value must be a JSON object, got {type(value).__name__}")
        return value


def deterministic_id(source_system: str, record_key: str) -> str:
    """Event id for batch ingest: uuid5(SEGFLOW_NAMESPACE, f"{source_system}:{record_key}").

    Re-ingesting the same record gives the same id, so the consumers' inbox drops the duplicate.
    """
    if not source_system or not record_key:
        raise ValueError("source_system and record_key must be non-empty")
    return str(uuid.uuid5(SEGFLOW_NAMESPACE, f"{source_system}:{record_key}"))


def encode_payload(payload: BaseModel | dict[str, Any]) -> bytes:
    """JSON bytes of a payload: pydantic models via ``model_dump(mode="json")``, dicts via orjson."""
    if isinstance(payload, BaseModel):
        return orjson.dumps(payload.model_dump(mode="json"))
    if isinstance(payload, dict):
        return orjson.dumps(payload)
    raise TypeError(f"payload must be a pydantic model, a dict or None, got {type(payload).__name__}")


def new_envelope(
    *,
    source: str,
    type: str,
    subject: str | None,
    payload: BaseModel | dict[str, Any] | None,
    id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> Envelope:
    """A new envelope: a uuid4 id and the current UTC time unless given; ``payload=None`` is a tombstone."""
    return Envelope(
        id=id if id is not None else str(uuid.uuid4()),
        source=source,
        type=type,
        time=time if time is not None else datetime.now(UTC),
        subject=subject,
        data=None if payload is None else encode_payload(payload),
        traceparent=traceparent,
        tracestate=tracestate,
    )


def format_time(value: datetime) -> str:
    """RFC 3339 text of an aware datetime: ``Z`` for UTC, else ``+HH:MM`` (second offsets go to UTC)."""
    offset = value.utcoffset()
    if offset is None:
        raise EnvelopeError("time must be timezone-aware")
    if offset % timedelta(minutes=1):
        value, offset = value.astimezone(UTC), timedelta(0)
    text = value.replace(tzinfo=None).isoformat()
    if not offset:
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (offset required) as an aware datetime; anything else raises EnvelopeError."""
    match = _RFC3339_RE.match(text)
    if not match:
        raise EnvelopeError(f"ce_time {text!r} is not an RFC 3339 timestamp")
    day, clock, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    try:
        naive = datetime.fromisoformat(f"{day}T{clock}.{micros}")
    except ValueError as exc:
        raise EnvelopeError(f"ce_time {text!r} is not a valid date-time: {exc}") from exc
    if zone in ("Z", "z"):
        return naive.replace(tzinfo=UTC)
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 23 or minutes > 59:
        raise EnvelopeError(f"ce_time {text!r} has an invalid offset")
    delta = timedelta(hours=hours, minutes=minutes)
    if not delta:
        return naive.replace(tzinfo=UTC)
    return naive.replace(tzinfo=timezone(-delta if zone[0] == "-" else delta))


def to_headers(env: Envelope) -> list[tuple[str, bytes]]:
    """Kafka headers of the envelope (binary mode): ce_* attributes, content-type, trace context."""
    headers = [
        (HEADER_SPECVERSION, env.specversion.encode()),
        (HEADER_ID, env.id.encode()),
        (HEADER_SOURCE, env.source.encode()),
        (HEADER_TYPE, env.type.encode()),
        (HEADER_TIME, format_time(env.time).encode()),
    ]
    if env.subject is not None:
        headers.append((HEADER_SUBJECT, env.subject.encode()))
    headers.append((HEADER_CONTENT_TYPE, env.datacontenttype.encode()))
    if env.traceparent is not None:
        headers.append((HEADER_TRACEPARENT, env.traceparent.encode()))
    if env.tracestate is not None:
        headers.append((HEADER_TRACESTATE, env.tracestate.encode()))
    return headers


def is_json_content_type(value: str) -> bool:
    """True for ``application/json`` with at most a ``charset=utf-8`` parameter (case-insensitive)."""
    media, *params = (part.strip() for part in value.split(";"))
    if media.lower() != JSON_CONTENT_TYPE:
        return False
    return all(_CHARSET_RE.match(p) for p in params if p)


def _decode_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    decoded: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        name = _ALIASES.get(name, name)
        if name not in _KNOWN:
            continue
        if name in decoded:
            raise EnvelopeError(f"duplicate header {name}")
        try:
            decoded[name] = bytes(raw_value).decode("utf-8") if raw_value is not None else ""
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {name} is not valid UTF-8") from exc
    return decoded


def _required(decoded: dict[str, str], name: str) -> str:
    value = decoded.get(name)
    if value is None:
        raise EnvelopeError(f"missing required header {name}")
    if not value:
        raise EnvelopeError(f"header {name} is empty")
    return value


def from_kafka(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Envelope:
    """Decode a Kafka record into an Envelope, or raise ``EnvelopeError(reason)``.

    Checked in order: headers UTF-8 and not duplicated; ce_specversion, ce_id, ce_source, ce_type
    present and non-empty; specversion == "1.0"; ce_time present and RFC 3339 (optional in
    CloudEvents, required by segflow: measures bucket by event time, a decode time is never
    invented); ce_subject non-empty if present; content-type JSON (required when there is a value);
    value a JSON object.
    """
    decoded = _decode_headers(headers)
    specversion = _required(decoded, HEADER_SPECVERSION)
    if specversion != SPECVERSION:
        raise EnvelopeError(f"unsupported specversion {specversion!r}, expected {SPECVERSION!r}")
    event_id = _required(decoded, HEADER_ID)
    source = _required(decoded, HEADER_SOURCE)
    event_type = _required(decoded, HEADER_TYPE)
    time = parse_time(_required(decoded, HEADER_TIME))
    subject = decoded.get(HEADER_SUBJECT)
    if subject == "":
        raise EnvelopeError(f"header {HEADER_SUBJECT} is empty")
    content_type = decoded.get(HEADER_CONTENT_TYPE)
    if content_type is None:
        if value is not None:
            raise EnvelopeError(f"missing required header {HEADER_CONTENT_TYPE}")
        content_type = JSON_CONTENT_TYPE
    elif not is_json_content_type(content_type):
        raise EnvelopeError(f"unsupported content type {content_type!r}, expected {JSON_CONTENT_TYPE}")
    data = None if value is None else bytes(value)
    if data is not None:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"value is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise EnvelopeError(f"value must be a JSON object, got {type(parsed).__name__}")
    return Envelope(
        id=event_id,
        source=source,
        type=event_type,
        time=time,
        subject=subject,
        data=data,
        specversion=specversion,
        datacontenttype=content_type,
        traceparent=decoded.get(HEADER_TRACEPARENT),
        tracestate=decoded.get(HEADER_TRACESTATE),
    )
