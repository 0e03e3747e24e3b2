"""HTTP API `/webhooks/...` -> verified hints on the pair queue (never a sync)."""

from __future__ import annotations

from functools import cache
from typing import Any

from leadsync.observability import logger, metrics, tracer
from leadsync.webhooks.service import Receiver, build_receiver


@cache
def _receiver() -> Receiver:
    return build_receiver()  # clients built once per container


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Verify, map to pairs, enqueue hints, answer."""
    return _receiver().handle(event)
