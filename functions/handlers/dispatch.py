"""EventBridge `rate(1 minute)` -> one message per configured pair on the pair queue."""

from __future__ import annotations

from typing import Any

from leadsync.fanout import dispatch
from leadsync.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The dispatcher: enqueues, never syncs."""
    return dispatch(event)
