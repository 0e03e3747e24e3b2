"""The one prologue of the signed routes (receiver._signed_json), the same order for each system:
no signature 401, no key 503, a wrong signature 403, a signed body that is not a JSON object 400."""

from __future__ import annotations

import base64

import pytest

from leadsync.webhooks import verify
from leadsync.webhooks.receiver import Request, WebhookSecrets, decide

URL = "https://hooks.example"
APP_SECRET = "trello-app-secret-0123456789abcdef"
TOKEN = "secret_notionVerificationToken0001"
MAC = base64.b64encode(b"\x07" * 32).decode()
HOOK = "achHOOKHOOKHOOK01"
SECRETS = WebhookSecrets(trello_app_secret=APP_SECRET, notion_verification_token=TOKEN, airtable={HOOK: MAC})
ROUTES = {
    "trello": ("/webhooks/trello/p1", "x-trello-webhook"),
    "notion": ("/webhooks/notion", "x-notion-signature"),
    "airtable": ("/webhooks/airtable/p1", "x-airtable-content-mac"),
}


def _signed(system: str, body: bytes) -> str:
    if system == "trello":
        return verify.trello_signature(body, URL + ROUTES[system][0], APP_SECRET)
    if system == "notion":
        return verify.notion_signature(body, TOKEN)
    return verify.airtable_mac(body, MAC)


def _post(system: str, body: bytes, signature: str | None, secrets: WebhookSecrets = SECRETS) -> tuple[int, str]:
    path, header = ROUTES[system]
    headers = {header: signature} if signature is not None else {}
    outcome = decide(Request("POST", path, headers, body, URL + path), [], secrets)
    return outcome.status, outcome.reason


@pytest.mark.parametrize("system", ["trello", "notion", "airtable"])
def test_each_signed_route_checks_header_key_signature_then_json_in_that_order(system: str) -> None:
    body = b"[1, 2]"
    if system != "notion":  # Notion's unsigned request is its handshake, checked apart
        assert _post(system, body, None)[0] == 401
    assert _post(system, body, _signed(system, body), WebhookSecrets())[0] == 503
    assert _post(system, body, _signed(system, b"other body"))[0] == 403
    assert _post(system, b"not json", _signed(system, b"not json"))[0] == 400
    assert _post(system, body, _signed(system, body)) == (400, "body is not a JSON object")
