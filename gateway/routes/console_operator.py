"""The operator's console page: members and keys, governance proposals, anchoring lag and batches.

    GET  /console/operator                         the page (a console session, ADMIN)
    GET  /console/operator.js                      its script (verifier/web/src/console_operator.js)
    POST /console/operator/proposals               a proposal's Consortium transaction to sign
    POST /console/operator/proposals/{id}/approve  approve(id), to sign
    POST /console/operator/proposals/{id}/execute  execute(id), to sign
    POST /console/operator/relay                   a raw transaction signed in the page, sent on
    GET  /console/operator/tx/{hash}               a transaction's outcome

Governance is on chain: the officer's wallet signs and sends the Consortium transaction
(`eth_sendTransaction`), or the page signs it with the unlocked key file and the gateway relays
the raw bytes. The gateway builds the call for the page and dry-runs it from the session's key
first (a call the contract would refuse comes back as a problem before the wallet is asked); it
never holds a key. A relayed transaction is refused unless its sender is the session's own key
and it goes to the Consortium contract. The contract checks ADMIN again on every call.
"""

from __future__ import annotations

import html
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from web3 import Web3

from gateway.console_actions import ConsoleActorDep, ConsoleReaderDep, require_roles
from gateway.deps import ServicesDep, SettingsDep, get_services
from gateway.problems import problem_responses
from gateway.routes.scan_page import static_response
from gateway.sessions import ConsoleSession, current_session, own_origin, session_cookie
from gateway.traceability import RuntimeDep
from ledger.chain.client import DEFAULT_PROPOSAL_LIFETIME, role_id
from ledger.chain.roles import ADMIN
from ledger.errors import AuthorizationError, InvalidInputError
from ledger.proofs.codes import org_id, prefix_bytes
from ledger.trade.console import anchoring, members

__all__ = ["router"]

router = APIRouter(tags=["Console: operator"])
_NO_STORE = {"Cache-Control": "no-store"}

ProposalKind = Literal["GRANT_ROLE", "REVOKE_ROLE", "ADD_KEY", "ASSIGN_PREFIX", "REMOVE",
                       "SET_QUORUM"]


class RelayedSenderRefused(AuthorizationError):
    slug = "relayed-sender-not-session-key"
    title = "A relayed transaction must be sent by the logged-in key, to Consortium"


class ProposalRequest(BaseModel):
    kind: ProposalKind
    gln: str | None = Field(default=None, pattern=r"^[0-9]{13}$",
                            description="the organisation's GLN (all kinds but SET_QUORUM)")
    role: str | None = Field(default=None, description="GRANT_ROLE, REVOKE_ROLE")
    key: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{40}$", description="ADD_KEY")
    prefix: str | None = Field(default=None, pattern=r"^[0-9]{4,12}$",
                               description="ASSIGN_PREFIX: GS1 company prefix")
    quorum: int | None = Field(default=None, ge=1, le=100, description="SET_QUORUM")


class RawTransaction(BaseModel):
    rawTransaction: str = Field(pattern=r"^0x[0-9a-fA-F]+$", max_length=20_000)


def _need(value: Any, field: str, kind: str) -> Any:
    if value is None:
        raise InvalidInputError(f"a {kind} proposal needs `{field}`", field=field)
    return value


def _call(chain: Any, kind: str, body: ProposalRequest) -> Any:
    fns = chain.consortium.functions
    life = DEFAULT_PROPOSAL_LIFETIME
    if kind == "SET_QUORUM":
        return fns.proposeSetQuorum(_need(body.quorum, "quorum", kind), life)
    org = org_id(_need(body.gln, "gln", kind))
    if kind in ("GRANT_ROLE", "REVOKE_ROLE"):
        role = role_id(_need(body.role, "role", kind))
        return (fns.proposeGrantRole if kind == "GRANT_ROLE" else fns.proposeRevokeRole)(
            org, role, life)
    if kind == "ADD_KEY":
        return fns.proposeAddKey(org, Web3.to_checksum_address(_need(body.key, "key", kind)),
                                 life)
    if kind == "ASSIGN_PREFIX":
        return fns.proposeAssignPrefix(org, prefix_bytes(_need(body.prefix, "prefix", kind)),
                                       life)
    return fns.proposeRemove(org, life)


