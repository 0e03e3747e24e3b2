"""Events as Lambda's event sources hand them to a function, for local runs, tests and benchmarks."""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"


def sqs_event(messages: list[dict[str, Any]], queue_url: str) -> dict[str, Any]:
    """The event the SQS event source hands the worker for these received messages.

    ``messages`` as ``ReceiveMessage`` returns them (with ``AttributeNames=["All"]``); the queue's
    ARN is made from the last segment of ``queue_url``.
    """
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[1]}"
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }
