"""The KPI alert evaluation step, incremental and deterministic: per segment x KPI, advance the EWMA state
machine over the completed weeks not evaluated yet and emit kpi.alert.raised / cleared through the outbox.

Rule (documented for replay):
- Watermark W = week(data clock) - 1 - grace weeks, the data clock being the latest delivery date seen (it
  only moves forward), or an explicit ``through`` week. Weeks up to W are final: each is evaluated once, in
  week order, starting after the last evaluated week (or the first due week). A line counts in the week of
  its due date; every line due by W is delivered or overdue, so its outcome no longer depends on the clock.
- Incremental: handlers queue the orders they touch; a step recomputes only those orders' KPI lines
  (kpi_cache.refresh) and reads only the cached lines of weeks [start - window + 1, W] (the rolling windows
  of the weeks being evaluated), never the whole history.
- Deterministic under replay in any order: the alerts of week w depend only on the lines due up to w
  (and their deliveries), so any arrival order that delivers those events before the watermark passes w
  (i.e. none later than the grace period) yields the same alerts; data arriving later changes the KPI
  series (GET /v1/kpis) but not alerts already decided. Event ids derive from segment, KPI, week and kind,
  so a replay of the same inputs emits nothing new.
- When (coalescing): a step only emits for weeks up to the watermark, and the watermark only moves when
  the data clock enters a later week, i.e. with a delivery. So after committed batches with shipment
  events the step runs at once when a delivery of the batch lies in a later week than the data clock of
  the previous step (or no step ran yet in this process), and otherwise at most once per
  ``AlertSettings.coalesce_s`` seconds (it still drains the queue of touched orders then, so the cache and
  its queue stay small). POST /v1/kpis/evaluate runs a step at once. The outcome is unchanged: every step
  evaluates the weeks after the last evaluated one up to the watermark, whatever the steps in between.
- Targets: otif and perfect_order -> the segment's OTIF target, line_fill_rate -> its service-level target
  (defaults for segments without an assignment). Escalation path per segment from the escalation table,
  default ["planner", "supply-chain-manager"].
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from contracts import topics
from contracts.policy import KpiAlertCleared, KpiAlertRaised
from services.policy import kpi_cache, kpis, store
from services.policy.domain.alerts import RAISED, AlertConfig, AlertState, initial_state, step
from services.runtime import outbox
from services.runtime.host import ServiceHost
from services.runtime.logging import get_logger

log = get_logger(__name__)
DEFAULT_ESCALATION = ("planner", "supply-chain-manager")
NO_CLOCK = -1  # clock_week after a step that found no delivery yet (every real week is later)


@dataclass(frozen=True)
class AlertSettings:
    window: int = 4
    raise_after: int = 3
    clear_after: int = 2
    smoothing: float = 0.3
    hysteresis: float = 0.02
    grace_weeks: int = 1
    default_otif_target: float = 0.9
    default_fill_rate_target: float = 0.95
    default_escalation: tuple[str, ...] = DEFAULT_ESCALATION
    coalesce_s: float = 2.0  # steps whose watermark cannot have moved run at most this often


def _target(kpi: str, assignment: Any, config: AlertSettings) -> float:
    if assignment is None:
        return config.default_fill_rate_target if kpi == "line_fill_rate" else config.default_otif_target
    return float(assignment.service_level_target if kpi == "line_fill_rate" else assignment.otif_target)


class KpiEvaluator:
    """Runs the evaluation step on demand and after committed batches that carried shipment events (at
    once when a delivery may have moved the watermark, else coalesced; see the module rules)."""

    def __init__(self, host: ServiceHost, config: AlertSettings | None = None) -> None:
        self.host = host
        self.config = config or AlertSettings()
        self.lock = asyncio.Lock()
        self.dirty = False
        self.urgent = False  # a delivery of the uncommitted batch may move the watermark
        self.clock_week: int | None = None  # week of the data clock read by the last step (None: no step)
        self.steps = 0  # steps run (for tests and metrics)
        self._last_step = -math.inf  # loop time the last step started
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._now = asyncio.Event()

    def mark(self, delivered: date | None = None) -> None:
        """A handler saw a shipment event (the batch is not committed yet), delivered on ``delivered``."""
        self.dirty = True
        if delivered is not None and (self.clock_week is None or store.week_of(delivered) > self.clock_week):
            self.urgent = True

    def after_commit(self) -> None:
        if self.dirty:
            self.dirty = False
            self._wake.set()
            if self.urgent or self.clock_week is None:
                self.urgent = False
                self._now.set()
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._loop(), name="policy-kpi-evaluator")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._wake.is_set():
            wait = self._last_step + self.config.coalesce_s - loop.time()
            if wait > 0 and not self._now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._now.wait(), wait)
            self._wake.clear()  # batches committed from here on are after this step's reads: wake again
            self._now.clear()
            try:
                await self.evaluate()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep consuming; the next batch or POST /v1/kpis/evaluate retries
                log.warning("kpi evaluation failed", error=repr(error))

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def evaluate(self, through_week: int | None = None) -> dict[str, Any]:
        """One evaluation step; returns the weeks evaluated and the events emitted."""
        async with self.lock:
            self._last_step = asyncio.get_running_loop().time()
            self.steps += 1
            async with self.host.db.unit_of_work() as session:
                result = await self._evaluate(session, through_week)
            if result["events"]:
                self.host.relay.wake()
            return result

    async def _evaluate(self, session: Any, through_week: int | None) -> dict[str, Any]:
        config = self.config
        # The clock first, then the refresh: every event committed before the clock was read is in the
        # cache (SQLite reads outside a write are not one snapshot, so the order matters).
        clock = await store.data_clock(session) if through_week is None else None
        if through_week is None:
            self.clock_week = NO_CLOCK if clock is None else store.week_of(clock)
        refreshed = await kpi_cache.refresh(session)  # only the orders touched since the last step
        if through_week is not None:
            last = through_week
        elif clock is None:
            return {"weeks": [], "events": [], "refreshed": refreshed}
        else:
            last = store.week_of(clock) - 1 - config.grace_weeks  # the watermark
        done = await store.last_evaluated_week(session)
        start = done + 1 if done is not None else await store.first_due_week(session)
        if start is None or start > last:
            return {"weeks": [], "events": [], "refreshed": refreshed}
        rows = await store.kpi_line_rows(session, start - config.window + 1, last)
        assignments = await store.assignment_rows(session)
        data = kpi_cache.lines_from_cache(rows, assignments)
        table = await asyncio.to_thread(kpis.kpi_table, data, "segment", config.window)
        states = await store.alert_states(session)
        segments = sorted(set(table.groups if table is not None else []) | {seg for seg, _ in states})
        assigned: dict[str, Any] = {}
        for a in assignments:
            assigned.setdefault(a.segment, a)
        paths = await store.escalations(session)
        events: list[dict[str, Any]] = []
        for kpi in kpis.KPIS:
            rates = _rates(table, kpi, segments, start, last)
            state = _state([states.get((s, kpi)) for s in segments])
            alert_config = AlertConfig(
                target=np.array([_target(kpi, assigned.get(s), config) for s in segments]),
                hysteresis=np.full(len(segments), config.hysteresis),
                raise_after=config.raise_after,
                clear_after=config.clear_after,
                smoothing=config.smoothing,
                escalation=tuple(tuple(paths.get(s, config.default_escalation)) for s in segments),
            )
            for week in range(start, last + 1):
                state, transitions = step(state, rates[:, week - start], alert_config)
                for t in transitions:
                    events.append(await self._emit(session, segments[t.segment], kpi, week, t, state))
            for i, segment in enumerate(segments):
                ewma = float(state.ewma[i])
                await store.save_alert_state(
                    session,
                    {
                        "segment": segment,
                        "kpi": kpi,
                        "ewma": ewma if np.isfinite(ewma) else None,
                        "below_run": int(state.below_run[i]),
                        "recovered_run": int(state.recovered_run[i]),
                        "active": bool(state.active[i]),
                        "last_week": last,
                    },
                )
        return {"weeks": list(range(start, last + 1)), "events": events, "refreshed": refreshed}

    async def _emit(
        self, session: Any, segment: str, kpi: str, week: int, t: Any, state: AlertState
    ) -> dict[str, Any]:
        at = kpis.week_end(week)
        raised = t.kind == RAISED
        model = KpiAlertRaised if raised else KpiAlertCleared
        value = min(max(t.ewma, 0.0), 1.0)
        below = int(state.below_run[t.segment])
        payload = model(
            segment=segment,
            kpi=kpi,  # type: ignore[arg-type]
            value=value,
            target=t.target,
            windows_below=below,
            escalation=list(t.escalation),
            at=at,
        )
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"segflow/policy/kpi/{segment}/{kpi}/{week}/{t.kind}"))
        await outbox.add_event(
            session,
            topic=topics.KPI_ALERTS,
            key=f"{segment}:{kpi}",
            source="segflow/policy",
            type=model.EVENT_TYPE,
            payload=payload,
            id=event_id,
            time=at,
        )
        if raised:
            await store.insert_alert(
                session,
                {
                    "id": event_id,
                    "segment": segment,
                    "kpi": kpi,
                    "status": "open",
                    "value": value,
                    "target": t.target,
                    "windows_below": below,
                    "escalation": list(t.escalation),
                    "raised_week": week,
                    "raised_at": at,
                    "cleared_at": None,
                },
            )
        else:
            current = await store.open_alert(session, segment, kpi)
            if current is not None:
                await store.clear_alert(session, current.id, at)
        return {
            "type": model.EVENT_TYPE,
            "segment": segment,
            "kpi": kpi,
            "week_start": store.week_start(week).isoformat(),
            "value": value,
        }


def _rates(table: Any, kpi: str, segments: list[str], start: int, last: int) -> np.ndarray:
    """[segments, weeks start..last] rolling rate of the KPI (NaN where a segment has no line in the window)."""
    out = np.full((len(segments), last - start + 1), np.nan)
    if table is None:
        return out
    rate = getattr(table.windows, kpi).rate
    row = {g: i for i, g in enumerate(table.groups)}
    for week in range(start, last + 1):
        p = week - table.first_week
        if 0 <= p < rate.shape[1]:
            for j, segment in enumerate(segments):
                if segment in row:
                    out[j, week - start] = rate[row[segment], p]
    return out


def _state(previous: list[Any]) -> AlertState:
    state = initial_state(len(previous))
    for i, p in enumerate(previous):
        if p is None:
            continue
        state.ewma[i] = np.nan if p.ewma is None else p.ewma
        state.below_run[i] = p.below_run
        state.recovered_run[i] = p.recovered_run
        state.active[i] = p.active
    return state
