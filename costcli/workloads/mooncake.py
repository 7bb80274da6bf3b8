"""`--workload mooncake:FILE`: a Mooncake trace replayed on its own schedule, with its
prefix sharing.

Request i is sent at (timestamp - --trace-start-ms) x --time-scale after the measured
phase starts; only the requests within [--trace-start-ms, --trace-end-ms) are kept. Lines
out of order are sorted by timestamp, and the workload's description says so.

The prompt is `input_length` tokens, built block by block: block k of a request is the
text of its `hash_ids[k]`, `block_tokens` tokens long (the last block: what is left of
`input_length`). Every request that names block id K gets the same text for K (its first
tokens, where K is a request's partial last block), so a prefix cache hits exactly where
the trace's ids are shared; tokens past the named blocks are the request's own. A block's
text opens with four words drawn from a hash of (salt, K), so two different blocks differ
from their first token and no cache matches across them. The salt is the run's: two
runs share a cache only when given the same `--trace-salt`.

Tokens are counted as words of `trace_words.WORDS`, each one token (with its leading
space) in cl100k_base and in the common BPE vocabularies; the chat template adds the
target's few framing tokens, and the summary's input_tokens shows the target's own count.
`output_length` is asked for with max_tokens, and `exact_output_tokens` makes the servers
that document it (llama.cpp's and vLLM's `ignore_eos`) answer at that length.

A prompt given as text (`text_input`, `messages`) is sent as given.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from costcli.files.errors import BadInputError
from costcli.workloads.spec import RequestSpec, Workload
from costcli.workloads.trace_file import DEFAULT_BLOCK_TOKENS, TraceEntry, iter_trace
from costcli.workloads.trace_words import WORDS

MARK_WORDS = 4  # a block opens with these many words drawn from its id's hash
CORPUS_WORDS = 1 << 16  # the salted word sequence blocks are cut from
CACHED_BLOCKS = 4096  # block texts kept (a dict, cleared when full: picklable)
MAX_BLOCK_TOKENS = 8192


@dataclass(frozen=True)
class TraceOptions:
    """How a fixed schedule is replayed: the trace's block size, its time scale and
    window, and the run's salt (mooncake traces)."""

    block_tokens: int = DEFAULT_BLOCK_TOKENS
    time_scale: float = 1.0
    start_ms: float | None = None
    end_ms: float | None = None
    salt: str = ""

    def keeps(self, timestamp_ms: float) -> bool:
        if self.start_ms is not None and timestamp_ms < self.start_ms:
            return False
        return self.end_ms is None or timestamp_ms < self.end_ms

    def offset_ms(self, timestamp_ms: float) -> float:
        """The planned send time, from the measured phase's start."""
        return (timestamp_ms - (self.start_ms or 0.0)) * self.time_scale

    def window(self) -> str:
        end = "the end" if self.end_ms is None else f"{self.end_ms:g} ms"
        return f"[{self.start_ms or 0:g} ms, {end})"


class BlockText:
    """The text of each block id: the same words for the same (salt, id), every time."""

    def __init__(self, salt: str, block_tokens: int) -> None:
        self.salt, self.block_tokens = salt, block_tokens
        rng = random.Random(f"costcli-trace:{salt}")
        self.corpus = [" " + w for w in rng.choices(WORDS, k=CORPUS_WORDS)]
        self._cache: dict[str, list[str]] = {}

    def words(self, key: str) -> list[str]:
        """The block's `block_tokens` words (each with its leading space)."""
        found = self._cache.get(key)
        if found is not None:
            return found
        digest = hashlib.blake2b(f"{self.salt}\0{key}".encode(), digest_size=16).digest()
        mark = [
            " " + WORDS[int.from_bytes(digest[2 * j : 2 * j + 2], "big") % len(WORDS)]
            for j in range(MARK_WORDS)
        ]
        start = int.from_bytes(digest[8:12], "big") % (CORPUS_WORDS - self.block_tokens)
        body = self.corpus[start : start + max(0, self.block_tokens - MARK_WORDS)]
        words = (mark + body)[: self.block_tokens]
        if len(self._cache) >= CACHED_BLOCKS:
            self._cache.clear()
        self._cache[key] = words
        return words

    def prompt(self, entry: TraceEntry, index: int) -> str:
        """`entry.input_length` words: its blocks' texts, then words of its own."""
        parts, left, k = [], entry.input_length, 0
        while left > 0:
            key = f"b{entry.hash_ids[k]}" if k < len(entry.hash_ids) else f"r{index}:{k}"
            take = min(self.block_tokens, left)
            parts.append("".join(self.words(key)[:take]))
            left -= take
            k += 1
        return "".join(parts)


