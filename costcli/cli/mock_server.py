"""`costcli mock-server`: the OpenAI-compatible mock server (offline demo and test fixture)."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import typer

from costcli.cli.options import command_of


@dataclasses.dataclass(frozen=True)
class MockOptions:
    """`costcli mock-server`'s options, each declared once; its MockConfig field by name."""

    host: str = typer.Option("127.0.0.1", "--host", rich_help_panel="Where")
    port: int = typer.Option(8000, "--port", help="0 picks a free port.", rich_help_panel="Where")
    ttft_ms: float = typer.Option(50.0, "--ttft-ms", rich_help_panel="Timing and tokens")
    itl_ms: float = typer.Option(10.0, "--itl-ms", rich_help_panel="Timing and tokens")
    output_tokens: int = typer.Option(32, "--output-tokens", rich_help_panel="Timing and tokens")
    jitter_ms: float = typer.Option(0.0, "--jitter-ms", rich_help_panel="Timing and tokens")
    dialect: str = typer.Option(
        "openai",
        "--dialect",
        help="openai, groq, llamacpp, anthropic or responses",
        rich_help_panel="Timing and tokens",
    )
    error_rate: float = typer.Option(
        0.0, "--error-rate", min=0.0, max=1.0, rich_help_panel="Faults"
    )
    rate_limit_every: int = typer.Option(0, "--rate-limit-every", min=0, rich_help_panel="Faults")
    retry_after: float = typer.Option(1.0, "--retry-after", min=0.0, rich_help_panel="Faults")
    abort_every: int = typer.Option(0, "--abort-every", min=0, rich_help_panel="Faults")
    stream_error_every: int = typer.Option(
        0, "--stream-error-every", min=0, rich_help_panel="Faults"
    )
    send_log: Path | None = typer.Option(None, "--send-log", rich_help_panel="Logs")
    seed: int = typer.Option(0, "--seed", rich_help_panel="Timing and tokens")
    reasoning_chunks: int = typer.Option(
        0,
        "--reasoning-chunks",
        min=0,
        help="Reasoning deltas before the answer.",
        rich_help_panel="Timing and tokens",
    )
    reasoning_field: str = typer.Option(
        "reasoning_content",
        "--reasoning-field",
        help="reasoning_content or reasoning.",
        rich_help_panel="Timing and tokens",
    )
    answer_delay_ms: float = typer.Option(
        0.0,
        "--answer-delay-ms",
        min=0.0,
        help="Wait between reasoning and answer.",
        rich_help_panel="Timing and tokens",
    )
    prompt_cache_min: int = typer.Option(
        0,
        "--prompt-cache-min",
        min=0,
        help="Report cached tokens of a repeated prefix this long.",
        rich_help_panel="Timing and tokens",
    )
    bad_tool_args_every: int = typer.Option(
        0,
        "--bad-tool-args-every",
        min=0,
        help="Every Nth tool call: invalid arguments.",
        rich_help_panel="Faults",
    )
    tag_answers: bool = typer.Option(
        False, "--tag-answers", help="Answers start answer-N.", rich_help_panel="Timing and tokens"
    )
    request_log: Path | None = typer.Option(
        None,
        "--request-log",
        help="Append each chat request body as a JSON line.",
        rich_help_panel="Logs",
    )
    slots: int = typer.Option(
        0,
        "--slots",
        min=0,
        help="Decode slots: more requests wait for one (0: no limit).",
        rich_help_panel="Timing and tokens",
    )
    metrics_dialect: str = typer.Option(
        "llamacpp",
        "--metrics-dialect",
        help="GET /metrics names: llamacpp, vllm or sglang.",
        rich_help_panel="Timing and tokens",
    )


LOGS = ("send_log", "request_log")  # paths, kept as text in the config


def mock_server_run(opts: MockOptions) -> None:
    """Serve /v1/chat/completions with scripted latency, tokens and faults."""
    from costcli.files.errors import BadInputError
    from costcli.testing import mock_server

    dialects = typing.get_args(mock_server.Dialect)
    if opts.dialect not in dialects:
        raise BadInputError(f"--dialect {opts.dialect}: use one of {', '.join(dialects)}")
    if opts.reasoning_field not in ("reasoning_content", "reasoning"):
        raise BadInputError(
            f"--reasoning-field {opts.reasoning_field}: use reasoning_content or reasoning"
        )
    if opts.metrics_dialect not in ("llamacpp", "vllm", "sglang"):
        raise BadInputError(
            f"--metrics-dialect {opts.metrics_dialect}: use llamacpp, vllm or sglang"
        )
    given = dataclasses.asdict(opts)
    for name in LOGS:
        given[name] = str(given[name]) if given[name] else None
    config = mock_server.MockConfig(**given)
    try:
        mock_server.run(config)
    except OSError as exc:
        raise BadInputError(
            f"--port {opts.port}: cannot listen on {opts.host}:{opts.port} "
            f"({exc.strerror or exc}); pick another port or 0 for a free one"
        ) from None


mock_server_command = command_of(MockOptions, mock_server_run)
