"""A lean Server-Sent Events parser working on raw bytes.

Handles LF, CRLF and CR line endings (also when a CRLF pair is split across reads),
comment lines (`: ping`), multi-line `data:` fields (joined with "\\n"), and events split
across any number of network reads. Only the `data` field matters for chat completions;
`event`, `id` and `retry` are ignored.
"""

from __future__ import annotations


class SSEParser:
    """Feed it network reads; it returns the data payloads of the events they completed.

    A CR ends its line at once; when the read ended on that CR, a LF that opens the next
    read is its other half (CRLF split across reads) and is skipped.
    """

    __slots__ = ("_buf", "_data", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if (  # the commonest read: one whole `data: ...` event and nothing else
            not self._buf
            and not self._data
            and chunk.startswith(b"data: ")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n\n")
            and b"\r" not in chunk
        ):
            self._skip_lf = False
            return [chunk[6:-2]]
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            self._skip_lf = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._buf = buf
            return []
        self._buf = buf[cut + 1 :]
        events: list[bytes] = []
        data = self._data
        for line in buf[:cut].split(b"\n"):
            if not line:
                if data:
                    events.append(b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            # comment lines (":...") and other fields are ignored
        return events

    def close(self) -> list[bytes]:
        """The stream ended: a final event without its blank line is still delivered."""
        events = self.feed(b"\n\n") if (self._buf or self._data) else []
        self._buf = b""
        self._skip_lf = False
        return events
