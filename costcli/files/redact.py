"""Keeping secrets out of everything costcli writes: one function, applied before any cut.

A target's secrets are the value of its `api_key_env`, the values of its secret headers
(any header whose name holds key, token, auth or secret) and the credentials of its
`base_url` (user:password@, also as the Basic credential httpx derives from them).
`Redactor.__call__` removes, from any text:

- every secret, and every run of 8 or more characters copied from one (a server that
  echoes half a key, or a message cut through the middle of one, leaks no piece of it);
- any `Bearer ...` or `Basic ...` credential;
- any `user:password@` in a URL.

Adapters redact provider text *before* truncating it, so a key straddling the cut cannot
leave its first characters behind.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "[redacted]"
PIECE = 8  # the shortest run copied from a secret that is masked
MIN_SECRET = 4  # shorter values are not treated as secrets (they would mask common text)
SECRET_HEADER = re.compile(r"key|token|auth|secret|password|cookie", re.IGNORECASE)
CREDENTIAL = re.compile(r"\b(Bearer|Basic)(\s+)[^\s\"',;<>]+", re.IGNORECASE)
# bounded runs: an unbounded scheme or userinfo makes a long run of letters (a hostile
# server's 1 MiB error body) take quadratic time to scan
URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]{0,31}://)[^/\s@\"'<>]{0,1024}@", re.IGNORECASE)


def is_secret_header(name: str) -> bool:
    return bool(SECRET_HEADER.search(name))


def url_credentials(url: str | None) -> list[str]:
    """The user, password and the Basic credential of a URL's `user:password@` part."""
    if not url or "@" not in url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    found = [user, password, f"{user}:{password}"]
    found.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    return [s for s in found if s]


def without_url_credentials(text: str) -> str:
    return URL_CREDENTIALS.sub(rf"\1{MASK}@", text)


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: MASK if is_secret_header(k) else v for k, v in headers.items()}


def masked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A provider file's settings as `providers show` prints them: secret headers and URL
    credentials masked."""
    out = dict(settings)
    if isinstance(out.get("headers"), dict):
        out["headers"] = masked_headers(out["headers"])
    if isinstance(out.get("base_url"), str):
        out["base_url"] = without_url_credentials(out["base_url"])
    return out


@dataclass(frozen=True)
class Redactor:
    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Redactor:
        found: set[str] = set()
        for value in values:
            if not value:
                continue
            found.add(value)
            # a header value "Bearer X" or "Basic X": X is the secret too
            _, sep, rest = value.partition(" ")
            if sep and rest:
                found.add(rest.strip())
        return cls(tuple(sorted((s for s in found if len(s) >= MIN_SECRET), key=len)))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for secret in reversed(self.secrets):  # longest first
            text = text.replace(secret, MASK)
        text = _mask_pieces(text, self.secrets)
        text = CREDENTIAL.sub(rf"\1\2{MASK}", text)
        return without_url_credentials(text)


def _mask_pieces(text: str, secrets: tuple[str, ...]) -> str:
    """Mask every run of text covered by PIECE-character windows copied from a secret."""
    grams = {s[i : i + PIECE] for s in secrets for i in range(len(s) - PIECE + 1)}
    if not grams or len(text) < PIECE:
        return text
    covered = bytearray(len(text))
    hit = False
    for i in range(len(text) - PIECE + 1):
        if text[i : i + PIECE] in grams:
            covered[i : i + PIECE] = b"\x01" * PIECE
            hit = True
    if not hit:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
