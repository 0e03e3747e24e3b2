"""SQS pair queue -> one sync cycle per message (failed messages reported for redelivery)."""

from __future__ import annotations

import gc
from typing import Any

from leadsync.fanout import work
from leadsync.observability import logger, metrics, tracer

gc.freeze()  # see handlers.scheduled_sync: the imports' objects live as long as the container


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The worker: the same engine as every other entry point, one pair per message."""
    return work(event, context)
