"""Outgoing webhook calls of the emulators: a background sender with retries and a switch to drop,
delay, duplicate or reorder deliveries (what real services do now and then, and what a receiver must
survive: it treats every call as a hint, never as data).

Each emulator that sends webhooks owns one `Deliverer`. `submit` never blocks the API request that
caused the change; `wait_idle` lets a test wait until every call (and retry) has been made.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests


@dataclass
class Delivery:
    """One call: POST ``body`` with ``headers`` to ``url``; ``done(status)`` gets the final status
    (``None`` when no connection could be made) after the retries."""

    url: str
    body: bytes
    headers: dict[str, str]
    done: Callable[[int | None], None] = lambda status: None


@dataclass
class DeliverySwitch:
    """How deliveries misbehave: each one is dropped with probability ``drop``, sent twice with
    probability ``duplicate``; the sender waits ``delay_s`` before each batch, and with ``reorder``
    sends the batch in a shuffled order. Seeded, so a run can be repeated."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay_s: float = 0.0
    reorder: bool = False
    seed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"sent": 0, "dropped": 0, "duplicated": 0, "failed": 0})


class Deliverer:
    """A daemon thread sending `Delivery`s in order (unless reordered), ``retries`` retries each."""

    def __init__(self, retries: int = 3, retry_delay_s: float = 0.2, timeout_s: float = 30.0) -> None:
        self.retries, self.retry_delay_s, self.timeout_s = retries, retry_delay_s, timeout_s
        self.switch = DeliverySwitch()
        self._random = random.Random(0)
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._busy = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def configure(self, **settings: object) -> DeliverySwitch:
        """Replace the switch (``drop``, ``duplicate``, ``delay_s``, ``reorder``, ``seed``)."""
        self.switch = DeliverySwitch(**settings)  # type: ignore[arg-type]
        self._random = random.Random(self.switch.seed)
        return self.switch

    def submit(self, delivery: Delivery) -> None:
        with self._idle:
            self._busy += 1
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()
        self._queue.put(delivery)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted delivery is done; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            if self.switch.delay_s:
                time.sleep(self.switch.delay_s)
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self.switch.reorder:
                self._random.shuffle(batch)
            for delivery in batch:
                try:
                    self._deliver(delivery)
                finally:
                    with self._idle:
                        self._busy -= 1
                        self._idle.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        if self._random.random() < self.switch.drop:
            self.switch.counts["dropped"] += 1
            return
        copies = 2 if self._random.random() < self.switch.duplicate else 1
        self.switch.counts["duplicated"] += copies - 1
        for _ in range(copies):
            status = self._send_with_retries(delivery)
            delivery.done(status)

    def _send_with_retries(self, delivery: Delivery) -> int | None:
        status: int | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_delay_s)
            try:
                sent = requests.post(delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout_s)
                status = sent.status_code
            except requests.RequestException:
                status = None
            self.switch.counts["sent"] += 1
            if status is not None and (200 <= status < 300 or status == 410):
                return status
        self.switch.counts["failed"] += 1
        return status
