"""Reading a Mooncake trace, line by line: a JSONL file or a folder of JSONL parts (read
in name order as one trace).

Each line: `timestamp` (ms from the trace's start), `input_length`, `output_length`,
`hash_ids` (one id per block of `block_tokens`; a shared id is a shared prefix block), and
AIPerf's additions where present: `text_input` or `messages` (the prompt itself, instead
of a length), `session_id`, and `delay` (ms after the same session's previous turn, for a
turn without a timestamp). Other keys are ignored, as the trace's other tools do.

The reader streams: one line in memory at a time, whatever the file's size. A bad line is
one `BadInputError` naming the file, the line and the fix.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costcli.files.errors import BadInputError

DEFAULT_BLOCK_TOKENS = 512  # Mooncake's block size
TRACE_KEYS = (
    "each line needs timestamp (ms from the trace's start), input_length (or text_input or "
    "messages) and output_length; hash_ids, session_id and delay are optional"
)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One request of a trace."""

    where: str  # FILE:LINE
    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...] = ()
    messages: tuple[dict[str, Any], ...] | None = None  # the prompt as given (AIPerf)
    session_id: str | None = None


def trace_files(path: Path) -> list[Path]:
    """The file itself, or a folder's `*.jsonl` parts in name order."""
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.suffix == ".jsonl" and p.is_file())
        if not parts:
            raise BadInputError(f"{path}: a folder without .jsonl parts; pass a Mooncake trace")
        return parts
    if not path.is_file():
        raise BadInputError(f"{path}: no such file; pass a Mooncake trace (JSONL) or a folder")
    return [path]


def _number(where: str, row: dict[str, Any], key: str) -> float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInputError(f"{where}: key '{key}' is {value!r}; give a number of milliseconds")
    if value < 0:
        raise BadInputError(
            f"{where}: key '{key}' is {value:g}, negative; timestamps and delays are "
            "milliseconds from the trace's start, 0 or more"
        )
    return float(value)


def _count(where: str, row: dict[str, Any], key: str, least: int) -> int:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise BadInputError(f"{where}: key '{key}' is {value!r}; give a whole number >= {least}")
    return value


def _messages(where: str, row: dict[str, Any]) -> tuple[dict[str, Any], ...] | None:
    if "text_input" in row:
        text = row["text_input"]
        if not isinstance(text, str) or not text:
            raise BadInputError(f"{where}: key 'text_input' must be a non-empty string")
        return ({"role": "user", "content": text},)
    if "messages" not in row:
        return None
    messages = row["messages"]
    ok = isinstance(messages, list) and messages
    if not ok or not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
        raise BadInputError(
            f"{where}: key 'messages' must be a list of {{role, content}} objects (chat format)"
        )
    return tuple(messages)


def text_tokens(messages: tuple[dict[str, Any], ...]) -> int:
    """A prompt given as text, counted: cl100k_base where tiktoken is installed (the
    `tokenizer` extra), else one token per word."""
    from costcli.workloads.trace_words import count_tokens

    return sum(count_tokens(str(m.get("content", ""))) for m in messages)


def _hash_ids(
    where: str, row: dict[str, Any], input_length: int, block_tokens: int
) -> tuple[int, ...]:
    ids = row.get("hash_ids", [])
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids
    ):
        raise BadInputError(
            f"{where}: key 'hash_ids' must be a list of block ids (whole numbers >= 0)"
        )
    most = -(-input_length // block_tokens)
    if len(ids) > most:
        raise BadInputError(
            f"{where}: key 'hash_ids' names {len(ids)} blocks, but input_length {input_length} "
            f"fills at most {most} of {block_tokens} tokens; pass the trace's --block-tokens "
            "or fix the line"
        )
    return tuple(ids)


def parse_entry(
    where: str, row: Any, block_tokens: int, last_turn_ms: dict[str, float]
) -> TraceEntry:
    """One trace line, checked. `last_turn_ms`: each session's previous turn's time."""
    if not isinstance(row, dict):
        raise BadInputError(f"{where}: not a JSON object; {TRACE_KEYS}")
    session = row.get("session_id")
    session = None if session is None else str(session)
    if "timestamp" in row:
        timestamp = _number(where, row, "timestamp")
    elif "delay" in row and session is not None and session in last_turn_ms:
        timestamp = last_turn_ms[session] + _number(where, row, "delay")
    else:
        raise BadInputError(
            f"{where}: missing key 'timestamp'; add the ms from the trace's start (a later "
            "turn of a session may give 'delay' instead)"
        )
    messages = _messages(where, row)
    if "input_length" in row:
        input_length = _count(where, row, "input_length", 0)
    elif messages is not None:
        input_length = text_tokens(messages)
    else:
        raise BadInputError(f"{where}: missing key 'input_length'; {TRACE_KEYS}")
    if "output_length" not in row:
        raise BadInputError(f"{where}: missing key 'output_length'; {TRACE_KEYS}")
    output_length = _count(where, row, "output_length", 1)
    if session is not None:
        last_turn_ms[session] = timestamp
    return TraceEntry(
        where,
        timestamp,
        input_length,
        output_length,
        _hash_ids(where, row, input_length, block_tokens),
        messages,
        session,
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line, read as a stream."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BadInputError(
            f"{path}: cannot be read ({exc.strerror or exc}); check the path"
        ) from None
    with handle:
        for n, raw in enumerate(handle, 1):
            try:
                line = (raw.removeprefix(codecs.BOM_UTF8) if n == 1 else raw).decode("utf-8")
            except UnicodeDecodeError:
                raise BadInputError(
                    f"{path}:{n}: not UTF-8 text (a binary file?); pass a Mooncake trace (JSONL)"
                ) from None
            if line.strip():
                yield n, line


def iter_trace(path: Path, block_tokens: int = DEFAULT_BLOCK_TOKENS) -> Iterator[TraceEntry]:
    """Every request of the trace, in file order, each line checked as it is read."""
    last_turn_ms: dict[str, float] = {}
    found = False
    for part in trace_files(path):
        for n, line in _lines(part):
            where = f"{part}:{n}"
            try:
                row = json.loads(line)
            except RecursionError:
                raise BadInputError(f"{where}: nests too deeply; {TRACE_KEYS}") from None
            except ValueError as exc:
                raise BadInputError(
                    f"{where}: not valid JSON ({exc}); write one JSON object per line"
                ) from None
            found = True
            yield parse_entry(where, row, block_tokens, last_turn_ms)
    if not found:
        raise BadInputError(f"{path}: holds no requests; pass a Mooncake trace (JSONL)")
