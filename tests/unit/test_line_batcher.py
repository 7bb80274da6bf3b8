"""A worker's lines reach its parent in the order they were said, every one of them, in
batches: `shards.LineBatcher` (the `--processes` workers; Ray's Outbox is one too)."""

from __future__ import annotations

import threading

from costcli.engines.shards import LineBatcher


def test_every_line_arrives_once_in_order_whoever_flushes() -> None:
    sent: list[str] = []
    in_send = threading.Event()
    release = threading.Event()

    def send(batch: list[str]) -> None:
        if not in_send.is_set():  # the first batch is slow: a flush races it
            in_send.set()
            release.wait(5)
        sent.extend(batch)

    lines = LineBatcher(send)
    lines.say("S a\t4")
    in_send.wait(5)  # the thread holds the first batch ("S") and is still sending it
    lines.say("R a\t{}")
    flusher = threading.Thread(target=lines.flush)
    flusher.start()
    flusher.join(0.3)
    assert flusher.is_alive()  # it waits for the batch before it instead of overtaking it
    release.set()
    flusher.join(5)
    for n in range(100):
        lines.say(f"R a\t{n}")
    lines.say("F a")
    lines.close()
    assert sent == ["S a\t4", "R a\t{}", *(f"R a\t{n}" for n in range(100)), "F a"]
    assert not lines.thread.is_alive()


def test_a_batch_is_many_lines_not_one_send_a_line() -> None:
    batches: list[list[str]] = []
    lines = LineBatcher(batches.append)
    for n in range(1000):
        lines.say(str(n))
    lines.close()
    assert [line for batch in batches for line in batch] == [str(n) for n in range(1000)]
    assert len(batches) < 10
