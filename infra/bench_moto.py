"""moto, made to answer like DynamoDB in cost as well as in content, for the bench's long runs.

Two things in moto 5 cost the bench far more than DynamoDB would, and both grow with the table:

- ``BaseModel.__new__`` appends every model object it creates to a class-level ``instances_tracked``
  list (it feeds the moto server's dashboard) that nothing empties until ``reset_model_data``.
- its response serializer walks every attribute of every item through the service model: a Query
  page of 5,000 links took about 6 s here (2 s of the bench process's CPU per 1,000 items under load),
  and the product lists a pair's links in each invocation of a large first sync.
- ``transact_write_items`` takes its rollback copy by deep-copying the whole table once per item
  of the transaction: a fenced commit of 99 writes on a 1,000-link table copies 99,000 items (13 s
  here), and with the tracking above every copy stays alive. At 1,000 leads the bench process grew
  by about 0.6 GB per invocation, and each invocation did less than the one before, because the
  emulators' and moto's time counts as the services' answer time on the virtual clock.

`tune_moto` switches the tracking off, gives transactions a rollback copy of only the items they
touch (taken before, put back when moto cancels the transaction), which is what all-or-nothing needs,
and writes a result's ``Items`` (already DynamoDB JSON) with ``json.dumps`` when they hold only JSON
types (the rest of the answer still goes through moto's serializer; binary values or anything else
take moto's path whole). Everything else (conditions, cancellation reasons, the answers) is moto's own code.

Run as a script (``python infra/bench_moto.py --port P [--serialize]``), it serves a tuned moto in
a process of its own, as the benches start it: DynamoDB and SQS are services of their own in AWS,
and in the bench process moto's CPU would compete under one GIL with the emulators' (and, in the
fan-out, with the workers'), making every answer wait on the simulation rather than the service.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import threading
import types
from typing import Any

_SavedItem = tuple[Any, Any, Any, Any]  # (table, hash key, range key, the item's copy or None)


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def _not_table_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for moto's DynamoDB backend module, except that a table is not copied."""
    from moto.dynamodb.models.table import Table

    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[_SavedItem]:
    """A copy of every item the transaction names (None where there is none yet)."""
    saved: list[_SavedItem] = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue  # moto refuses it before writing anything
        op_type, op = next(iter(entry.items()))
        try:
            table = backend.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            hash_key, range_key = backend.get_keys_value(table, key)
            item = table.get_item(hash_key, range_key)
        except Exception:  # noqa: S112 - an invalid operation: moto fails it before any write of its own
            continue
        saved.append((table, hash_key, range_key, copy.deepcopy(item)))
    return saved


def _put_back(saved: list[_SavedItem]) -> None:
    """Every touched item as it was before the transaction, in reverse order (a key named twice ends first)."""
    for table, hash_key, range_key, item in reversed(saved):
        if table.has_range_key:
            if item is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item


def _transact_write_items(original: Any) -> Any:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            _put_back(saved)  # moto's own rollback puts back the table object it did not copy: a no-op
            raise

    transact_write_items.tuned = True  # type: ignore[attr-defined]
    return transact_write_items


def _plain(value: Any) -> bool:
    """Whether ``json.dumps`` writes ``value`` as moto's serializer would: str, int, float, bool, list, dict."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, str | int | float | bool)


def _fast_items(original: Any) -> Any:
    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        items = result.get("Items") if isinstance(result, dict) else None
        if not isinstance(items, list) or not _plain(items):
            return original(self, context)
        rest = copy.copy(self)
        rest._result = {k: v for k, v in result.items() if k != "Items"}
        status, headers, body = original(rest, context)
        answer = json.loads(body)
        answer["Items"] = items
        return status, headers, json.dumps(answer)

    execute_result.tuned = True  # type: ignore[attr-defined]
    execute_result.original = original  # type: ignore[attr-defined]
    return execute_result


def tune_moto() -> None:
    """Switch off moto's instance tracking and its whole-table transaction copies (idempotent)."""
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data
    from moto.dynamodb import models as dynamodb_models

    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign,assignment]
    reset_model_data()
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=_not_table_deepcopy)  # type: ignore[assignment]
    backend = dynamodb_models.DynamoDBBackend
    if not getattr(backend.transact_write_items, "tuned", False):
        backend.transact_write_items = _transact_write_items(backend.transact_write_items)  # type: ignore[method-assign]
    from moto.dynamodb.responses import DynamoResult

    if not getattr(DynamoResult.execute_result, "tuned", False):
        DynamoResult.execute_result = _fast_items(DynamoResult.execute_result)  # type: ignore[method-assign]


def serialize_moto() -> None:
    """One request at a time per service in the moto server: its DynamoDB deep-copies tables inside
    TransactWriteItems and fails ("dictionary changed size during iteration") when concurrent
    workers write meanwhile, so DynamoDB requests take turns, and so do the other services' (SQS)
    among themselves, while a DynamoDB request and an SQS one may overlap, as two services do.
    DynamoDB itself has no such limit; moto answers in milliseconds."""
    from moto.moto_server import werkzeug_app

    app = werkzeug_app.DomainDispatcherApplication
    if getattr(app, "_bench_serialized", False):
        return
    original = app.__call__
    dynamodb, others = threading.Lock(), threading.Lock()

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        with dynamodb if target.startswith("DynamoDB") else others:
            return original(self, environ, start_response)

    app.__call__ = call  # type: ignore[method-assign]
    app._bench_serialized = True  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    """Serve a tuned moto on 127.0.0.1:``--port`` until stdin closes (the bench's end or death)."""
    import logging

    from moto.server import ThreadedMotoServer

    parser = argparse.ArgumentParser(description="a tuned moto server for the benches")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--serialize", action="store_true", help="answer one request at a time per service")
    args = parser.parse_args(argv)
    tune_moto()
    if args.serialize:
        serialize_moto()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print("ready", flush=True)
    sys.stdin.read()  # returns when the bench closes the pipe or exits
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
