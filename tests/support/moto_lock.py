"""One AWS call at a time across threads, for tests where moto runs in-process.

moto's DynamoDB is not thread-safe: a transaction deep-copies the table while another thread's
``PutItem`` changes it ("dictionary changed size during iteration"). In the webhook tests the receiver
answers on the local HTTP API's threads while the main thread runs cycles, so every botocore call is
serialized here. Real DynamoDB needs no such thing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import botocore.client


@contextlib.contextmanager
def serialized_aws_calls() -> Iterator[None]:
    lock = threading.RLock()
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: Any) -> Any:
        with lock:
            return original(self, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", call):
        yield
