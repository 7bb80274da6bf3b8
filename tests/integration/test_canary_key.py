"""A hostile local server echoes the key back in every way it can; no piece of it survives.

Canaries: the API key (from the environment), a secret header's value and the password of
the base_url's `user:password@`. The server (127.0.0.1) puts them in error bodies cut at
any length (straddling the 200- and 300-character cuts), in response headers, in a redirect,
in an in-stream error, in the answer text itself (which an invalid_output message quotes),
and echoes the Authorization header (Bearer and Basic) it was sent. No 8-character piece of
any canary may appear in stdout, stderr, the results file, the JUnit file or the reports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costcli.cli import app

KEY = "sk-canary-Q7v2LmN9pR4tX8wZ1yB6"
HEADER_SECRET = "hdr-canary-K3j5H8g2F6d4S9a1"
PASSWORD = "pw-canary-M4n7B2v5C8x1Z3q6"
CANARIES = (KEY, HEADER_SECRET, PASSWORD)
MODES = ("cut200", "cut300", "echo", "headers", "redirect", "instream", "answer")


class Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = self.path.split("/")[1]
        n = self.server.hits = getattr(self.server, "hits", 0) + 1  # type: ignore[attr-defined]
        everything = " ".join(CANARIES)
        echoed = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        if mode == "cut200":
            self._send(500, ("x" * (185 + n % 20) + everything).encode())
        elif mode == "cut300":
            msg = "m" * (285 + n % 20) + everything
            self._send(400, json.dumps({"error": {"message": msg}}).encode())
        elif mode == "echo":
            basic = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
            self._send(401, f"you sent:\n{echoed}\nAuthorization: Basic {basic}".encode())
        elif mode == "headers":
            self._send(503, f"see headers; {KEY[:12]}".encode(), {"X-Echo": everything})
        elif mode == "redirect":
            location = f"http://user:{PASSWORD}@127.0.0.1:1/{KEY}"
            self._send(302, f"moved to {location}".encode(), {"Location": location})
        elif mode in ("instream", "answer"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            text = json.dumps({"k": everything})
            chunk = {"choices": [{"delta": {"content": text}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if mode == "instream":
                err = {"error": {"message": "boom " + "e" * (290 + n % 20) + everything}}
                self.wfile.write(f"data: {json.dumps(err)}\n\n".encode())
            else:
                done = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()


@contextlib.contextmanager
def canary_server() -> Iterator[int]:
    """The echoing server on a free port of 127.0.0.1 (its port), stopped after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hostile() -> Iterator[int]:
    with canary_server() as port:
        yield port


def pieces(secret: str) -> set[str]:
    return {secret[i : i + 8] for i in range(len(secret) - 7)}


def leaked(text: str) -> list[str]:
    return sorted(p for s in CANARIES for p in pieces(s) if p in text)


def test_the_canaries_appear_in_no_output_results_report_or_junit(
    hostile: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_KEY", KEY)
    folder = tmp_path / "providers"
    folder.mkdir()
    for mode in MODES:
        (folder / f"{mode}.toml").write_text(
            f'name = "{mode}"\nadapter = "openai"\ndefault_model = "m"\n'
            f'base_url = "http://user:{PASSWORD}@127.0.0.1:{hostile}/{mode}/v1"\n'
            f'api_key_env = "CANARY_KEY"\nheaders = {{ api-key = "{HEADER_SECRET}" }}\n',
            encoding="utf-8",
        )
    schema = {"type": "object", "properties": {"k": {"enum": ["a"]}}}
    workload = tmp_path / "w.jsonl"
    rf = {"type": "json_schema", "json_schema": {"name": "k", "schema": schema}}
    workload.write_text(json.dumps({"prompt": "hi", "response_format": rf}) + "\n", "utf-8")
    out, junit, html = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "r.html"
    runner = CliRunner()
    targets = [a for mode in MODES for a in ("-t", mode)]
    run = runner.invoke(
        app,
        ["run", *targets, "--providers", str(folder), "--workload", str(workload), "-n", "4",
         "--max-retries", "0", "--records", "--no-progress", "-o", str(out), "-f", "json"],
    )  # fmt: skip
    assert run.exit_code in (1, 3), run.output  # every request failed, one way or another
    doc = json.loads(out.read_text(encoding="utf-8"))
    records = [r for t in doc["targets"] for r in t["records"]]
    assert len(records) == 4 * len(MODES)
    assert {r["error"] for r in records} >= {"server", "client", "invalid_output"}
    assert all(r["error_message"] for r in records)
    outputs = [run.stdout, run.stderr]
    for argv in (
        ["check", str(out), "--limit", "error_rate=0", "--junit", str(junit), "-f", "json"],
        ["check", str(out), "--limit", "error_rate=0", "-f", "markdown"],
        ["report", str(out), "--html", str(html)],
        ["report", str(out), "-f", "markdown"],
        ["providers", "show", "echo", "--providers", str(folder)],
        ["providers", "list", "--providers", str(folder), "-f", "json"],
    ):
        done = runner.invoke(app, argv)
        assert done.exception is None or isinstance(done.exception, SystemExit), argv
        outputs += [done.stdout, done.stderr]
    files = [p.read_text(encoding="utf-8") for p in (out, junit, html)]
    assert [leaked(text) for text in outputs + files] == [[]] * (len(outputs) + len(files))
    # and the test can see a leak: the canaries were in what the server sent
    assert leaked(f"Bearer {KEY}") != []
