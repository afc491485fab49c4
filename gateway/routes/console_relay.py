"""Relaying a transaction the console page signed itself (the keystore path, no wallet).

    GET  /console/relay/params        the session key's next nonce, the gas price, the chain id
    POST /console/relay               {raw}: a signed raw transaction, sent to the chain
    GET  /console/relay/{hash}        its receipt's status (null until mined)

A browser without a wallet extension unlocks the CLI's keystore file in the page and signs the
transaction there: the gateway only carries it. It refuses one whose sender is not the
session's key (so a session cannot push somebody else's signed transaction under its name), or
that calls anything but the three contracts the console acts on. The contracts check roles
again on chain.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.console_access import console_actor, console_reader
from gateway.deps import ServicesDep, SettingsDep
from gateway.problems import problem_responses
from ledger.chain.roles import ROLES
from ledger.errors import AuthorizationError, InvalidInputError

__all__ = ["RELAYED_CONTRACTS", "router"]

router = APIRouter(tags=["Console"])

RELAYED_CONTRACTS = ("CustomsRelease", "Consortium", "CodeRegistry")


class RelayRefused(AuthorizationError):
    slug = "relay-refused"
    title = "The gateway relays only the session key's transactions to the console's contracts"


class RelayBody(BaseModel):
    raw: Annotated[str, Field(pattern="^0x([0-9a-fA-F]{2})+$", max_length=262_146)]


@router.get("/console/relay/params", summary="Nonce and gas price for the session's key",
            responses=problem_responses(401, 403))
async def relay_params(request: Request, services: ServicesDep,
                       settings: SettingsDep) -> dict[str, Any]:
    session = await console_reader(request, services, settings, ROLES)
    w3 = services.chain_view.w3

    def read() -> dict[str, Any]:
        return {"from": session.signer, "chainId": services.chain_view.chain_id,
                "nonce": int(w3.eth.get_transaction_count(session.signer, "pending")),
                "gasPrice": int(w3.eth.gas_price)}

    return await run_in_threadpool(read)


@router.post("/console/relay", summary="Relay a transaction the page signed with the session key",
             responses=problem_responses(400, 401, 403))
async def relay(request: Request, body: RelayBody, services: ServicesDep,
                settings: SettingsDep) -> dict[str, Any]:
    session = await console_actor(request, services, settings, ROLES)

    def send() -> dict[str, Any]:
        from eth_account import Account
        from hexbytes import HexBytes

        raw = HexBytes(body.raw)
        try:
            sender = Account.recover_transaction(raw)
            decoded = _decode(raw)
        except Exception as exc:  # eth_account raises ValueError, rlp its own errors
            raise InvalidInputError(f"not a signed transaction: {exc}", field="raw") from exc
        if sender.lower() != session.signer.lower():
            raise RelayRefused(f"the transaction is signed by {sender}, not by the session's key "
                               f"{session.signer}", sender=sender, signer=session.signer)
        allowed = {services.chain_view.contracts[n].lower(): n for n in RELAYED_CONTRACTS}
        to = (decoded or "").lower()
        if to not in allowed:
            raise RelayRefused(f"the transaction calls {decoded or 'nothing (a deployment)'}, "
                               f"not one of {', '.join(RELAYED_CONTRACTS)}", to=decoded)
        tx_hash = services.chain_view.w3.eth.send_raw_transaction(raw)
        return {"hash": "0x" + bytes(tx_hash).hex(), "to": allowed[to]}

    return await run_in_threadpool(send)


def _decode(raw: bytes) -> str | None:
    """The `to` of a legacy or typed raw transaction."""
    import rlp

    if raw[0] >= 0xC0:  # legacy: rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
        fields = rlp.decode(raw)
        to = fields[3]
    else:  # EIP-2718 typed: type byte, then rlp([...]); `to` at 5 (2930: 4)
        fields = rlp.decode(raw[1:])
        to = fields[4] if raw[0] == 1 else fields[5]
    return None if not to else "0x" + bytes(to).hex()


@router.get("/console/relay/{tx_hash}", summary="A relayed transaction's receipt status",
            responses=problem_responses(400, 401, 403))
async def relay_receipt(request: Request,
                        tx_hash: Annotated[str, Path(pattern="^0x[0-9a-fA-F]{64}$")],
                        services: ServicesDep, settings: SettingsDep) -> dict[str, Any] | None:
    await console_reader(request, services, settings, ROLES)

    def read() -> dict[str, Any] | None:
        from web3.exceptions import TransactionNotFound

        try:
            receipt = services.chain_view.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:  # not mined yet
            return None
        return {"status": hex(receipt["status"]), "blockNumber": hex(receipt["blockNumber"])}

    return await run_in_threadpool(read)
