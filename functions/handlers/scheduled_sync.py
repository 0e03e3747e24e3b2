"""EventBridge `rate(1 minute)` -> one sync cycle for every configured pair."""

from __future__ import annotations

import gc
from typing import Any

from leadsync.app import run_scheduled
from leadsync.observability import logger, metrics, tracer

# What the imports built lives as long as the container: keep it out of the garbage collector's
# full passes, which otherwise walk it in nearly every invocation (~85 ms each at 10,000 leads).
gc.freeze()


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled sync; the event carries nothing but its id (the correlation id)."""
    return run_scheduled(context)
