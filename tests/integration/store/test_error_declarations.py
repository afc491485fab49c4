"""Error declarations in the store, on SQLite and PostgreSQL (the `store` fixture runs each test
on both): a declaration is a row of its own, held by the capture that carries it, shown with
the declared event and found by EQ_errorReason / EXISTS_errorDeclaration."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from ledger.store import tables as t
from ledger.store.store import AlreadyDeclaredError, EventQuery, Store
from tests.integration.store.head import HEAD
from tests.integration.store.test_store import ORG, object_event, signed

RIVAL = b"\x02" * 32


def _declared(event: dict[str, Any], reason: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    out["errorDeclaration"] = {"declarationTime": "2024-03-02T10:00:00.000Z", "reason": reason,
                               "example:note": "typed the wrong serial"}
    return out


def _count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_declaration_is_stored_apart_and_shown_with_its_event(store: Store) -> None:
    events = [object_event(i) for i in range(3)]
    original = signed(events, nonce=1)
    store.accept_capture(original)
    declaration = signed([_declared(events[1], "urn:epcglobal:cbv:er:incorrect_data")], nonce=2)
    assert declaration.event_ids == (original.event_ids[1],)  # the hash leaves it out
    result = store.accept_capture(declaration)
    assert result.new_event_ids == () and result.duplicate_event_ids == ()
    assert result.declared_event_ids == (original.event_ids[1],)
    assert _count(store, t.events) == 3
    stored = store.get_event(original.event_ids[1])
    assert stored is not None and stored.capture_id == original.digest.hex()
    assert "errorDeclaration" not in stored.event  # the original event, as signed
    shown = stored.as_epcis()["errorDeclaration"]
    assert shown == declaration.events[0]["errorDeclaration"]
    assert store.get_event(original.event_ids[0]).as_epcis().get("errorDeclaration") is None
    with store.engine.connect() as conn:
        row = conn.execute(select(t.error_declarations)).one()
    assert row.capture_id == declaration.digest.hex() and row.event_index == 0
    assert bytes(row.org) == ORG and row.reason == "incorrect_data"
    assert row.declaration_time_ms == 1709373600000
    # The same capture again: nothing more.
    assert store.accept_capture(declaration).duplicate
    assert _count(store, t.error_declarations) == 1
    # targets: who signed each stored event, and its declaration
    targets = store.declaration_targets([*original.event_ids, b"\x09" * 32])
    assert set(targets) == set(original.event_ids)
    assert targets[original.event_ids[1]] == (ORG, shown)
    assert targets[original.event_ids[0]] == (ORG, None)


def test_a_later_declaration_of_a_declared_event_does_not_replace_the_first(store: Store) -> None:
    event = object_event(7)
    original = signed([event], nonce=10)
    store.accept_capture(original)
    store.accept_capture(signed([_declared(event, "did_not_occur")], nonce=11))
    captures = _count(store, t.captures)
    with pytest.raises(AlreadyDeclaredError) as refused:
        store.accept_capture(signed([_declared(event, "incorrect_data")], nonce=12, org=RIVAL))
    assert refused.value.fields["errorDeclaration"]["reason"] == "did_not_occur"
    assert _count(store, t.captures) == captures  # nothing of it stored
    # The same declaration again, in a capture of its own: accepted, still one declaration.
    assert store.accept_capture(signed([_declared(event, "did_not_occur")], nonce=13)
                                ).declared_event_ids == original.event_ids
    stored = store.get_event(original.event_ids[0])
    assert stored is not None and stored.error_declaration["reason"] == "did_not_occur"
    assert _count(store, t.error_declarations) == 1


def test_two_declarations_committed_together_the_first_stands(store: Store) -> None:
    # What two members' captures racing past the intake's check meet in one group commit.
    event = object_event(8)
    original = signed([event], nonce=14)
    store.accept_capture(original)
    first = signed([_declared(event, "did_not_occur")], nonce=15)
    second = signed([_declared(event, "incorrect_data")], nonce=16)
    again = signed([_declared(event, "did_not_occur")], nonce=17)
    outcomes = store.accept_captures([first, second, again])
    assert outcomes[0].declared_event_ids == original.event_ids
    assert isinstance(outcomes[1], AlreadyDeclaredError)
    assert outcomes[2].declared_event_ids == original.event_ids
    stored = store.get_event(original.event_ids[0])
    assert stored is not None and stored.error_declaration["reason"] == "did_not_occur"
    assert store.get_capture(second.digest.hex()) is None


def test_queries_on_error_declarations(store: Store) -> None:
    events = [object_event(20 + i) for i in range(4)]
    original = signed(events, nonce=30)
    store.accept_capture(original)
    store.accept_capture(signed([_declared(events[0], "did_not_occur"),
                                 _declared(events[2], "https://ref.gs1.org/cbv/ER-incorrect_data")],
                                nonce=31))

    def ids(q: EventQuery) -> list[bytes]:
        return [e.event_id for e in store.query_events(q, per_page=100)[0]]

    e = original.event_ids
    assert ids(EventQuery(exists_error_declaration=True)) == [e[0], e[2]]
    assert ids(EventQuery(eq_error_reason=("incorrect_data",))) == [e[2]]
    assert ids(EventQuery(eq_error_reason=("urn:epcglobal:cbv:er:did_not_occur",))) == [e[0]]
    assert ids(EventQuery(eq_error_reason=("did_not_occur", "incorrect_data"))) == [e[0], e[2]]
    assert ids(EventQuery(eq_error_reason=("other",))) == []
    assert ids(EventQuery()) == list(e)  # declarations are no events of their own
    found = ids(EventQuery(exists_error_declaration=True, eq_biz_step=("shipping",)))
    assert found == [e[0], e[2]]


def test_migration_0009_adds_error_declarations_and_takes_them_away(store: Store) -> None:
    event = object_event(40)
    store.accept_capture(signed([event], nonce=40))
    store.accept_capture(signed([_declared(event, "did_not_occur")], nonce=41))
    store.migrate("0008")
    with store.engine.connect() as conn:
        assert "error_declarations" not in inspect(conn).get_table_names()
        assert conn.execute(select(func.count()).select_from(t.events)).scalar_one() == 1
    store.migrate()
    assert store.schema_revision() == HEAD
    assert _count(store, t.error_declarations) == 0  # a fresh table
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