@dataclass(frozen=True)
class TraceWorkload(Workload):
    """A trace's requests, each built when it is sent (a trace's prompts are too big to
    hold): `items` holds light templates (the lengths), `request(i)` the real prompt."""

    entries: tuple[TraceEntry, ...] = ()
    options: TraceOptions = field(default_factory=TraceOptions)

    @cached_property
    def text(self) -> BlockText:
        return BlockText(self.options.salt, self.options.block_tokens)

    def request(self, i: int) -> RequestSpec:
        n = i % len(self.entries)
        entry = self.entries[n]
        messages = entry.messages or ({"role": "user", "content": self.text.prompt(entry, n)},)
        tags = ("trace", f"session:{entry.session_id}") if entry.session_id else ("trace",)
        base = RequestSpec(
            i, messages, max_tokens=entry.output_length, tags=tags, exact_output_tokens=True
        )
        return self.prepare(base, i)

    @cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        head = {"salt": self.options.salt, "block_tokens": self.options.block_tokens}
        digest.update(json.dumps(head, sort_keys=True).encode())
        for e, at in zip(self.entries, self.schedule_ms or (), strict=True):
            row = [at, e.input_length, e.output_length, list(e.hash_ids), e.messages]
            digest.update(json.dumps(row, separators=(",", ":")).encode() + b"\n")
        return digest.hexdigest()


def read_trace(path: Path, options: TraceOptions) -> TraceWorkload:
    """The trace's requests within the window, in timestamp order (streamed: only the
    kept requests' lengths and ids are held)."""
    if not 1 <= options.block_tokens <= MAX_BLOCK_TOKENS:
        raise BadInputError(
            f"--block-tokens {options.block_tokens}: use 1 to {MAX_BLOCK_TOKENS} (Mooncake: 512)"
        )
    kept: list[TraceEntry] = []
    out_of_order, last, first_ms, last_ms = 0, float("-inf"), None, 0.0
    for entry in iter_trace(path, options.block_tokens):
        if entry.timestamp_ms < last:
            out_of_order += 1
        last = max(last, entry.timestamp_ms)
        first_ms = entry.timestamp_ms if first_ms is None else min(first_ms, entry.timestamp_ms)
        last_ms = last
        if options.keeps(entry.timestamp_ms):
            kept.append(entry)
    if not kept:
        raise BadInputError(
            f"--trace-start-ms/--trace-end-ms: no request of {path} falls in "
            f"{options.window()}; the trace spans {first_ms or 0:g} to {last_ms:g} ms"
        )
    kept.sort(key=lambda e: e.timestamp_ms)  # stable: equal times keep their file order
    notes = [f"{len(kept)} requests in {options.window()}"]
    if options.time_scale != 1.0:
        notes.append(f"time x {options.time_scale:g}")
    if out_of_order:
        notes.append(f"{out_of_order} lines out of timestamp order, sorted")
    notes.append(f"blocks of {options.block_tokens} tokens, salt {options.salt or '-'}")
    items = tuple(
        RequestSpec(i, ({"role": "user", "content": ""},), max_tokens=e.output_length)
        for i, e in enumerate(kept)
    )
    return TraceWorkload(
        f"mooncake:{path}",
        f"Mooncake trace {path}: " + "; ".join(notes),
        items,
        cache_prompt=True,  # prefix caching where the trace's blocks are shared
        schedule_ms=tuple(options.offset_ms(e.timestamp_ms) for e in kept),
        entries=tuple(kept),
        options=options,
    )


def fixed_window(workload: Workload, options: TraceOptions) -> Workload:
    """A fixed schedule (JSONL lines with timestamp_ms) cut to the window and scaled."""
    times = workload.schedule_ms or ()
    kept = [i for i, at in enumerate(times) if options.keeps(at)]
    if not kept:
        raise BadInputError(
            f"--trace-start-ms/--trace-end-ms: no line of workload '{workload.name}' falls in "
            f"{options.window()}; its timestamp_ms span {min(times):g} to {max(times):g} ms"
        )
    return replace(
        workload,
        items=tuple(workload.items[i] for i in kept),
        schedule_ms=tuple(options.offset_ms(times[i]) for i in kept),
    )


def mooncake_workload(spec: str, options: TraceOptions | None) -> TraceWorkload:
    """`mooncake:FILE` (a JSONL trace, or a folder of JSONL parts)."""
    path = spec.partition(":")[2]
    if not path:
        raise BadInputError("--workload mooncake: give the trace's path, mooncake:FILE")
    return read_trace(Path(path), options or TraceOptions())