def _prepared(chain: Any, call: Any, session: ConsoleSession) -> dict[str, Any]:
    """The transaction for the wallet, after a dry run from the session's key."""
    from web3.exceptions import ContractCustomError, ContractLogicError

    try:
        call.call({"from": session.signer})
        gas = call.estimate_gas({"from": session.signer})
    except (ContractCustomError, ContractLogicError) as exc:
        raise chain.revert_error("Consortium", exc) from None
    w3 = chain.w3
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
    tip = 10**9
    # The wallet fills in its own nonce, gas and fees; the key-file path signs these in the
    # page (an EIP-1559 transaction) and posts it to /console/operator/relay.
    return {"tx": {"from": session.signer, "to": chain.consortium.address,
                   "data": call._encode_transaction_data()},
            "keyFile": {"chainId": w3.eth.chain_id,
                        "nonce": w3.eth.get_transaction_count(session.signer, "pending"),
                        "gas": int(gas * 13 // 10), "maxPriorityFeePerGas": tip,
                        "maxFeePerGas": 2 * base_fee + tip}}


@router.post("/console/operator/proposals", summary="Operator: a proposal's transaction to sign",
             responses=problem_responses(400, 401, 403))
def propose(body: ProposalRequest, session: ConsoleActorDep, services: ServicesDep,
            runtime: RuntimeDep) -> dict[str, Any]:
    require_roles(session, ADMIN)
    chain = runtime.chain(services.chain_view)
    return _prepared(chain, _call(chain, body.kind, body), session)


@router.post("/console/operator/proposals/{proposal_id}/{action}",
             summary="Operator: approve or execute a proposal (the transaction to sign)",
             responses=problem_responses(400, 401, 403, 404))
def act(proposal_id: Annotated[int, Path(ge=0)], action: Literal["approve", "execute"],
        session: ConsoleActorDep, services: ServicesDep, runtime: RuntimeDep) -> dict[str, Any]:
    require_roles(session, ADMIN)
    chain = runtime.chain(services.chain_view)
    fn = chain.consortium.functions.approve if action == "approve" \
        else chain.consortium.functions.execute
    return _prepared(chain, fn(proposal_id), session)


@router.post("/console/operator/relay", summary="Operator: send a transaction signed in the page",
             responses=problem_responses(400, 401, 403))
def relay(body: RawTransaction, session: ConsoleActorDep, services: ServicesDep,
          runtime: RuntimeDep) -> dict[str, Any]:
    """For the key-file path: the page signs the transaction itself; the gateway only passes
    the bytes to the chain, and only if the sender is the session's key and the recipient the
    Consortium contract (no other contract, no value transfers)."""
    from eth_account import Account

    require_roles(session, ADMIN)
    raw = bytes.fromhex(body.rawTransaction[2:])
    try:
        sender = Account.recover_transaction(raw)
        decoded = _decode_to(raw)
    except Exception as exc:  # noqa: BLE001 - any undecodable bytes are the client's error
        raise InvalidInputError(f"not a signed Ethereum transaction: {exc}",
                                field="rawTransaction") from None
    chain = runtime.chain(services.chain_view)
    if sender.lower() != session.signer.lower():
        raise RelayedSenderRefused(
            f"the transaction is signed by {sender}, not the session's key {session.signer}",
            reason="sender", sender=sender, signer=session.signer)
    if decoded is None or decoded.lower() != chain.consortium.address.lower():
        raise RelayedSenderRefused(f"the transaction goes to {decoded}, not to Consortium",
                                   reason="recipient", to=decoded)
    tx_hash = services.chain_view.w3.eth.send_raw_transaction(raw)
    return {"txHash": "0x" + bytes(tx_hash).hex().removeprefix("0x")}


def _decode_to(raw: bytes) -> str | None:
    """The recipient of a signed legacy or typed (EIP-2718) transaction."""
    import rlp

    if raw[0] >= 0xC0:  # legacy: rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
        fields = rlp.decode(raw)
        to = fields[3]
    else:
        fields = rlp.decode(raw[1:])
        # EIP-2930: [chainId, nonce, gasPrice, gas, to, ...]; EIP-1559: [chainId, nonce,
        # maxPriorityFee, maxFee, gas, to, ...]
        to = fields[4] if raw[0] == 1 else fields[5]
    return Web3.to_checksum_address(to) if to else None


@router.get("/console/operator/tx/{tx_hash}", summary="Operator: a transaction's outcome",
            responses=problem_responses(401, 403))
def tx_outcome(tx_hash: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")],
               session: ConsoleReaderDep, services: ServicesDep) -> dict[str, Any]:
    from web3.exceptions import TransactionNotFound

    require_roles(session, ADMIN)
    try:
        receipt = services.chain_view.w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return {"status": "pending"}
    return {"status": "ok" if receipt["status"] == 1 else "reverted",
            "block": receipt["blockNumber"]}


@router.get("/console/operator.js", include_in_schema=False)
async def operator_script(request: Request) -> Response:
    return static_response(request, "console_operator.js")


# --- the page -------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _page_data(services: Any, runtime: Any) -> dict[str, Any]:
    from ledger.chain.client import gln_of

    view = services.chain_view
    view.sync()
    chain = runtime.chain(view)
    names = {}
    rows = members(chain, view)
    for m in rows:
        names[m.org] = m.name or m.gln
    proposals = []
    for pid in range(chain.proposal_count() - 1, max(-1, chain.proposal_count() - 51), -1):
        p = chain.proposal(pid)
        proposals.append({"id": p.id, "kind": p.kind,
                          "org": gln_of(p.org) if any(p.org) else "",
                          "args": p.args, "expires": p.expires_at, "executed": p.executed,
                          "approvers": ["0x" + a.hex() for a in p.approvers],
                          "approvals": chain.valid_approvals(pid)})
    return {"members": rows, "proposals": proposals, "quorum": chain.quorum(),
            "names": names, "anchoring": anchoring(services.store.engine),
            "block": view.w3.eth.block_number}


@router.get("/console/operator", summary="Operator console page (a console session, ADMIN)",
            response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}},
                       303: {"description": "no session: to the log-in page"}})
