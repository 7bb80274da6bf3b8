"""The journal's reader and writer, the bounded figures (spilled columns give exactly the
figures of sorted lists), the resume's skip set and the journal-backed readers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from costcli.files.errors import BadInputError
from costcli.load.measure import Measurement
from costcli.load.schedule import Done, Shard
from costcli.results import columns
from costcli.results.columns import Column, Spill, ranked
from costcli.results.journal import (
    JournalRead,
    JournalWriter,
    events,
    point_records,
    read_header,
    sampled,
)
from costcli.results.metrics import SLO, Digest, RequestRecord, summarize


def record(i: int, rng: random.Random, **extra: object) -> RequestRecord:
    ok = rng.random() > 0.1
    m = Measurement(index=i, scheduled_ns=int(i * 1e6), sent_ns=int(i * 1e6 + rng.random() * 3e6))
    if ok:
        first = m.sent_ns + int(rng.lognormvariate(3, 0.5) * 1e6)
        m.first_token_ns = m.first_output_ns = first
        m.chunk_ns = [first + int(k * rng.uniform(1, 30) * 1e6) for k in range(rng.randint(1, 6))]
        m.end_ns = m.chunk_ns[-1]
        m.output_tokens, m.input_tokens = len(m.chunk_ns), rng.randint(5, 50)
    else:
        m.end_ns = m.sent_ns + int(5e6)
        m.error, m.error_message = "server_error", "boom"
    return m.record(0).model_copy(update=extra)


def test_spilled_columns_give_exactly_the_figures_of_a_sorted_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(7)
    records = [record(i, rng, session=f"s{i % 9}", turn=i % 3) for i in range(3000)]
    slo = SLO(ttft_ms=30.0)
    whole = summarize(records, slo)  # every column fits in memory: sorted whole
    monkeypatch.setattr(columns, "CHUNK", 64)
    monkeypatch.setattr(columns, "SORT_IN_MEMORY", 100)
    monkeypatch.setattr(columns, "COLLECT", 50)
    monkeypatch.setattr(columns, "BUCKETS", 8)
    digest = Digest(slo).extend(records)
    assert digest.spill._file is not None  # the values did go to disk
    assert digest.summary().model_dump() == whole.model_dump()


def test_ranked_finds_every_rank_of_ties_and_spreads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns, "CHUNK", 100)
    monkeypatch.setattr(columns, "SORT_IN_MEMORY", 500)
    monkeypatch.setattr(columns, "COLLECT", 40)
    monkeypatch.setattr(columns, "BUCKETS", 4)
    rng = random.Random(3)
    for values in (
        [rng.choice([1.0, 2.0, 2.0, 9.0]) for _ in range(5000)],  # a few values, many ties
        [rng.lognormvariate(0, 4) for _ in range(5000)],  # decades apart
        [1.0 + k * 2.0**-52 for k in range(5000)],  # one float apart
    ):
        column = Column(Spill())
        column.extend(values)
        wanted = [0, 4999, *rng.sample(range(5000), 20)]
        got = ranked(column, wanted)
        truth = sorted(values)
        assert [got[r] for r in wanted] == [truth[r] for r in wanted]
        assert list(column) == values  # arrival order kept across the spill


def test_the_skip_set_is_a_bitmap_counting_each_index_once() -> None:
    done = Done()
    for i in (5, 5, 17, 100_000):
        done.add(i)
    assert done.count == 3
    assert 5 in done and 17 in done and 100_000 in done  # noqa: PT018
    assert 6 not in done and 200_000 not in done  # noqa: PT018
    done.discard(17)
    assert 17 not in done and done.count == 2  # noqa: PT018
    # shard 2/2 owns the odd request numbers: of 5 and 100,000, only 5
    assert done.owned(Shard(index=2, count=2), first=0) == 1
    assert done.owned(Shard(index=1, count=2), first=0) == 1


def write_journal(path: Path, records: list[RequestRecord], **events_after: object) -> None:
    writer = JournalWriter(path, {"plan": {"targets": ["mock"]}, "started_at": "t0"})
    writer.event({"k": "target", "t": 0, "label": "mock:m"})
    writer.event({"k": "point", "t": 0, "p": 0, "load": ""}, sync=True)
    for r in records:
        writer.record(0, 0, r)
    writer.close()


def test_every_line_reaches_the_file_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = JournalWriter(path, {"plan": {}, "started_at": "t0"})
    rng = random.Random(1)
    writer.record(0, 0, record(0, rng))
    # no flush, no close: a kill -9 now finds the line on disk (it reached the OS)
    assert path.read_text().count('"k":"r"') == 1
    writer.close()
    with pytest.raises(FileExistsError):  # a new journal never writes over another
        JournalWriter(path, {"plan": {}})


def test_a_torn_last_line_is_dropped_with_a_note_and_any_other_bad_line_names_its_line(
    tmp_path: Path,
) -> None:
    rng = random.Random(2)
    path = tmp_path / "j.jsonl"
    write_journal(path, [record(i, rng) for i in range(5)])
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])  # killed in the middle of the last record's write
    read = JournalRead()
    got = [e for e in events(path, read) if e.kind == "r"]
    assert len(got) == 4
    assert len(read.notes) == 1
    assert "j.jsonl:8: the last line was cut off mid-write" in read.notes[0]
    lines = whole.decode().splitlines(keepends=True)
    lines[4] = '{"k":"r","t":0,"p":0,"r":{"index": 1\n'  # a bad line in the middle
    path.write_text("".join(lines))
    with pytest.raises(BadInputError) as bad:
        list(events(path))
    assert str(bad.value).startswith(f"{path}:5: not a JSON object")
    assert "\n" not in str(bad.value)
    path.write_text('{"not": "a journal"}\n')
    with pytest.raises(BadInputError, match=r"j.jsonl:1: key 'journal' or 'plan' is missing"):
        read_header(path)
    path.write_text(json.dumps({"journal": 99, "plan": {}}) + "\n")
    with pytest.raises(BadInputError, match="version 99, this costcli reads 1"):
        read_header(path)


def test_a_restarted_conversation_counts_from_its_restart_on(tmp_path: Path) -> None:
    rng = random.Random(4)
    path = tmp_path / "j.jsonl"
    early = [record(i, rng, session="a", turn=i) for i in range(2)]
    writer = JournalWriter(path, {"plan": {}, "started_at": "t0"})
    writer.event({"k": "point", "t": 0, "p": 0, "load": ""})
    for r in [*early, record(2, rng, session="b", turn=0)]:
        writer.record(0, 0, r)
    writer.event({"k": "restart", "t": 0, "p": 0, "session": "a"})
    again = [record(i, rng, session="a", turn=i) for i in range(3)]
    for r in again:
        writer.record(0, 0, r)
    writer.close()
    got = [(r.session, r.turn) for r in point_records(path, 0, None)]
    assert got == [("b", 0), ("a", 0), ("a", 1), ("a", 2)]


def test_a_sample_is_every_item_up_to_its_size_then_a_seeded_uniform_one() -> None:
    assert sampled(range(10), 20) == list(range(10))
    a, b = sampled(range(100_000), 1000, seed=1), sampled(range(100_000), 1000, seed=1)
    assert a == b
    assert len(set(a)) == 1000
    assert a == sorted(a)  # in their order
    assert 40_000 < sum(a) / len(a) < 60_000  # spread over the whole run, not its start


def test_a_resume_cuts_a_torn_last_line_away_before_it_appends(tmp_path: Path) -> None:
    from costcli.engines.journaled import trim_torn

    rng = random.Random(5)
    path = tmp_path / "j.jsonl"
    write_journal(path, [record(i, rng) for i in range(3)])
    path.write_bytes(path.read_bytes()[:-30])  # the kill cut the last record's write
    trim_torn(path)
    JournalWriter(path, None).event({"k": "resumed", "at": "t1"})  # what a resume appends
    read = JournalRead()
    kinds = [e.kind for e in events(path, read)]
    assert kinds == ["target", "point", "r", "r", "resumed"]  # the torn record is gone
    assert read.notes == []
