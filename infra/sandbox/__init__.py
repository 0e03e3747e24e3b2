"""Local emulators of the Notion, Trello, Airtable and Google Sheets APIs (see docs/sandbox.md)."""

from sandbox.clock import Clock
from sandbox.common import Emulator, HttpError, json_response, read_json, text_response
from sandbox.faults import FAULT_KINDS, FaultSwitchboard
from sandbox.ratelimit import Decision, RateLimiter
from sandbox.suite import EMULATORS, Sandbox

__all__ = [
    "EMULATORS",
    "FAULT_KINDS",
    "Clock",
    "Decision",
    "Emulator",
    "FaultSwitchboard",
    "HttpError",
    "RateLimiter",
    "Sandbox",
    "json_response",
    "read_json",
    "text_response",
]
