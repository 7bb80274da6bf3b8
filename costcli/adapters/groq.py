"""Groq: the OpenAI wire format plus `x_groq` server telemetry.

Groq puts `x_groq.usage` (queue_time, prompt_time, completion_time in seconds, plus token
counts) on the last chunk of a stream. It is reported beside the client's own figures.
"""

from __future__ import annotations

from typing import Any

from costcli.adapters.base import StreamEvent, Telemetry
from costcli.adapters.openai import OpenAIAdapter, top_level_extras, usage_event


class GroqAdapter(OpenAIAdapter):
    """Groq: the OpenAI wire format plus `x_groq` server telemetry (times in seconds)."""

    name = "groq"
    dialect = "chat completions + x_groq"

    @top_level_extras
    def chunk_events(self, chunk: dict[str, Any], t_ns: int) -> list[StreamEvent]:
        events = super().chunk_events(chunk, t_ns)
        x_groq = chunk.get("x_groq") or {}
        usage = x_groq.get("usage")
        if usage:
            events.append(
                Telemetry(
                    t_ns,
                    queue_ms=_seconds_to_ms(usage.get("queue_time")),
                    prefill_ms=_seconds_to_ms(usage.get("prompt_time")),
                    decode_ms=_seconds_to_ms(usage.get("completion_time")),
                )
            )
            if not chunk.get("usage"):  # older streams: usage only here, details included
                events.append(usage_event(usage, t_ns))
        return events


def _seconds_to_ms(value: Any) -> float | None:
    return float(value) * 1000.0 if isinstance(value, int | float) else None
