"""Structured logs: one JSON object per line on stderr.

Every line has ``ts`` (ISO 8601, UTC), ``level``, ``logger`` and ``msg``;
fields passed as ``extra={"fields": {...}}`` are merged in, so a log
shipper indexes them without parsing the message.  Uvicorn's own loggers
use the same format (``log_config``).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import msgspec

LOGGER = "ruledsl.serve"
_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object (extra ``fields`` merged in; a traceback as ``exc``)."""
        line: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        try:
            return _encode(line).decode("utf-8")
        except (TypeError, msgspec.EncodeError):  # a field msgspec cannot encode: keep the line, as text
            return _encode(
                {k: v if isinstance(v, (str, int, float, bool)) else repr(v) for k, v in line.items()}
            ).decode()


def log_config(level: str = "info", access_log: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and ruledsl.serve: JSON lines on stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {
                "handlers": ["stderr"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "ruledsl": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def log(level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` on the service's logger with ``fields`` as JSON fields."""
    logging.getLogger(LOGGER).log(level, msg, extra={"fields": fields})
