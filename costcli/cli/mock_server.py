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
) -> None:
    """Serve /v1/chat/completions with scripted latency, tokens and faults."""
    from costcli import mock_server
    from costcli.errors import BadInputError

    if dialect not in ("openai", "groq", "llamacpp"):
        raise BadInputError(f"--dialect {dialect}: use openai, groq or llamacpp")

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
    )
    try:
        mock_server.run(config)
    except OSError as exc:
        raise BadInputError(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "pick another port or 0 for a free one"
        ) from None
