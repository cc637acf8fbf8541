"""HTTP API of the audit log (paths proxied by the gateway; DESIGN.md section 5 roles).

Readers: admin, finance, planner (financial fields in payloads masked for planners). The export carries
the stored bytes (they are what the proofs cover, so they cannot be masked): admin and finance only.
Erasure: admin only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from services.audit import reader, store
from services.audit.capture import ChainWriter, now_us
from services.audit.keys import SigningKey
from services.runtime.auth import AUTH_RESPONSES, Principal, mask_financials, require_roles
from services.runtime.db import Database
from services.runtime.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])
READERS = require_roles("planner", "finance", "admin")
EXPORTERS = require_roles("finance", "admin")
ADMIN = require_roles("admin")
MAX_LIMIT = 1000


def _db(request: Request) -> Database:
    return request.app.state.host.db


def _signing(request: Request) -> SigningKey:
    return request.app.state.host.state["signing"]


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _masked(view: dict[str, Any], principal: Principal) -> dict[str, Any]:
    masked, paths = mask_financials(view, principal)
    masked["masked_fields"] = paths
    return masked


@router.get("/entries", responses={**AUTH_RESPONSES, **problem_responses(400)})
async def list_entries(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    subject: str | None = None,
    type: str | None = None,
    topic: str | None = None,
    key: Annotated[str | None, Query(description="record key, e.g. customer:C1")] = None,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="event time >= (RFC 3339)")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="event time < (RFC 3339)")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """Entries by subject, type, topic, key and event-time range, ascending by seq; ``next_cursor`` pages."""
    after: int | None = None
    if cursor is not None:
        if not cursor.isdigit():
            raise Problem(
                400, detail="cursor is not valid", errors=[{"field": "cursor", "message": "invalid"}]
            )
        after = int(cursor)
    async with _db(request).read() as session:
        rows = await store.search_entries(
            session,
            after_seq=after,
            limit=limit,
            subject=subject,
            type=type,
            topic=topic,
            key=None if key is None else reader.key_b64(key),
            from_us=None if from_ is None else _us(from_),
            to_us=None if to is None else _us(to),
        )
    items = [_masked(v, principal) for v in await reader.views(_db(request), rows)]
    next_cursor = str(rows[-1].seq) if len(rows) == limit else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/segments/{dimension}/{entity_id}", responses={**AUTH_RESPONSES, **problem_responses(400, 404)})
async def segment_as_of(
    request: Request,
    dimension: str,
    entity_id: str,
    principal: Annotated[Principal, Depends(READERS)],
    as_of: Annotated[AwareDatetime | None, Query(description="instant (RFC 3339); default now")] = None,
) -> dict[str, Any]:
    """The segment.assigned in effect at ``as_of`` with the entry that set it (a tombstone = retired)."""
    at = as_of or datetime.now(UTC)
    row = await reader.segment_as_of(_db(request), dimension, entity_id, _us(at))
    if row is None:
        raise Problem(
            404, detail=f"no segment assignment of {dimension}:{entity_id} at or before {at.isoformat()}"
        )
    (view,) = await reader.views(_db(request), [row])
    view = _masked(view, principal)
    return {
        "dimension": dimension,
        "entity_id": entity_id,
        "as_of": at.isoformat(),
        "status": "retired" if row.payload is None else "assigned",
        "assignment": view["payload"],
        "entry": {k: v for k, v in view.items() if k != "payload"},
    }


@router.get("/verify", responses=AUTH_RESPONSES)
async def verify(request: Request, _: Annotated[Principal, Depends(READERS)]) -> dict[str, Any]:
    """Re-check the whole chain and every signed tree head; ``first_bad_seq`` names the first bad entry."""
    return await reader.verify_all(_db(request), _signing(request))


@router.get("/checkpoints", responses={**AUTH_RESPONSES, **problem_responses(400)})
async def checkpoints(
    request: Request,
    _: Annotated[Principal, Depends(READERS)],
    after: Annotated[
        int | None, Query(ge=0, description="tree size of the last head already seen (exclusive)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """Signed tree heads in ascending size after ``after``: the history an external monitor follows (it
    checks each signature and a consistency proof between consecutive heads). ``next_after`` pages; when
    null, poll again later with the last size seen."""
    async with _db(request).read() as session:
        heads = await store.checkpoints_after(session, after, limit)
    return {
        "items": [reader.head_json(h) for h in heads],
        "next_after": heads[-1].tree_size if len(heads) == limit else None,
        "last_tree_size": heads[-1].tree_size if heads else after,
        "public_key": _signing(request).public_raw.hex(),
    }


@router.get("/checkpoints/latest", responses={**AUTH_RESPONSES, **problem_responses(404)})
async def latest_checkpoint(request: Request, _: Annotated[Principal, Depends(READERS)]) -> dict[str, Any]:
    """The latest signed tree head and the public key that verifies it."""
    async with _db(request).read() as session:
        head = await store.latest_checkpoint(session)
    if head is None:
        raise Problem(404, detail="no tree head has been signed yet")
    return {"tree_head": reader.head_json(head), "public_key": _signing(request).public_raw.hex()}


@router.get("/proofs/inclusion/{seq}", responses={**AUTH_RESPONSES, **problem_responses(400, 404)})
async def inclusion(
    request: Request,
    seq: int,
    _: Annotated[Principal, Depends(READERS)],
    tree_size: Annotated[
        int | None, Query(ge=1, description="a signed tree size; default the latest")
    ] = None,
) -> dict[str, Any]:
    """Inclusion proof of entry ``seq`` in a signed tree, ready for ``segflow audit verify-proof``."""
    if seq < 0:
        raise Problem(400, detail="seq must be >= 0", errors=[{"field": "seq", "message": "must be >= 0"}])
    async with _db(request).read() as session:
        if tree_size is None:
            head = await store.first_checkpoint_covering(session, seq)
        else:
            head = await store.checkpoint_of_size(session, tree_size)
    if head is None:
        raise Problem(404, detail="no signed tree head of that size covers this entry (yet)")
    if seq >= head.tree_size:
        raise Problem(400, detail=f"entry {seq} is not in the tree of size {head.tree_size}")
    proof = await reader.inclusion_proof(_db(request), seq, head)
    return {
        "kind": "inclusion",
        "proof": proof,
        "tree_head": reader.head_json(head),
        "public_key": _signing(request).public_raw.hex(),
    }


@router.get("/proofs/consistency", responses={**AUTH_RESPONSES, **problem_responses(400, 404)})
async def consistency(
    request: Request,
    _: Annotated[Principal, Depends(READERS)],
    from_: Annotated[int, Query(alias="from", ge=0, description="older signed tree size")],
    to: Annotated[int, Query(ge=0, description="newer signed tree size")],
) -> dict[str, Any]:
    """Consistency proof between two signed tree heads (the older is a prefix of the newer)."""
    if from_ > to:
        raise Problem(
            400, detail="from must be <= to", errors=[{"field": "from", "message": "must be <= to"}]
        )
    async with _db(request).read() as session:
        old = await store.checkpoint_of_size(session, from_)
        new = await store.checkpoint_of_size(session, to)
    missing = [n for n, h in (("from", old), ("to", new)) if h is None]
    if old is None or new is None:
        raise Problem(404, detail=f"no signed tree head of size {' / '.join(missing)}")
    proof = await reader.consistency_proof(_db(request), from_, to)
    return {
        "kind": "consistency",
        "proof": proof,
        "old_tree_head": reader.head_json(old),
        "new_tree_head": reader.head_json(new),
        "public_key": _signing(request).public_raw.hex(),
    }


@router.get(
    "/export",
    responses={**AUTH_RESPONSES, **problem_responses(400), 200: {"content": {"application/x-ndjson": {}}}},
)
async def export(
    request: Request,
    _: Annotated[Principal, Depends(EXPORTERS)],
    from_: Annotated[int, Query(alias="from", ge=0, description="first seq")] = 0,
    to: Annotated[int | None, Query(ge=0, description="end seq (exclusive); default the log size")] = None,
) -> StreamingResponse:
    """A seq range as JSONL (stored bytes base64, entry hash, inclusion proof in the latest tree head),
    streamed a chunk at a time with O(log n) hashes read per proof."""
    async with _db(request).read() as session:
        size = (await store.read_head(session)).size
    end = size if to is None else min(to, size)
    if from_ > end:
        raise Problem(
            400, detail="from must be <= to", errors=[{"field": "from", "message": "must be <= to"}]
        )
    writer: ChainWriter = request.app.state.host.state["writer"]
    await writer.checkpoint_now()  # so every exported entry has a proof in a signed tree
    lines = reader.export_stream(_db(request), _signing(request), from_, end)
    return StreamingResponse(lines, media_type="application/x-ndjson")


class ErasureRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=512, description="data subject, e.g. SAP-EU:C1001")


@router.post("/erasures", responses={**AUTH_RESPONSES, **problem_responses(400, 404)})
async def erase(
    request: Request, body: ErasureRequest, principal: Annotated[Principal, Depends(ADMIN)]
) -> dict[str, Any]:
    """Crypto-shred a data subject: delete its keys; entries keep verifying, reads show "[erased]"."""
    db = _db(request)
    writer: ChainWriter = request.app.state.host.state["writer"]
    async with writer.lock, db.unit_of_work() as session:
        if not await store.subject_known(session, body.subject):
            raise Problem(404, detail=f"no personal data is held for subject {body.subject!r}")
        erased_at = now_us()
        deleted = await store.erase_subject(session, body.subject, principal.subject, erased_at)
    return {
        "subject": body.subject,
        "keys_deleted": deleted,
        "erased_at": datetime.fromtimestamp(erased_at / 1e6, UTC).isoformat(),
    }
