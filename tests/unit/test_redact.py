"""One redaction for every string that leaves an adapter: keys, credentials, pieces of them."""

from __future__ import annotations

import base64
import json

import pytest

from costcli.adapters.base import TransportOptions
from costcli.adapters.catalog import Target, for_target
from costcli.adapters.openai import OpenAIAdapter, error_message
from costcli.files.redact import MASK, Redactor, masked_settings

KEY = "sk-canary-0123456789abcdefXYZ"


def pieces(secret: str, n: int = 8) -> list[str]:
    return [secret[i : i + n] for i in range(len(secret) - n + 1)]


def leaks(text: str, secret: str) -> list[str]:
    return [p for p in pieces(secret) if p in text]


@pytest.mark.parametrize("offset", range(180, 205))
def test_a_key_straddling_the_200_character_cut_leaves_no_piece(offset: int) -> None:
    body = ("x" * offset + KEY + "y" * 50).encode()
    text = error_message(body, Redactor.of([KEY]))
    assert leaks(text, KEY) == []
    assert len(text) <= 200


@pytest.mark.parametrize("offset", range(280, 305))
def test_a_key_straddling_the_300_character_cut_of_a_json_message_leaves_no_piece(
    offset: int,
) -> None:
    body = json.dumps({"error": {"message": "m" * offset + KEY + "z" * 40}}).encode()
    assert leaks(error_message(body, Redactor.of([KEY])), KEY) == []


def test_half_a_key_echoed_is_masked_and_so_are_bearer_basic_and_url_credentials() -> None:
    redact = Redactor.of([KEY])
    basic = base64.b64encode(b"user:hunter2-password").decode()
    text = (
        f"saw {KEY[:15]} and {KEY[10:]}; Authorization: Bearer abc.def-ghi; "
        f"Authorization: Basic {basic}; url https://user:hunter2-password@h.example/v1"
    )
    out = redact(text)
    assert leaks(out, KEY) == []
    assert "abc.def-ghi" not in out
    assert basic not in out
    assert "hunter2" not in out
    assert out.count(MASK) >= 5
    assert "https://[redacted]@h.example/v1" in out


def test_a_targets_secrets_are_its_key_its_secret_headers_and_its_url_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_KEY", KEY)
    target = Target(
        "acme",
        "m",
        "openai",
        "http://bob:s3cret-pass@127.0.0.1:9/v1",
        "CANARY_KEY",
        headers={"api-key": "header-secret-1", "X-Trace": "visible-value"},
    )
    redact = for_target(target)
    out = redact(f"{KEY} header-secret-1 visible-value s3cret-pass")
    assert out == f"{MASK} {MASK} visible-value {MASK}"
    adapter = OpenAIAdapter(target, TransportOptions())
    assert adapter.redact(KEY) == MASK


def test_providers_show_masks_secret_headers_and_url_credentials() -> None:
    shown = masked_settings(
        {
            "headers": {"api-key": "v1", "X-Auth-Token": "v2", "Accept-Language": "fr"},
            "base_url": "https://me:pw@h/v1",
        }
    )
    assert shown["headers"] == {"api-key": MASK, "X-Auth-Token": MASK, "Accept-Language": "fr"}
    assert shown["base_url"] == f"https://{MASK}@h/v1"


@pytest.mark.parametrize(
    "text",
    ["e" * (1 << 20), "a://" * (1 << 18), "http://" + "u" * (1 << 20)],
    ids=["letters", "schemes", "endless-userinfo"],
)
def test_a_megabyte_of_hostile_text_is_scanned_in_one_pass(text: str) -> None:
    """The URL-credential pattern is bounded: these took quadratic time (hours) before."""
    redact = Redactor.of(["sk-canary-Q7v2LmN9pR4tX8wZ1yB6"])
    assert redact(text) == text


def test_url_credentials_after_a_long_word_are_still_masked() -> None:
    redact = Redactor.of([])
    assert redact("x" * 40 + "http://user:pw@host/") == "x" * 40 + "http://[redacted]@host/"
