"""`costcli mock-server`: the OpenAI-compatible mock server (offline demo and test fixture)."""

from __future__ import annotations

from pathlib import Path

import typer


def mock_server_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", help="0 picks a free port."),
    ttft_ms: float = typer.Option(50.0, "--ttft-ms"),
    itl_ms: float = typer.Option(10.0, "--itl-ms"),
    output_tokens: int = typer.Option(32, "--output-tokens"),
    jitter_ms: float = typer.Option(0.0, "--jitter-ms"),
    dialect: str = typer.Option("openai", "--dialect", help="openai, groq or llamacpp"),
    error_rate: float = typer.Option(0.0, "--error-rate", min=0.0, max=1.0),
    rate_limit_every: int = typer.Option(0, "--rate-limit-every", min=0),
    retry_after: float = typer.Option(1.0, "--retry-after", min=0.0),
    abort_every: int = typer.Option(0, "--abort-every", min=0),
    stream_error_every: int = typer.Option(0, "--stream-error-every", min=0),
    send_log: Path | None = typer.Option(None, "--send-log"),
    seed: int = typer.Option(0, "--seed"),
    reasoning_chunks: int = typer.Option(
        0, "--reasoning-chunks", min=0, help="Reasoning deltas before the answer."
    ),
    reasoning_field: str = typer.Option(
        "reasoning_content", "--reasoning-field", help="reasoning_content or reasoning."
    ),
    answer_delay_ms: float = typer.Option(
        0.0, "--answer-delay-ms", min=0.0, help="Wait between reasoning and answer."
    ),
    prompt_cache_min: int = typer.Option(
        0, "--prompt-cache-min", min=0, help="Report cached tokens of a repeated prefix this long."
    ),
    bad_tool_args_every: int = typer.Option(
        0, "--bad-tool-args-every", min=0, help="Every Nth tool call: invalid arguments."
    ),
    tag_answers: bool = typer.Option(False, "--tag-answers", help="Answers start answer-N."),
    request_log: Path | None = typer.Option(
        None, "--request-log", help="Append each chat request body as a JSON line."
    ),
) -> None:
    """Serve /v1/chat/completions with scripted latency, tokens and faults."""
    from costcli.files.errors import BadInputError
    from costcli.testing import mock_server

    if dialect not in ("openai", "groq", "llamacpp"):
        raise BadInputError(f"--dialect {dialect}: use openai, groq or llamacpp")
    if reasoning_field not in ("reasoning_content", "reasoning"):
        raise BadInputError(
            f"--reasoning-field {reasoning_field}: use reasoning_content or reasoning"
        )

    config = mock_server.MockConfig(
        host=host,
        port=port,
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        output_tokens=output_tokens,
        jitter_ms=jitter_ms,
        dialect=dialect,  # type: ignore[arg-type]
        error_rate=error_rate,
        rate_limit_every=rate_limit_every,
        retry_after=retry_after,
        abort_every=abort_every,
        stream_error_every=stream_error_every,
        send_log=str(send_log) if send_log else None,
        seed=seed,
        reasoning_chunks=reasoning_chunks,
        reasoning_field=reasoning_field,  # type: ignore[arg-type]
        answer_delay_ms=answer_delay_ms,
        prompt_cache_min=prompt_cache_min,
        bad_tool_args_every=bad_tool_args_every,
        tag_answers=tag_answers,
        request_log=str(request_log) if request_log else None,
    )
    try:
        mock_server.run(config)
    except OSError as exc:
        raise BadInputError(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "pick another port or 0 for a free one"
        ) from None
