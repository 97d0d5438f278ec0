"""The memory log: versions, deltas, paging, eviction and idempotent commits, on real SQLite and PostgreSQL."""

import pytest

from cloud.memory.memory_log import MemoryLog, NewNote, note_id
from cloud.memory.request_queue import QueueFull, TenantFairQueue
from shared.protocol import MemoryRequest, NoteSource, RequestState
from shared.settings import CloudSettings


def _note(text: str, chunk_id: int = 1) -> NewNote:
    return NewNote(text, (NoteSource(chunk_id=chunk_id, path="/docs/a.rst.txt", start=0, end=10),))


def _commit(log: MemoryLog, tenant: str, *texts: str) -> int:
    request = log.create_request(tenant, MemoryRequest(context="some context"))
    version = log.commit_request(request.request_id, tenant, [_note(t) for t in texts]).version
    assert version is not None
    return version


def _replay(log: MemoryLog, tenant: str, page: int) -> tuple[int, dict[str, str]]:
    """What a client ends up with, applying every page of the delta from zero."""
    version, notes = 0, dict[str, str]()
    while True:
        delta = log.delta(tenant, version, page)
        for removed in delta.removed:
            notes.pop(removed)
        notes.update({n.note_id: n.text for n in delta.added})
        version = delta.version
        if not delta.has_more:
            return version, notes


def test_note_ids_ignore_case_spacing_and_final_stop_but_not_sources() -> None:
    assert note_id("Lists are  mutable.", [3, 1]) == note_id("lists are mutable", [1, 3, 3])
    assert note_id("Lists are mutable.", [1]) != note_id("Lists are mutable.", [2])


def test_versions_increase_only_when_memory_changes(log_settings: CloudSettings) -> None:
    log = MemoryLog.open(log_settings.model_copy(update={"tenant_note_cap": 100}))
    assert _commit(log, "alice", "Lists are mutable sequences.") == 1
    assert _commit(log, "alice", "Tuples are immutable sequences.", "Lists are mutable sequences.") == 2
    assert _commit(log, "alice", "Tuples are immutable sequences.") == 2  # a retry adds nothing
    assert log.version("bob") == 0 and _commit(log, "bob", "Sets hold unique items.") == 1
    delta = log.delta("alice", 1, 100)
    assert [n.text for n in delta.added] == ["Tuples are immutable sequences."]
    assert delta.removed == [] and delta.version == delta.latest_version == 2
    assert [n.text for n in log.live_notes("bob")] == ["Sets hold unique items."]


def test_the_cap_evicts_the_oldest_notes_as_removals(log_settings: CloudSettings) -> None:
    log = MemoryLog.open(log_settings.model_copy(update={"tenant_note_cap": 3}))
    for i in range(5):
        _commit(log, "alice", f"Fact number {i} about the standard library.")
    live = [n.text for n in log.live_notes("alice")]
    assert live == [f"Fact number {i} about the standard library." for i in (2, 3, 4)]
    delta = log.delta("alice", 2, 100)  # the client held facts 0 and 1
    assert len(delta.removed) == 2 and [n.text for n in delta.added] == live and delta.version == 5
    _commit(log, "alice", "Fact number 0 about the standard library.")  # evicted, then written again
    assert _replay(log, "alice", 100)[1] == {n.note_id: n.text for n in log.live_notes("alice")}


def test_paged_deltas_converge_to_the_live_notes(log_settings: CloudSettings) -> None:
    log = MemoryLog.open(log_settings.model_copy(update={"tenant_note_cap": 7}))
    for i in range(6):
        _commit(log, "alice", *(f"Note {i}-{j} on sorting and searching." for j in range(3)))
    first = log.delta("alice", 0, 4)
    assert first.has_more and first.version < first.latest_version and len(first.added) <= 4
    version, notes = _replay(log, "alice", 4)
    assert version == log.version("alice")
    assert notes == {n.note_id: n.text for n in log.live_notes("alice")}
    assert len(notes) == 7


def test_request_status_is_scoped_to_its_tenant(log_settings: CloudSettings) -> None:
    log = MemoryLog.open(log_settings.model_copy(update={"tenant_note_cap": 10}))
    request = log.create_request("alice", MemoryRequest(context="x"))
    assert log.status("bob", request.request_id) is None
    assert log.status("alice", request.request_id).state is RequestState.QUEUED
    assert log.unfinished_requests() == [("alice", request.request_id)]


def test_the_queue_coalesces_each_tenant_and_serves_tenants_in_turn() -> None:
    queue = TenantFairQueue(max_tenants=2)
    assert queue.put("alice", "a1") is None
    assert queue.put("alice", "a2") == "a1"  # the latest context wins
    assert queue.put("bob", "b1") is None
    with pytest.raises(QueueFull):
        queue.put("carol", "c1")
    assert queue.get(0) == ("alice", "a2")
    assert queue.put("alice", "a3") is None
    assert queue.get(0) == ("bob", "b1")  # alice's new request waits its turn
    assert queue.retry("alice", "a2") == "a3"  # a retry never overtakes a newer request
    assert queue.get(0) == ("alice", "a3") and queue.get(0) is None


def test_two_processes_committing_for_one_tenant_take_turns(log_settings: CloudSettings) -> None:
    """As several API or worker processes do against one shared log (two connections here)."""
    from concurrent.futures import ThreadPoolExecutor

    logs = [MemoryLog.open(log_settings), MemoryLog.open(log_settings)]

    def commit(i: int) -> int:
        return _commit(logs[i % 2], "alice", f"Concurrent fact {i} about dictionaries.")

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(commit, range(20)))
    assert sorted(versions) == list(range(1, 21))  # every commit got its own version
    assert _replay(logs[0], "alice", 7) == _replay(logs[1], "alice", 100)
    assert len(logs[1].live_notes("alice")) == 20
    for log in logs:
        log.close()
