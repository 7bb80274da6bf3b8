"""Fakes shared by the tests that run costcli on a fake clock: the clock, an adapter base
that needs no server, and Clockwork (first byte at 2 ms, three chunks from 10 ms, done at
13 ms, then the clock moves on by 13 ms)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from costcli.adapters.base import AdapterBase, Finish, FirstByte, StreamEvent, TextDelta, Usage


class FakeClock:
    def __init__(self) -> None:
        self.t = 0

    def now(self) -> int:
        return self.t

    def advance(self, ns: int) -> None:
        self.t += ns


class Serverless(AdapterBase):
    """An adapter made like any other (target, transport) with nothing to start or close."""

    def __init__(self, target: object, transport: object) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


CLOCK = FakeClock()


class Clockwork(Serverless):
    """A server on CLOCK: every request takes exactly 10 ms to first token."""

    name = "clockwork"

    async def stream(self, spec: object) -> AsyncIterator[StreamEvent]:
        t = CLOCK.now()
        yield FirstByte(t + 2_000_000)
        for i in range(3):
            yield TextDelta(t + (10 + i) * 1_000_000, "x ")
        yield Usage(t + 13_000_000, input_tokens=5, output_tokens=3)
        yield Finish(t + 13_000_000, "stop")
        CLOCK.advance(13_000_000)
