"""Which failures mean "the server closed the connection before any byte of an answer" (a
request safe to send again), whichever HTTP library reported them."""

from __future__ import annotations

import importlib.util

import httpx
import pytest

from costcli.adapters.transport import closed_unanswered

HTTPX_UNANSWERED = [
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
    httpx.ReadError("[Errno 104] Connection reset by peer"),
    httpx.WriteError("[Errno 32] Broken pipe"),
]


@pytest.mark.parametrize("exc", HTTPX_UNANSWERED, ids=lambda e: type(e).__name__)
def test_an_httpx_close_before_the_response_is_unanswered(exc: BaseException) -> None:
    assert closed_unanswered(exc)


@pytest.mark.parametrize(
    "exc",
    [None, ValueError("x"), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
    ids=repr,
)
def test_a_refused_connection_a_timeout_or_a_bug_is_not(exc: BaseException | None) -> None:
    assert not closed_unanswered(exc)


@pytest.mark.skipif(importlib.util.find_spec("aiohttp") is None, reason="aiohttp not installed")
def test_aiohttp_tells_a_close_before_any_byte_from_one_after_part_of_the_head() -> None:
    import aiohttp

    assert closed_unanswered(aiohttp.ServerDisconnectedError())
    assert closed_unanswered(aiohttp.ClientOSError(104, "Connection reset by peer"))
    assert closed_unanswered(aiohttp.ClientConnectionResetError("the connection closed"))
    partial_head = object()  # aiohttp hands over the part of the head it had parsed
    assert not closed_unanswered(aiohttp.ServerDisconnectedError(partial_head))
    refused = aiohttp.ClientConnectorError(None, ConnectionRefusedError(111, "refused"))
    assert not closed_unanswered(refused)
