"""Rule-set lifecycle: parse (JSON or YAML), validate, store versions by content hash, activate (audited
in the rule-set history and the log), seed DEFAULT_RULESET as version 1, and preview a candidate's impact
(migration matrix against the current assignments, without applying anything)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.db import Database
from services.runtime.logging import get_logger

from . import store
from .domain.engine import classify
from .domain.migration import migration_matrix
from .domain.ruleset import DEFAULT_RULESET, compile_ruleset, content_hash, validate
from .inputs import load_inputs

log = get_logger(__name__)


class RuleSetParseError(ValueError):
    """The body is neither a JSON nor a YAML object."""


def parse_body(raw: bytes, content_type: str | None) -> Any:
    """A rule set from a JSON or YAML request body (YAML when the content type says so or JSON fails)."""
    text = raw.decode("utf-8")
    is_yaml = content_type is not None and "yaml" in content_type.lower()
    try:
        value = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        if is_yaml:
            raise RuleSetParseError(f"not valid YAML: {error}") from error
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            raise RuleSetParseError(f"neither valid JSON nor YAML: {error}") from yaml_error
    if isinstance(value, dict) and isinstance(value.get("ruleset"), dict):
        value = value["ruleset"]
    return value


def describe(row: Any, *, with_body: bool = True) -> dict[str, Any]:
    out = {
        "version": row.version,
        "name": row.name,
        "hash": row.hash,
        "schedule": row.schedule,
        "active": bool(row.active),
        "created_by": row.created_by,
        "created_at": store.aware(row.created_at).isoformat(),  # type: ignore[union-attr]
    }
    if with_body:
        out["ruleset"] = row.body
    return out


async def create(
    session: AsyncSession, body: dict[str, Any], actor: str, *, activate: bool = False
) -> tuple[Any, bool]:
    """Store a valid rule set as the next version (or return the version with the same hash)."""
    digest = content_hash(body)
    existing = await store.ruleset_by_hash(session, digest)
    if existing is not None:
        return existing, False
    version = await store.next_ruleset_version(session)
    now = datetime.now(UTC)
    await store.insert_ruleset(
        session,
        {
            "version": version,
            "name": str(body.get("name") or f"ruleset-{version}"),
            "hash": digest,
            "body": body,
            "schedule": body.get("schedule"),
            "active": False,
            "created_by": actor,
            "created_at": now,
        },
    )
    await store.record_ruleset_action(session, version, "created", actor, now, {"hash": digest})
    if activate:
        await activate_version(session, version, actor)
    return await store.ruleset_row(session, version), True


async def activate_version(session: AsyncSession, version: int, actor: str) -> Any:
    previous = await store.active_ruleset(session)
    await store.activate_ruleset(session, version)
    now = datetime.now(UTC)
    detail = {"previous_version": previous.version if previous is not None else None}
    await store.record_ruleset_action(session, version, "activated", actor, now, detail)
    log.info("rule set activated", version=version, actor=actor, **detail)
    return await store.ruleset_row(session, version)


async def seed_default(db: Database) -> None:
    """DEFAULT_RULESET becomes version 1 (active) on the very first start."""
    async with db.unit_of_work() as session:
        if await store.ruleset_rows(session):
            return
        await create(session, dict(DEFAULT_RULESET), "system", activate=True)


async def impact(db: Database, version: int, dimension: str, samples: int = 5) -> dict[str, Any]:
    """What activating ``version`` would do to ``dimension`` now: old x new migration matrix and counts."""
    async with db.read() as session:
        row = await store.ruleset_row(session, version)
        if row is None:
            raise LookupError(f"rule set version {version} does not exist")
        compiled = compile_ruleset(row.body)
        inputs = await load_inputs(session, dimension, compiled.bucket)
        current = await store.assignment_rows(session, dimension)

    def compute() -> dict[str, Any]:
        batch = inputs.batch()
        result = classify(batch, row.body, period_index=int(batch.demand.shape[1]))
        ids = [str(i) for i in result.ids]
        new = [result.segment_label(i) for i in range(result.size)]
        old = [current[e].segment if e in current else None for e in ids]
        retired = sorted(set(current) - set(ids))
        matrix = migration_matrix(
            ids + retired,
            old + [current[r].segment for r in retired],
            new + [None] * len(retired),
            samples_per_cell=samples,
        )
        return {
            "version": version,
            "hash": row.hash,
            "dimension": dimension,
            "entities": len(ids),
            "migration": matrix.as_dict(),
            "counts": result.segment_counts(),
            "abc": {k: int(v) for k, v in zip("ABC", np.bincount(result.abc, minlength=3), strict=True)},
        }

    return await asyncio.to_thread(compute)


__all__ = [
    "RuleSetParseError",
    "activate_version",
    "create",
    "describe",
    "impact",
    "parse_body",
    "seed_default",
    "validate",
]