async def operator_page(request: Request, settings: SettingsDep, runtime: RuntimeDep
                        ) -> Response:
    origin = own_origin(request, settings)
    session = services = None
    if session_cookie(request, origin) is not None:
        services = await get_services(request)
        session = await run_in_threadpool(current_session, request, services, origin)
    if session is None or services is None:
        return RedirectResponse("/console/login", status_code=303, headers=_NO_STORE)
    if ADMIN not in session.roles:
        return HTMLResponse(render_page(session, None), status_code=403, headers=_NO_STORE)
    data = await run_in_threadpool(_page_data, services, runtime)
    return HTMLResponse(render_page(session, data), headers=_NO_STORE)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _members(data: dict[str, Any]) -> str:
    rows = []
    for m in data["members"]:
        keys = "<br>".join(
            f'<code>{_e(a)}</code> <span data-i18n="{"keyActive" if ok else "keyRevoked"}">'
            f'{"active" if ok else "revoked"}</span>' for a, ok in m.keys) or "–"
        rows.append(f'<tr data-gln="{_e(m.gln)}"><td>{_e(m.name) or "–"}<br><small>GLN '
                    f'{_e(m.gln)}</small></td><td class="roles">{_e(", ".join(m.roles))}</td>'
                    f'<td>{_e(", ".join(m.prefixes) or "–")}</td><td>{keys}</td></tr>')
    return ('<table id="operator-members"><thead><tr><th data-i18n="organisation">organisation'
            '</th><th data-i18n="roles">roles</th><th data-i18n="prefixes">prefixes</th>'
            f'<th data-i18n="keys">keys</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _proposals(data: dict[str, Any], session: ConsoleSession) -> str:
    rows = []
    now = time.time()
    mine = session.org_hex
    for p in data["proposals"]:
        state = "executed" if p["executed"] else ("expired" if p["expires"] < now else "open")
        args = ", ".join(f"{k}={v}" for k, v in p["args"].items())
        actions = ""
        if state == "open":
            if mine not in p["approvers"]:
                actions += (f'<button type="button" class="approve" data-id="{p["id"]}" '
                            'data-i18n="approve">approve</button> ')
            if p["approvals"] >= data["quorum"]:
                actions += (f'<button type="button" class="execute" data-id="{p["id"]}" '
                            'data-i18n="execute">execute</button>')
        rows.append(f'<tr data-id="{p["id"]}" data-state="{state}"><td>{p["id"]}</td>'
                    f'<td>{_e(p["kind"])}</td><td>{_e(p["org"])}</td><td>{_e(args)}</td>'
                    f'<td class="approvals">{p["approvals"]} / {data["quorum"]}</td>'
                    f'<td class="state" data-i18n="state_{state}">{state}</td>'
                    f'<td>{actions}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="7" data-i18n="none">–</td></tr>'
    return ('<table id="proposals-table"><thead><tr><th>#</th><th data-i18n="kind">kind</th>'
            '<th data-i18n="organisation">organisation</th><th data-i18n="args">details</th>'
            '<th data-i18n="approvals">approvals</th><th data-i18n="state">state</th><th></th>'
            f'</tr></thead><tbody>{body}</tbody></table>')


def _anchoring(data: dict[str, Any]) -> str:
    a = data["anchoring"]
    return ('<table id="anchoring-table"><tbody>'
            f'<tr><th data-i18n="pending">waiting to be anchored</th><td id="pending">'
            f'{a.pending_events} / {a.pending_captures}</td></tr>'
            f'<tr><th data-i18n="lag">anchoring lag</th><td id="lag">{_ago(a.lag_s)}</td></tr>'
            f'<tr><th data-i18n="batches">batches anchored</th><td id="batches">'
            f'{a.batches_anchored}</td></tr>'
            f'<tr><th data-i18n="lastBatch">last batch</th><td>{_e(a.last_root or "–")} · '
            f'#{_e(a.last_block or "–")} · {_e(a.last_event_count or 0)} · '
            f'{_ago(a.last_age_s)}</td></tr></tbody></table>')


_FORM = """<form id="propose-form" class="row">
<label><span data-i18n="kind">kind</span><select id="kind" name="kind">
<option value="GRANT_ROLE">GRANT_ROLE</option><option value="REVOKE_ROLE">REVOKE_ROLE</option>
<option value="ADD_KEY">ADD_KEY</option><option value="ASSIGN_PREFIX">ASSIGN_PREFIX</option>
<option value="REMOVE">REMOVE</option><option value="SET_QUORUM">SET_QUORUM</option></select></label>
<label><span>GLN</span><input id="gln" name="gln" pattern="[0-9]{13}" size="14"></label>
<label><span data-i18n="role">role</span><select id="role" name="role">
<option>ENTERPRISE</option><option>CUSTOMS</option><option>REGULATOR</option>
<option>ANCHORER</option><option>ADMIN</option></select></label>
<label><span data-i18n="key">key</span><input id="key" name="key" size="44"></label>
<label><span data-i18n="prefix">prefix</span><input id="prefix" name="prefix" size="12"></label>
<label><span data-i18n="quorum">quorum</span><input id="quorum" name="quorum" type="number" min="1"></label>
<button id="propose-button" type="submit" data-i18n="propose">propose</button></form>
<form id="keyfile-form" class="row"><b data-i18n="keyFileTitle">key file</b>
<label><span>keystore</span><input id="keyfile" name="keyfile" type="file" accept=".json,application/json" required></label>
<label><span data-i18n="passphrase">passphrase</span><input id="passphrase" name="passphrase" type="password" autocomplete="current-password" required></label>
<button id="keyfile-unlock" type="submit" data-i18n="keyFileButton">unlock</button></form>"""

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.2rem}header h1{margin:0;font-size:1.2rem}
header p{margin:.2rem 0 0;opacity:.75;font-size:.85rem}header a{color:#fff}
main{padding:1rem 1.2rem;max-width:1200px}section{background:#fff;border-radius:8px;
padding:.8rem 1rem;margin:0 0 1rem;box-shadow:0 1px 2px #0001}h2{font-size:1rem;margin:0 0 .6rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #e6e8ec;vertical-align:top}th{font-weight:600;font-size:.8rem;color:#555}
#keyfile-form{margin-top:.6rem;padding-top:.6rem;border-top:1px dashed #ccd}
form.row{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end}form.row label{display:flex;
flex-direction:column;font-size:.8rem;color:#555}input,select{font:inherit;padding:.3rem}
button{font:inherit;padding:.35rem .8rem;border:0;border-radius:6px;background:#1d2330;
color:#fff;cursor:pointer}button[disabled]{opacity:.5}#status{min-height:1.4em}
#status.error{color:#c62828}nav.lang{float:right}nav.lang a{margin-left:.6rem}.empty{color:#888}
"""


def render_page(session: ConsoleSession, data: dict[str, Any] | None) -> str:
    who = (f'<span id="session-org">{_e(session.name or session.org_hex)}</span> · '
           f'<span id="session-roles">{_e(", ".join(sorted(session.roles)))}</span> · '
           f'<code id="session-signer">{_e(session.signer)}</code>')
    if data is None:
        body = '<p class="empty" data-needs="ADMIN" data-i18n="needsAdmin">ADMIN</p>'
    else:
        body = (f'<section id="governance"><h2 data-i18n="proposals">proposals</h2>'
                f'<p><span data-i18n="quorumNow">quorum</span> <b id="quorum-now">'
                f'{data["quorum"]}</b></p>{_FORM}'
                '<p id="status" role="status" aria-live="polite"></p>'
                f'{_proposals(data, session)}</section>'
                f'<section id="members"><h2 data-i18n="members">members</h2>{_members(data)}'
                '</section>'
                f'<section id="anchoring"><h2 data-i18n="anchoring">anchoring</h2>'
                f'{_anchoring(data)}</section>')
    import json

    config = json.dumps({"signer": session.signer}).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="zh-Hans"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>真知 · 运营</title><style>{CSS}</style></head>
<body><header><nav class="lang"><a href="?lang=zh-Hans">中文</a><a href="?lang=en">English</a>
<a href="/console" data-i18n="back">控制台</a></nav>
<h1 data-i18n="title">真知 · 运营控制台</h1><p>{who}</p></header>
<main>{body}</main>
<script type="application/json" id="console-config">{config}</script>
<script src="/console/operator.js"></script></body></html>
"""
