"""The Powertools singletons (logger, metrics, tracer) and a readable console format.

In Lambda the logs are JSON (one object per line, with ``pair`` and ``correlation_id`` keys);
locally, ``LEADSYNC_LOG_FORMAT=text`` renders the same records as readable lines.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "leadsync"
NAMESPACE = "Leadsync"

_STANDARD_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "sampling_rate",
    "xray_trace_id",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
}


class TextFormatter(LambdaPowertoolsFormatter):
    """One readable line per record: ``time LEVEL message key=value ...``."""

    def serialize(self, log: Any) -> str:
        extras = " ".join(f"{k}={v}" for k, v in log.items() if k not in _STANDARD_KEYS and v not in (None, "", {}, []))
        stamp = str(log.get("timestamp", ""))[11:19]
        line = f"{stamp} {log.get('level', ''):<7} {log.get('message', '')}"
        return f"{line}  [{extras}]" if extras else line


def _formatter() -> LambdaPowertoolsFormatter | None:
    return TextFormatter() if os.environ.get("LEADSYNC_LOG_FORMAT") == "text" else None


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE), logger_formatter=_formatter())
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE),
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
)
TRACED_LIBRARIES = ("botocore", "requests")
"""What leadsync calls out through (DynamoDB, SSM, Secrets Manager; the four APIs): traced in X-Ray.
Patching only these, not everything X-Ray can patch (Powertools' default ``patch_all``), keeps the
cold start from importing and patching libraries leadsync never uses (httpx, sqlite3, http.client ...)."""

tracer = Tracer(service=SERVICE, disabled=os.environ.get("AWS_LAMBDA_FUNCTION_NAME") is None, auto_patch=False)
tracer.patch(TRACED_LIBRARIES)  # nothing when tracing is off

COUNT = MetricUnit.Count
SECONDS = MetricUnit.Seconds
MILLISECONDS = MetricUnit.Milliseconds

__all__ = ["COUNT", "MILLISECONDS", "SECONDS", "TRACED_LIBRARIES", "logger", "metrics", "tracer"]
