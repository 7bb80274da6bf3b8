"""ShareGPT datasets as conversations: `--workload sharegpt:FILE`.

The format is one JSON list of `{"conversations": [{"from": "human"|"gpt", "value": ...}]}`
(an optional `"from": "system"` turn becomes the system message). Each entry becomes one
conversation of its human turns; the target's own answers are its history
(costcli/sessions.py), never the dataset's. A turn's `max_tokens` is the length of the
dataset's own reply to it (words x 4/3, at least 16), as vLLM's `bench serve` sizes output.

The file is read as a stream: entries are decoded one at a time from a small buffer and a
seeded reservoir keeps `--sample N` of them, so a 50 MB file costs the memory of its sample,
not of the file.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from costcli.files.errors import BadInputError
from costcli.workloads.spec import DatasetOptions, RequestSpec, Workload, conversations

READ_BYTES = 1 << 16
MIN_REPLY_TOKENS = 16
FIX = 'a ShareGPT JSON list of {"conversations": [{"from": "human"|"gpt", "value": ...}]}'
_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


def _skip(buffer: str, pos: int, chars: str) -> int:
    while pos < len(buffer) and buffer[pos] in chars:
        pos += 1
    return pos


class _Entries:
    """The entries of a top-level JSON list, decoded one at a time from a file."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path, self.handle = path, handle
        self.buffer, self.pos, self.eof = "", 0, False

    def _more(self) -> bool:
        chunk = self.handle.read(READ_BYTES)
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        self.eof = not chunk
        return bool(chunk)

    def _at(self, chars: str) -> str:
        """The next character that is not in `chars` (reading on as needed); "" at the end."""
        while True:
            self.pos = _skip(self.buffer, self.pos, chars)
            if self.pos < len(self.buffer) or not self._more():
                return self.buffer[self.pos : self.pos + 1]

    def __iter__(self) -> Iterator[Any]:
        if self._at(_SPACE) != "[":
            raise BadInputError(f"{self.path}: is not a JSON list; pass {FIX}")
        self.pos += 1
        n = 0
        while (head := self._at(_SPACE + ",")) not in ("]", ""):
            n += 1
            yield self._decode(n, head)
        if head != "]":
            raise BadInputError(f"{self.path}: ends inside the list (entry {n + 1}); pass {FIX}")

    def _decode(self, n: int, head: str) -> Any:
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if not self.eof and self._more():
                    continue
                raise BadInputError(
                    f"{self.path}: entry {n} is not valid JSON ({exc.msg}); pass {FIX}"
                ) from None
            if end == len(self.buffer) and head in "-0123456789" and self._more():
                continue  # a number cut by the buffer's end
            self.pos = end
            return value


def _turns(path: Path, n: int, entry: Any, max_turns: int | None) -> list[RequestSpec]:
    """One entry's human turns (with the system message on the first), as session turns."""
    convo = entry.get("conversations") if isinstance(entry, dict) else None
    if not isinstance(convo, list):
        raise BadInputError(f"{path}: entry {n}: key 'conversations' is missing or not a list")
    own_id = entry.get("id")
    session = f"{n}:{own_id}" if isinstance(own_id, str | int) else f"sharegpt-{n}"
    system: list[dict[str, Any]] = []
    specs: list[RequestSpec] = []
    for k, message in enumerate(convo):
        if not isinstance(message, dict) or not isinstance(message.get("value"), str):
            raise BadInputError(
                f"{path}: entry {n}: conversations[{k}] needs a string 'value'; pass {FIX}"
            )
        speaker, text = message.get("from"), message["value"]
        if speaker == "system" and not specs:
            system = [{"role": "system", "content": text}]
        elif speaker == "human":
            if max_turns is not None and len(specs) >= max_turns:
                break
            messages = (*(system if not specs else []), {"role": "user", "content": text})
            specs.append(RequestSpec(0, tuple(messages), session=session, tags=("sharegpt",)))
        elif specs and specs[-1].max_tokens is None:  # the dataset's reply sizes the turn
            words = len(text.split())
            specs[-1] = replace(specs[-1], max_tokens=max(MIN_REPLY_TOKENS, words * 4 // 3))
    return specs


def read_sharegpt(path: Path, options: DatasetOptions, seed: int) -> list[list[RequestSpec]]:
    """The conversations to run, in file order: all of them, or a seeded sample of
    `options.sample` (a reservoir: only the sample is ever held)."""
    rng = random.Random(seed)
    kept: list[tuple[float, int, list[RequestSpec]]] = []  # (key, entry number, turns)
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInputError(
            f"{path}: cannot be read ({exc.strerror or exc}); check the path"
        ) from None
    with handle:
        try:
            for n, entry in enumerate(_Entries(path, handle), 1):
                turns = _turns(path, n, entry, options.max_turns)
                key = rng.random()  # sampling weights drawn for every entry: seed-stable
                if not turns:
                    continue
                if options.sample is None or len(kept) < options.sample:
                    heapq.heappush(kept, (key, n, turns))
                elif key > kept[0][0]:
                    heapq.heapreplace(kept, (key, n, turns))
        except UnicodeDecodeError:
            raise BadInputError(f"{path}: is not UTF-8 text; save it as UTF-8 ({FIX})") from None
    if not kept:
        raise BadInputError(f"{path}: has no conversation with a human turn; pass {FIX}")
    return [turns for _, _, turns in sorted(kept, key=lambda item: item[1])]


def sharegpt_workload(path: Path, options: DatasetOptions | None, seed: int) -> Workload:
    options = options or DatasetOptions()
    chosen = read_sharegpt(path, options, seed)
    specs = [turn for turns in chosen for turn in turns]
    items, sessions = conversations([replace(s, index=i) for i, s in enumerate(specs)])
    parts = [f"max_turns={options.max_turns}" if options.max_turns else "", ""]
    parts[1] = f"sample={options.sample}" if options.sample else ""
    suffix = ",".join(p for p in parts if p)
    return Workload(
        f"sharegpt:{path.name}" + (f"[{suffix}]" if suffix else ""),
        f"ShareGPT conversations from {path}: {len(chosen)} conversations, "
        f"{len(specs)} human turns",
        tuple(items),
        sessions=sessions,
        cache_prompt=True,  # conversations resend their history: what a prompt cache serves
    )
