"""Signature checks of the three webhook schemes: pure, over the raw body bytes, constant time.

Each function answers whether ``signature`` (the header's value, ``None`` when absent) is the one the
sender computes for ``body``; none of them parses or re-serialises the body (api-notes trap 25).

- Trello: ``X-Trello-Webhook = base64(HMAC-SHA1(app secret, body + callbackURL))``; the sender's
  string is "binary" (latin-1): every character of body text and URL is cut to its low 8 bits.
- Notion: ``X-Notion-Signature = "sha256=" + hex(HMAC-SHA256(verification token, body))``.
- Airtable: ``X-Airtable-Content-MAC = "hmac-sha256=" + hex(HMAC-SHA256(b64decode(macSecretBase64), body))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable


def trello_message(body: bytes, callback_url: str) -> bytes:
    """The bytes Trello signs: body text and callback URL, each UTF-16 code unit cut to its low 8 bits.

    Trello's Node signer treats the string as "binary": a character outside the BMP is two code
    units (a surrogate pair), so two bytes. UnicodeDecodeError when the body is not UTF-8.
    """
    text = body.decode("utf-8") + callback_url
    return text.encode("utf-16-le", errors="surrogatepass")[0::2]


def trello_signature(body: bytes, callback_url: str, app_secret: str) -> str:
    """The ``X-Trello-Webhook`` value for ``body`` delivered to ``callback_url``."""
    digest = hmac.new(app_secret.encode("utf-8"), trello_message(body, callback_url), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _trello_messages(body: bytes, callback_url: str) -> list[bytes]:
    """Every reading of the signed string a Trello signer may have used (one when all is in the BMP).

    Node (Trello's own signer) cuts each UTF-16 code unit, so a character outside the BMP gives two
    bytes; a signer written from the documented formula (``ord(c) & 0xFF`` per character) gives one.
    Both need the app secret, so accepting either weakens nothing.
    """
    units = trello_message(body, callback_url)
    points = bytes(ord(c) & 0xFF for c in body.decode("utf-8") + callback_url)
    return [units] if points == units else [units, points]


def verify_trello(body: bytes, signature: str | None, callback_url: str, app_secret: str) -> bool:
    """Whether ``signature`` is Trello's for ``body`` and the exact registered ``callback_url``."""
    if not signature or not app_secret:
        return False
    try:
        messages = _trello_messages(body, callback_url)
    except UnicodeDecodeError:
        return False
    given = signature.strip().encode("utf-8", "replace")
    key = app_secret.encode("utf-8")
    found = False
    for message in messages:  # every reading compared, in constant time each
        expected = base64.b64encode(hmac.new(key, message, hashlib.sha1).digest())
        found |= hmac.compare_digest(expected, given)
    return found


def notion_signature(body: bytes, verification_token: str) -> str:
    """The ``X-Notion-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(verification_token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_notion(body: bytes, signature: str | None, verification_token: str) -> bool:
    """Whether ``signature`` is Notion's for ``body`` signed with the subscription's token."""
    if not signature or not verification_token:
        return False
    expected = notion_signature(body, verification_token)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))


def airtable_mac(body: bytes, mac_secret_base64: str) -> str:
    """The ``X-Airtable-Content-MAC`` value for ``body``; ValueError when the secret is not base64."""
    try:
        key = base64.b64decode(mac_secret_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the Airtable MAC secret is not base64") from exc
    return "hmac-sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_airtable(body: bytes, signature: str | None, mac_secrets_base64: Iterable[str]) -> bool:
    """Whether ``signature`` is the MAC of ``body`` under one of the webhooks' secrets.

    Every secret is tried (no early exit), so the time taken does not tell which one matched.
    """
    if not signature:
        return False
    given = signature.strip().encode("utf-8", "replace")
    matched = False
    for secret in mac_secrets_base64:
        try:
            expected = airtable_mac(body, secret)
        except ValueError:
            continue
        matched |= hmac.compare_digest(expected.encode("ascii"), given)
    return matched
