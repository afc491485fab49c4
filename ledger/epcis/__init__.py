"""The GS1 standard's model, with no knowledge of signatures, stores or chains: the EPCIS 2.0
document and its validation against GS1's JSON Schema (`document`, `schemas/`), the canonical
CBV 2.0 event hash that gives every event its identity (`event_hash`), and GS1 identifiers and
Digital Links (`gs1`), the one-event document of `POST /events` (`event_document`), and the QuerySchedule of scheduled subscriptions (`query_schedule`). A leaf: it imports only `ledger.errors`.
"""
