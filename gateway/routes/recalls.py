"""Recalls: the lot's status on CodeRegistry and the recall scope from the store.

    GET /recalls/{gtin}/{lot}              lot status + every downstream item, case and pallet
                                           with its last custodian and location (JSON)
    GET /recalls/{gtin}/{lot}/scope.csv    the same scope as CSV, for spreadsheets and notices

A recall itself is a transaction by the brand owner or a regulator with their own key
(`zhenzhi recall`): the gateway cannot recall anything. The scope names downstream custodians,
so it is for the brand owner's members and regulators.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.auth import Access, MemberDep, Viewer
from gateway.deps import ServicesDep
from gateway.problems import problem_responses
from gateway.routes.codes import NotPrefixOwnerError
from gateway.traceability import RuntimeDep, TraceabilityRuntime
from ledger.proofs.codes import validate_gtin14, validate_lot
from ledger.store.trace import RecallScope, Tracer

__all__ = ["CSV_COLUMNS", "recall_scope_of", "router", "scope_csv_response"]

router = APIRouter(tags=["Recalls"])

Gtin = Annotated[str, Path(pattern=r"^[0-9]{14}$")]
Lot = Annotated[str, Path(min_length=1, max_length=20)]
CSV_COLUMNS = ("epc", "level", "via", "custodian", "location", "lastBizStep",
               "lastDisposition", "lastEventTime", "lastEventId")


def _row(item: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "epc": item.epc, "level": item.level, "via": item.via, "custodian": item.custodian,
        "location": item.location, "lastBizStep": item.last_biz_step,
        "lastDisposition": item.last_disposition,
        "lastEventTime": datetime.fromtimestamp(item.last_event_time_ms / 1000, UTC)
        .isoformat().replace("+00:00", "Z"),
        "lastEventId": f"ni:///sha-256;{item.last_event_id.hex()}?ver=CBV2.0",
    }


def recall_scope_of(viewer: Viewer, services: Any, runtime: TraceabilityRuntime, gtin: str,
                    lot: str) -> tuple[Any, RecallScope]:
    """(the lot on CodeRegistry, its recall scope) for a brand owner or a regulator."""
    return _scope(viewer, services, runtime, gtin, lot)


def _scope(viewer: Viewer, services: Any, runtime: TraceabilityRuntime, gtin: str,
           lot: str) -> tuple[Any, RecallScope]:
    gtin, lot = validate_gtin14(gtin), validate_lot(lot)
    view = services.chain_view
    view.sync()
    if viewer.access is not Access.REGULATOR:
        owner = view.prefix_owner(gtin)
        if owner is None or owner != viewer.org:
            raise NotPrefixOwnerError(
                f"organisation {viewer.org_hex} does not own GTIN {gtin}; recall scopes are for "
                "the brand owner and regulators", gtin=gtin, org=viewer.org_hex)
    on_chain = runtime.chain(view).lot(gtin, lot)
    return on_chain, Tracer(services.store.engine).recall_scope(gtin, lot)


@router.get("/recalls/{gtin}/{lot}", summary="Lot status and recall scope",
            responses=problem_responses(400, 401, 403))
async def recall_scope(gtin: Gtin, lot: Lot, viewer: MemberDep, services: ServicesDep,
                       runtime: RuntimeDep) -> dict[str, Any]:
    on_chain, scope = await run_in_threadpool(_scope, viewer, services, runtime, gtin, lot)
    return {
        "gtin": scope.gtin, "lot": scope.lot,
        "status": on_chain.status.lower() if on_chain else "unregistered",
        "reasonHash": "0x" + on_chain.reason_hash.hex() if on_chain else None,
        "lots": list(scope.lots),
        "count": len(scope.items),
        "items": [_row(i) for i in scope.items],
    }


@router.get("/recalls/{gtin}/{lot}/scope.csv", summary="Recall scope as CSV",
            response_class=Response, responses={
                200: {"content": {"text/csv": {}}, "description": "one row per EPC"},
                **problem_responses(400, 401, 403)})
async def recall_scope_csv(gtin: Gtin, lot: Lot, viewer: MemberDep, services: ServicesDep,
                           runtime: RuntimeDep) -> Response:
    _, scope = await run_in_threadpool(_scope, viewer, services, runtime, gtin, lot)
    return scope_csv_response(scope)


def scope_csv_response(scope: RecallScope) -> Response:
    """The recall scope as a CSV attachment (also the regulator console's export)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in scope.items:
        row = _row(item)
        # A cell starting with = + - @ is a formula to a spreadsheet: neutralise it.
        writer.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@" else v)
                         for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="recall-{scope.gtin}-{scope.lot}.csv"'})
