"""Signature checks against independent signers written here from api-notes' reference code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from leadsync.webhooks.verify import (
    airtable_mac,
    trello_message,
    verify_airtable,
    verify_notion,
    verify_trello,
)

CALLBACK = "https://hooks.example.com/webhooks/trello/pair-1?x=1"
APP_SECRET = "b5f1c0ffee5ecret"
BODY = json.dumps({"action": {"id": "5f0c" * 6, "type": "updateCard"}, "model": {"id": "ab" * 12}}).encode()


def _trello_sign(body_text: str, url: str, secret: str) -> str:
    """api-notes §2.7: base64(HMAC-SHA1(secret, bytes([ord(c) & 0xFF for c in body + callbackURL])))."""
    message = bytes([ord(c) & 0xFF for c in (body_text + url)])
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()


def _notion_sign(body: bytes, token: str) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _airtable_sign(body: bytes, secret_b64: str) -> str:
    return "hmac-sha256=" + hmac.new(base64.b64decode(secret_b64), body, hashlib.sha256).hexdigest()


def test_trello_signature_of_the_reference_signer_is_accepted() -> None:
    assert verify_trello(BODY, _trello_sign(BODY.decode(), CALLBACK, APP_SECRET), CALLBACK, APP_SECRET)


def test_trello_non_ascii_body_is_signed_over_latin1_truncated_characters() -> None:
    text = json.dumps({"action": {"data": {"card": {"name": "Acme \u2013 Größe"}}}}, ensure_ascii=False)
    body = text.encode("utf-8")
    assert verify_trello(body, _trello_sign(text, CALLBACK, APP_SECRET), CALLBACK, APP_SECRET)
    # a signer over the UTF-8 bytes (the common mistake) does not match Trello's
    wrong = base64.b64encode(hmac.new(APP_SECRET.encode(), body + CALLBACK.encode(), hashlib.sha1).digest()).decode()
    assert not verify_trello(body, wrong, CALLBACK, APP_SECRET)


def test_trello_character_outside_the_bmp_counts_as_two_utf16_units() -> None:
    assert trello_message("😀".encode(), "") == bytes([0x3D, 0x00])  # U+D83D U+DE00, low bytes


def _sign_bytes(message: bytes) -> str:
    return base64.b64encode(hmac.new(APP_SECRET.encode(), message, hashlib.sha1).digest()).decode()


def test_trello_emoji_body_is_accepted_from_both_readings_of_the_documented_formula() -> None:
    """Node's signer (two bytes per emoji) and the notes' ``ord(c) & 0xFF`` per character (one)."""
    text = json.dumps({"action": {"data": {"card": {"name": "Deal 😀 closed"}}}}, ensure_ascii=False)
    body = text.encode("utf-8")
    node = text.encode("utf-16-le", errors="surrogatepass")[0::2] + CALLBACK.encode()
    per_character = bytes(ord(c) & 0xFF for c in text + CALLBACK)
    assert node != per_character
    assert verify_trello(body, _sign_bytes(node), CALLBACK, APP_SECRET)
    assert verify_trello(body, _sign_bytes(per_character), CALLBACK, APP_SECRET)
    assert not verify_trello(body, _sign_bytes(body + CALLBACK.encode()), CALLBACK, APP_SECRET)  # UTF-8: not Trello's
    assert not verify_trello(body, _sign_bytes(per_character), CALLBACK, "another-secret")


@pytest.mark.parametrize(
    ("body", "url", "secret", "why"),
    [
        (BODY + b" ", CALLBACK, APP_SECRET, "body changed after signing"),
        (BODY, CALLBACK.replace("?x=1", ""), APP_SECRET, "callback URL without its query string"),
        (BODY, CALLBACK, "another-secret", "another app secret"),
    ],
)
def test_trello_signature_fails_when_anything_signed_differs(body: bytes, url: str, secret: str, why: str) -> None:
    assert not verify_trello(body, _trello_sign(BODY.decode(), CALLBACK, APP_SECRET), url, secret), why


def test_trello_missing_or_garbage_signature_and_non_utf8_body_are_refused() -> None:
    assert not verify_trello(BODY, None, CALLBACK, APP_SECRET)
    assert not verify_trello(BODY, "", CALLBACK, APP_SECRET)
    assert not verify_trello(BODY, "not base64 ✗", CALLBACK, APP_SECRET)
    assert not verify_trello(b"\xff\xfe", _trello_sign("", CALLBACK, APP_SECRET), CALLBACK, APP_SECRET)
    assert not verify_trello(BODY, _trello_sign(BODY.decode(), CALLBACK, APP_SECRET), CALLBACK, "")


def test_notion_signature_of_the_reference_signer_is_accepted_and_a_changed_body_is_not() -> None:
    token = "secret_abcdefghijklmnop"
    body = b'{"id":"0b7b1f9c-2f1d-4d86-a9b1-0b8a3b7a9d11","type":"page.properties_updated"}'
    signature = _notion_sign(body, token)
    assert verify_notion(body, signature, token)
    assert not verify_notion(body.replace(b"updated", b"deleted"), signature, token)
    assert not verify_notion(body, signature, "secret_other")
    assert not verify_notion(body, signature.removeprefix("sha256="), token)  # the scheme prefix is part of it
    assert not verify_notion(body, None, token)
    assert not verify_notion(body, signature, "")


def test_airtable_mac_of_the_reference_signer_is_accepted_under_any_configured_secret() -> None:
    mine, other = base64.b64encode(b"\x01" * 32).decode(), base64.b64encode(b"\x02" * 32).decode()
    body = (
        b'{"base":{"id":"appAAAAAAAAAAAAAA"},"webhook":{"id":"achBBBBBBBBBBBBBB"},'
        b'"timestamp":"2026-01-01T00:00:00.000Z"}'
    )
    mac = _airtable_sign(body, mine)
    assert airtable_mac(body, mine) == mac
    assert verify_airtable(body, mac, [other, mine])
    assert not verify_airtable(body, mac, [other])
    assert not verify_airtable(body + b"\n", mac, [mine])
    assert not verify_airtable(body, None, [mine])
    assert not verify_airtable(body, mac, [])
    assert not verify_airtable(body, mac, ["***not base64***"])
