"""Structured logs for every segflow service: JSON lines through structlog and the stdlib.

Each line carries ``timestamp`` (UTC ISO-8601), ``level``, ``service``, ``logger``, ``event`` and,
inside a span, ``trace_id``/``span_id`` of the current OpenTelemetry span, so a log line leads to its
trace. Stdlib loggers (uvicorn, aiokafka, sqlalchemy, alembic) go through the same formatter.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from services.runtime.settings import Settings
from services.runtime.telemetry import current_span_id, current_trace_id

_HANDLER_MARK = "_segflow_handler"
_state: dict[str, str] = {"service": "segflow"}


def _add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", _state["service"])
    return event_dict


def _add_trace(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    trace_id = current_trace_id()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
        event_dict.setdefault("span_id", current_span_id())
    return event_dict


def _orjson_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service,
        _add_trace,
    ]


def configure_logging(service: str, settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one handler on ``stream`` (stderr by default).

    JSON lines (orjson) when ``settings.log_json``, coloured console lines otherwise; the root level is
    ``settings.log_level``. Calling it again replaces segflow's handler (never duplicates lines).
    uvicorn's own access log is silenced: the HTTP layer writes one access line per request itself.
    """
    _state["service"] = service
    shared = _shared_processors()
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, _HANDLER_MARK, False)]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "aiokafka", "sqlalchemy", "alembic"):
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = []
        stdlib_logger.propagate = True
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False


def get_logger(name: str = "segflow") -> Any:
    """A structlog logger bound to ``name``: ``get_logger(__name__).info("event", key=value)``."""
    return structlog.stdlib.get_logger(name)
