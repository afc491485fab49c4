"""The gateway's runtime: what the lifespan opens and closes, and the reads routes need.

`Services.open(settings)` opens the store (migrating it), loads the deployment manifest,
builds the per-block cached chain view and the capture intake, and starts the in-process
anchoring worker when configured. Routes reach it through `gateway.deps`; everything here
returns plain data, and the HTTP shapes are made in the routes.

The capture path: checks on the event loop (a body over `capture_inline_bytes` on the
`capture_checks` threads, its parse, hash and recovery in the `capture_processes` pool, so a
large or crafted one takes neither the loop nor its GIL), then one `CaptureCommitter` (a writer thread:
concurrent captures share a commit, and SQLite's writes run there without the GIL while the
loop checks the next requests), SQLite WAL checkpoints on a thread of their own. (Checking large
documents in a process pool was tried: same CPU per capture, and 7.8k against 11.7k events/s
inline on 2 cores, the pickling and hand-offs costing more than the parallelism gave.)

Production layout: run the anchoring worker as its own process, `zhenzhi anchor-worker --db
<same database URL> ...`, beside `zhenzhi serve` (`run_anchor_worker` off, the default). In
the gateway's process it would compete with capture for the GIL and, on SQLite, for the write
lock; as a process it has its own interpreter, and its leader lease keeps it the only one.
`run_anchor_worker` remains for demos and tests that want one process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.settings import GatewaySettings
from ledger.chain.deployment import Deployment
from ledger.chain.view import ChainView
from ledger.epcis.event_hash import format_event_id, parse_event_id
from ledger.pipeline.committer import CaptureCommitter
from ledger.pipeline.intake import Intake, IntakeResult, capture_record
from ledger.pipeline.webhooks import Found
from ledger.proofs.signing import CaptureDomain
from ledger.store.capture_jobs import list_capture_ids
from ledger.store.listing import holds_value, list_values
from ledger.store.named_queries import get_query
from ledger.store.store import EventQuery, Store, page_token_after
from ledger.store.subscriptions import Subscription

__all__ = ["Services"]

log = logging.getLogger("zhenzhi.gateway")


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Services:
    settings: GatewaySettings
    store: Store
    chain_view: ChainView
    intake: Intake
    domain: CaptureDomain
    worker: Any = None
    webhooks: Any = None  # the webhook worker (ledger.pipeline.webhooks), when run here
    capture_checks: ThreadPoolExecutor | None = None  # checks of large captures, off the loop
    capture_processes: Executor | None = None  # their parse, hash and recovery
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: GatewaySettings) -> Services:
        """Open the store, load the deployment, connect to the chain, start the worker."""
        from web3 import Web3

        deployment = Deployment.load(settings.manifest)
        w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))
        store = Store(settings.database_url, background_checkpoint=True)
        closers: list[Callable[[], None]] = [store.close]
        try:
            if settings.migrate_on_start:
                store.migrate()
            view = ChainView(w3, deployment, log_block_range=settings.log_block_range)
            # Concurrent captures share commits (one writer thread); closed before the store.
            committer = CaptureCommitter(store)
            closers.append(committer.close)
            intake = Intake(store, view, view.domain, max_bytes=settings.max_body_bytes,
                            max_events=settings.capture_limit,
                            max_depth=settings.max_json_depth,
                            max_values=settings.capture_max_json_values, committer=committer,
                            max_skew_s=settings.signed_at_max_skew_s)
            checks = ThreadPoolExecutor(settings.capture_check_workers,
                                        thread_name_prefix="capture-check")
            closers.append(lambda: checks.shutdown(wait=True, cancel_futures=True))
            processes = None
            if settings.capture_check_processes:
                import multiprocessing

                from ledger.runtime.recursion import restore_recursion_limit

                # Spawned, not forked: this process runs threads (a fork copies their locks).
                processes = ProcessPoolExecutor(
                    settings.capture_check_processes, initializer=restore_recursion_limit,
                    mp_context=multiprocessing.get_context("spawn"))
                closers.append(lambda: processes.shutdown(wait=True, cancel_futures=True))
            services = cls(settings=settings, store=store, chain_view=view, intake=intake,
                           domain=view.domain, capture_checks=checks,
                           capture_processes=processes, _closers=closers)
            services.follow("chain-follower", view.follow)
            if settings.run_anchor_worker:
                services.worker = _start_worker(services, settings, store, w3, deployment)
            if settings.run_webhook_worker:
                services.webhooks = _start_webhooks(services, settings)
        except BaseException:
            for close in reversed(closers):
                close()
            raise
        return services

    def follow(self, name: str, loop: Callable[[threading.Event], object]) -> None:
        """Run `loop(stop)` on a daemon thread until the services close: the followers that
        keep cached state fresh off the request path (`ChainView.follow`,
        `StoreVersion.follow`) and the in-process anchoring worker."""
        stop = threading.Event()
        thread = threading.Thread(target=loop, args=(stop,), name=name, daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=30)

        self._closers.append(halt)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # noqa: BLE001 - shutdown must close every resource it can
                log.exception("error while closing %r", closer)
        self._closers.clear()

    # -- reads for the routes ---------------------------------------------------------------

    def parse_event_id(self, raw: str) -> bytes:
        return parse_event_id(raw)

    def get_event(self, event_id: bytes) -> dict[str, Any] | None:
        stored = self.store.get_event(event_id)
        return stored.as_epcis() if stored else None

    @staticmethod
    def event_query(filters: dict[str, Any]) -> EventQuery:
        """The store's query for the filters `gateway.routes.events.query_filters` read."""
        def tup(name: str) -> tuple[str, ...]:
            return tuple(filters.get(name) or ())

        get = filters.get
        return EventQuery(
            event_types=tup("event_types"),
            ge_event_time=get("ge_event_time"), gt_event_time=get("gt_event_time"),
            lt_event_time=get("lt_event_time"), le_event_time=get("le_event_time"),
            ge_record_time=get("ge_record_time"), gt_record_time=get("gt_record_time"),
            lt_record_time=get("lt_record_time"), le_record_time=get("le_record_time"),
            eq_biz_step=tup("biz_steps"),
            eq_disposition=tup("dispositions"),
            eq_read_point=tup("read_points"),
            eq_biz_location=tup("biz_locations"),
            wd_read_point=tup("wd_read_points"),
            wd_biz_location=tup("wd_biz_locations"),
            match_epc=tup("epcs"),
            match_any_epc=tup("any_epcs"),
            match_parent_id=tup("parent_ids"),
            match_input_epc=tup("input_epcs"),
            match_output_epc=tup("output_epcs"),
            match_epc_class=tup("epc_classes"),
            match_input_epc_class=tup("input_epc_classes"),
            match_output_epc_class=tup("output_epc_classes"),
            match_any_epc_class=tup("any_epc_classes"),
            eq_event_id=tup("event_ids"),
            eq_error_reason=tup("error_reasons"),
            exists_error_declaration=bool(get("exists_error_declaration")),
            ge_error_declaration_time=get("ge_error_declaration_time"),
            lt_error_declaration_time=get("lt_error_declaration_time"),
            eq_corrective_event_id=tup("corrective_event_ids"),
            eq_type=tup("types"),
            sensor=tuple(get("sensor") or ()),
            facts=tuple(get("facts") or ()),
            order_by=get("order_by"),
            order_desc=bool(get("order_desc", True)),
            event_count_limit=get("event_count_limit"),
            max_event_count=get("max_event_count"),
        )

    def query_events(self, filters: dict[str, Any], limit: int, token: str | None
                     ) -> tuple[list[dict[str, Any]], str | None]:
        events, next_token = self.store.query_events(self.event_query(filters), limit, token)
        return [e.as_epcis() for e in events], next_token

    def subscription_events(self, subscription: Subscription, after_seq: int, limit: int
                            ) -> Found:
        """A subscription's events after `after_seq`: its named query, run as
        `GET /queries/{name}/events` runs it (`WebhookWorker`'s `find`)."""
        from starlette.datastructures import QueryParams

        from gateway.routes.events import query_filters
        from ledger.epcis.query import query_parameters

        named = get_query(self.store.engine, subscription.org, subscription.query_name)
        filters = query_filters(QueryParams(query_parameters(named.query)),
                                frozenset({"perPage", "nextPageToken"}))
        # A subscription delivers new events in the order they were recorded, once each: it
        # pages by position (`last_seq`), so a named query's order and count limits do not
        # apply to it.
        filters.update(order_by=None, event_count_limit=None, max_event_count=None)
        if subscription.initial_record_ms != subscription.created_ms:
            # An explicit initialRecordTime (`last_seq` started at 0): events recorded from then.
            filters["ge_record_time"] = datetime.fromtimestamp(
                subscription.initial_record_ms / 1000, UTC)
        events, token = self.store.query_events(self.event_query(filters), limit,
                                                page_token_after(after_seq))
        found = [(e.seq, e.as_epcis()) for e in events]
        if not subscription.epc_format:
            return Found(found, token is not None)
        # GS1 keys as the subscriber asked (GS1-EPC-Format), and what was done, as a query
        # answer says it.
        from gateway.routes.events import with_epc_format
        from ledger.epcis.epc_format import EpcFormat

        written, done = with_epc_format(self, [e for _, e in found],
                                        EpcFormat(subscription.epc_format))
        return Found([(seq, e) for (seq, _), e in zip(found, written, strict=True)],
                     token is not None, done)

    def may_read(self, org: bytes, signer: str) -> bool:
        """Whether `signer` is a valid key of `org` now: what a signed member read needs."""
        import time

        self.chain_view.sync()
        return self.chain_view.key_verdict(org, signer, int(time.time())) == "valid"

    def list_values(self, resource: str, limit: int, token: str | None
                    ) -> tuple[list[str], str | None]:
        """A page of the values a top-level resource lists (`ledger.store.listing`)."""
        return list_values(self.store.engine, resource, limit, token)

    def holds_value(self, resource: str, values: list[str]) -> bool:
        return holds_value(self.store.engine, resource, values)

    def org_of_key(self, key: str) -> bytes | None:
        """The organisation a signing key is registered to (None: none). Uncached: this is a
        convenience for clients, not on the capture path."""
        consortium = self.chain_view._contracts["Consortium"]  # noqa: SLF001 - same ABI, one call
        org = bytes(consortium.functions.keyInfo(key).call()[0])
        return None if org == bytes(32) else org

    def capture_job(self, capture_id: str, *, result: IntakeResult | None = None,
                    with_anchors: bool = False) -> dict[str, Any] | None:
        """The EPCIS capture job of a stored capture (None if unknown)."""
        if result is not None and not with_anchors:
            return self._job_of(result)
        record = capture_record(self.store, capture_id)
        if record is None:
            return None
        signed_ids = record["event_ids"]
        left_out = set(record["left_out"])
        errors: list[dict[str, Any]] = []
        if result is not None:
            errors = list(result.rejected)
        behaviour = result.behaviour if result is not None else (
            "proceed" if record["left_out"] else "rollback")
        job: dict[str, Any] = {
            "captureID": capture_id,
            "createdAt": _iso(record["received_ms"]),
            "finishedAt": _iso(record["received_ms"]),
            "running": False,
            "success": not errors and not record["left_out"],
            "captureErrorBehaviour": behaviour,
            "errors": errors,
            "eventIDs": [format_event_id(e) for e in signed_ids if e not in left_out],
            "signer": record["signer"],
            "org": "0x" + record["org"].hex(),
            "nonce": record["nonce"],
        }
        if record["left_out"] and not errors:
            errors.extend({
                "type": "urn:zhenzhi:problem:event-not-captured",
                "title": "Event not captured",
                "status": 403,
                "detail": "this signed event was left out (proceed): its organisation lacked "
                          "the role it needs",
                "eventID": format_event_id(e),
            } for e in record["left_out"])
            job["success"] = not errors
        job["anchored"] = record["anchored"]
        if with_anchors:
            anchors = []
            for eid in signed_ids:
                status = self.store.anchor_status(eid)
                if status is None:
                    continue
                anchors.append({
                    "eventID": format_event_id(eid),
                    "anchored": status.state == "anchored",
                    "status": status.state,
                    "txHash": "0x" + status.tx_hash.hex() if status.tx_hash else None,
                    "batchRoot": "0x" + status.batch_root.hex() if status.batch_root else None,
                    "blockNumber": status.block_number,
                })
            job["anchors"] = anchors
        return job


    def capture_jobs(self, org: bytes, limit: int, token: str | None
                     ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the organisation's capture jobs, newest first (`GET /capture`)."""
        ids, next_token = list_capture_ids(self.store.engine, org, limit, token)
        jobs = [self.capture_job(capture_id) for capture_id in ids]
        return [job for job in jobs if job is not None], next_token

    @staticmethod
    def _job_of(result: IntakeResult) -> dict[str, Any]:
        """The job of a capture just accepted, from the intake's result (no database read:
        this is the hot path of `POST /capture`)."""
        from datetime import UTC, datetime

        capture = result.capture
        rejected = {e.get("eventID") for e in result.rejected}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        ids = [format_event_id(e) for e in capture.event_ids]
        return {
            "captureID": result.capture_id,
            "createdAt": now,
            "finishedAt": now,
            "running": False,
            "success": result.success,
            "captureErrorBehaviour": result.behaviour,
            "errors": list(result.rejected),
            "eventIDs": [i for i in ids if i not in rejected],
            "signer": capture.signer,
            "org": "0x" + capture.signature.org.hex(),
            "nonce": str(capture.signature.nonce),
            "anchored": False,
        }


def _start_worker(services: Services, settings: GatewaySettings, store: Store, w3: Any,
                  deployment: Deployment) -> Any:
    from eth_account import Account

    from ledger.chain.transactor import Transactor
    from ledger.pipeline.anchoring import AnchorWorker

    if settings.anchor_key is not None:
        account = Account.from_key(settings.anchor_key.get_secret_value())
    elif settings.anchor_keyfile is not None:
        from ledger.proofs.keystore import load_key

        passphrase = settings.anchor_passphrase.get_secret_value() \
            if settings.anchor_passphrase else ""
        account = load_key(settings.anchor_keyfile, passphrase)
    else:
        from ledger.errors import InvalidInputError

        raise InvalidInputError("run_anchor_worker needs ZHENZHI_ANCHOR_KEY or "
                                "ZHENZHI_ANCHOR_KEYFILE")
    from ledger.chain.client import Chain

    worker = AnchorWorker(store, Chain(w3, deployment, log_block_range=settings.log_block_range),
                          Transactor(w3, account), window=settings.anchor_interval_s,
                          confirmations=settings.anchor_confirmations)
    services.follow("anchor-worker", lambda stop: worker.run(stop=stop))
    return worker


def _start_webhooks(services: Services, settings: GatewaySettings) -> Any:
    from ledger.pipeline.webhooks import WebhookWorker

    worker = WebhookWorker(services.store.engine, services.subscription_events,
                           services.may_read, allow_private=settings.webhook_allow_private,
                           interval_s=settings.webhook_interval_s,
                           backoff_base_s=settings.webhook_backoff_base_s,
                           max_attempts=settings.webhook_max_attempts)
    services.follow("webhook-worker", worker.run)
    return worker
