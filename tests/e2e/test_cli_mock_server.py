"""`costcli mock-server` on a port that is taken: one line, exit 2."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any


def test_a_taken_port_is_one_line_naming_the_port_and_the_fix(cli: Callable[..., Any]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("mock-server", "--port", str(port))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"costcli: error: --port {port}: cannot listen on 127.0.0.1")
    assert "pick another port or 0 for a free one" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
