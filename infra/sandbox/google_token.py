"""Google OAuth 2.0 token endpoint (service-account JWT bearer grant) for the Sheets emulator.

`POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`:
the JWT's signature is verified against the public key registered for its `iss` (the service account
email), `aud` must be Google's token URL (what google-auth always puts there) or the sandbox's own
token URI, `iat`/`exp` must describe a token of at most one hour around now, and `scope` must be set.
"Now" is judged as Google judges it for a client on real time: an assertion stamped by the real
clock is good whatever the sandbox clock says (tests move it by hours); so is one stamped by the
sandbox clock, for clients whose clock was put on the sandbox's (the e2e harness, the bench).
Issued access tokens expire by the sandbox clock: moving it an hour on expires them, as an hour
passing would, and the API then answers 401 UNAUTHENTICATED until a new token is fetched.
Answers like Google: `{"access_token":"ya29.…","expires_in":3599,"token_type":"Bearer"}` or
400 `{"error":"invalid_grant","error_description":…}`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["GOOGLE_TOKEN_URLS", "JWT_GRANT_TYPE", "IssuedToken", "TokenIssuer", "generate_service_account"]

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URLS = ("https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token")
TOKEN_LIFETIME_S = 3599
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 300


@dataclass(frozen=True)
class IssuedToken:
    """An access token the endpoint handed out."""

    client_email: str
    scopes: tuple[str, ...]
    expires_at: float


class TokenGrantError(ValueError):
    """A refused grant: `error` code and human description, as Google's token endpoint sends them."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        """The JSON body of the refusal."""
        return {"error": self.error, "error_description": self.description}


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenIssuer:
    """Registered service accounts and the access tokens issued to them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._tokens: dict[str, IssuedToken] = {}

    def register(self, client_email: str, public_key_pem: str | bytes) -> None:
        """Trust `public_key_pem` (PEM public key or X.509 certificate) for `client_email`."""
        data = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        if b"CERTIFICATE" in data:
            from cryptography import x509

            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("only RSA keys are supported")
        with self._lock:
            self._keys[client_email] = key

    def clear_tokens(self) -> None:
        """Forget every issued token (registered accounts stay)."""
        with self._lock:
            self._tokens.clear()

    def lookup(self, token: str) -> IssuedToken | None:
        """The issued token record, or None when this issuer never made `token`."""
        with self._lock:
            return self._tokens.get(token)

    def issue(self, client_email: str, scopes: tuple[str, ...], expires_at: float) -> str:
        """Record and return a new access token (what a successful exchange hands out)."""
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(client_email, scopes, expires_at)
        return token

    def exchange(
        self, form: dict[str, str], now: float, audiences: tuple[str, ...], real_now: float | None = None
    ) -> dict[str, Any]:
        """Handle one token request; returns the success body or raises TokenGrantError.

        `now` is the sandbox clock (issued tokens expire by it); the assertion's `iat`/`exp` are
        judged against real time (`real_now`, default `time.time()`) or, failing that, `now`."""
        grant_type = form.get("grant_type", "")
        if grant_type != JWT_GRANT_TYPE:
            raise TokenGrantError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        claims = self._verify(form.get("assertion", ""))
        self._check_claims(claims, (time.time() if real_now is None else real_now, now), audiences)
        scope = str(claims.get("scope", "")).strip()
        if not scope:
            raise TokenGrantError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = self.issue(str(claims["iss"]), tuple(scope.split()), now + TOKEN_LIFETIME_S)
        return {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}

    def _verify(self, assertion: str) -> dict[str, Any]:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise TokenGrantError("invalid_grant", "Invalid JWT: not a JWS compact serialization.")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, json.JSONDecodeError):
            raise TokenGrantError("invalid_grant", "Invalid JWT: malformed.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
            raise TokenGrantError("invalid_grant", "Invalid JWT: unsupported algorithm.")
        with self._lock:
            key = self._keys.get(str(claims.get("iss", "")))
        if key is None:
            raise TokenGrantError("invalid_grant", "Invalid grant: account not found")
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenGrantError("invalid_grant", "Invalid JWT Signature.") from None
        return claims

    @staticmethod
    def _check_claims(claims: dict[str, Any], nows: tuple[float, ...], audiences: tuple[str, ...]) -> None:
        if claims.get("aud") not in audiences:
            raise TokenGrantError("invalid_grant", "Invalid JWT: Failed audience check.")
        try:
            iat, exp = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise TokenGrantError("invalid_grant", "Invalid JWT: iat and exp are required.") from None
        in_time = any(iat <= now + CLOCK_SKEW_S and exp >= now - CLOCK_SKEW_S for now in nows)
        if exp - iat > MAX_ASSERTION_LIFETIME_S or not in_time:
            raise TokenGrantError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )


def generate_service_account(
    client_email: str, token_uri: str, project_id: str = "leadsync-sandbox"
) -> tuple[dict[str, str], str]:
    """A service-account JSON info dict with a fresh 2048-bit RSA key, and its public key PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + client_email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }
    return info, public_pem
