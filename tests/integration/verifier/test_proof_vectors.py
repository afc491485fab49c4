"""The shared proof vectors (tests/proof_vectors.py) through the Python verifier: every vector
gets exactly its verdict, decided by its check. The browser verifier runs the same list in
headless Chromium (tests/e2e/test_browser_vectors.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.evidence.public import item_epc
from ledger.proofs.bundle import Bundle
from tests.proof_vectors import Vector, build_vectors
from tests.scenarios import played_journey
from verifier.verify import verify

NAMES_AT_LEAST = 30


@pytest.fixture(scope="module")
def vectors(w3, deployment, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[object, list[Vector]]]:
    db = tmp_path_factory.mktemp("vectors") / "store.db"
    with played_journey(w3, deployment, db, seed=41, day=191) as sc:
        built = build_vectors(sc)
        out = Path(os.environ.get("ZHENZHI_ARTIFACTS", "test-artifacts")) / "proof-vectors.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([v.__dict__ for v in built], indent=1, ensure_ascii=False))
        yield sc, built


def test_there_are_enough_distinct_vectors(vectors) -> None:
    _, built = vectors
    names = [v.name for v in built]
    assert len(set(names)) == len(names) >= NAMES_AT_LEAST
    assert {v.verdict for v in built} == {"GENUINE", "UNVERIFIED", "RECALLED",
                                          "SUSPECTED_CLONE", "COUNTERFEIT"}


def test_the_python_verifier_gives_every_vector_its_verdict(vectors) -> None:
    sc, built = vectors
    wrong = []
    for v in built:
        verdict = verify(v.code, Bundle.from_json(v.proof), sc.view)
        deciding = None if verdict.deciding is None else str(verdict.deciding.name)
        if str(verdict.kind) != v.verdict or deciding != v.deciding:
            wrong.append((v.name, str(verdict.kind), deciding, verdict.reason))
    assert not wrong, "\n".join(map(str, wrong))


def test_no_public_vector_names_another_serial_or_a_business_transaction(vectors) -> None:
    sc, built = vectors
    for v in built:
        if not v.name.startswith("genuine"):
            continue
        mine = item_epc(v.code)
        text = json.dumps(v.proof)
        assert mine in text
        assert "bizTransaction" not in text and "ni:///" not in text and "quantity" not in text
        others = [e for lot in sc.journey.lots for e in lot.items if e != mine and e in text]
        assert not others, (v.name, others[:3])


def test_the_master_data_a_public_proof_discloses_names_nothing_of_other_goods(vectors) -> None:
    """The new public fields (signed master data, a sale's seller) carry names and countries of
    places and parties: no serial of another can, no case or pallet the can was never in, no
    business transaction, no quantity."""
    sc, built = vectors
    every_epc = {e for lot in sc.journey.lots for e in lot.items} | {
        c.epc for c in sc.journey.containers}
    for v in built:
        if not v.name.startswith("genuine"):
            continue
        mine = item_epc(v.code)
        path = {mine} | {c.epc for c in sc.journey.containers if mine in c.children} | {
            p.epc for p in sc.journey.containers for c in sc.journey.containers
            if mine in c.children and c.epc in p.children}
        new = [json.loads(d["text"]) for e in v.proof["events"] for d in e["disclosures"]
               if json.loads(d["text"])[1] in ("zhenzhi:masterData", "zhenzhi:seller")]
        assert any(n[1] == "zhenzhi:masterData" for n in new), v.name  # not vacuous
        assert any(n[1] == "zhenzhi:seller" for n in new), v.name
        text = json.dumps([n[2] for n in new], ensure_ascii=False)
        assert not [e for e in every_epc - path if e in text], v.name
        assert mine not in text  # master data describes places and parties, not goods
        for word in ("bizTransaction", "quantity", "/253/", "/00/", "/01/", "ni:///",
                     "riskScore", "rulesFired", "consignment"):
            assert word not in text, (v.name, word)
        for _, name, value in new:
            if name == "zhenzhi:masterData":
                assert all(set(el) <= {"id", "name", "countryCode"} for el in value)
                assert all(el["id"].startswith(("https://id.gs1.org/414/",
                                                "https://id.gs1.org/417/")) for el in value)


# --- the same vectors in the browser -------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "verifier" / "static"


class _Static:
    """Serves the built page: /verifier/<file> from verifier/static, any other path the shell."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = self.path.split("?", 1)[0]
                f = STATIC / path.removeprefix("/verifier/") if path.startswith("/verifier/") \
                    else STATIC / "scan.html"
                ok = f.is_file() and f.parent == STATIC
                body = f.read_bytes() if ok else b"{}"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", {".js": "text/javascript", ".css": "text/css"}
                                 .get(f.suffix, "text/html") if ok else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.browser
def test_the_browser_verifier_gives_every_vector_the_same_verdict(vectors, anvil) -> None:
    chromium = os.environ.get("ZHENZHI_CHROMIUM") or "/usr/bin/chromium"
    if not Path(chromium).exists() or not (STATIC / "verify.js").exists():
        pytest.skip("no Chromium or no built verifier/static/verify.js (run scripts/test)")
    from playwright.sync_api import sync_playwright

    sc, built = vectors
    d = sc.deployment
    config = {"rpcUrl": anvil.url, "chainId": d.chainId,
              "contracts": {n: r.address for n, r in d.contracts.items()}}
    site = _Static()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page()
            page.goto(site.url + "/01/00000000000000/21/x")
            page.wait_for_function("typeof window.zhenzhiVerify === 'function'")
            results = page.evaluate("""async ([vectors, config]) => {
                const out = {};
                for (const v of vectors) {
                    const r = await window.zhenzhiVerify(v.proof, {...config, code: v.code});
                    const deciding = r.checks.find((c) => c.deciding) || null;
                    out[v.name] = {verdict: r.verdict, checks: r.checks, profile: r.profile};
                }
                return out;
            }""", [[{"name": v.name, "code": v.code, "proof": v.proof} for v in built], config])
            browser.close()
    finally:
        site.server.shutdown()
        site.server.server_close()
    wrong = {}
    for v in built:
        got = results[v.name]
        py = verify(v.code, Bundle.from_json(v.proof), sc.view)
        js_checks = sorted((c["name"], c["outcome"]) for c in got["checks"]
                           if c["name"] != "chain.node")
        py_checks = sorted((str(c.name), str(c.outcome)) for c in py.checks)
        # The consumer profile too: the same facts, attributed to the same organisations.
        js_profile = json.dumps(got["profile"], sort_keys=True, ensure_ascii=False)
        py_profile = json.dumps(py.profile, sort_keys=True, ensure_ascii=False)
        if got["verdict"] != v.verdict or js_checks != py_checks or js_profile != py_profile:
            wrong[v.name] = {"expected": v.verdict, "browser": got["verdict"],
                             "only_browser": sorted(set(js_checks) - set(py_checks)),
                             "only_python": sorted(set(py_checks) - set(js_checks)),
                             "profiles": None if js_profile == py_profile
                             else {"browser": got["profile"], "python": py.profile}}
    assert not wrong, json.dumps(wrong, indent=1, ensure_ascii=False)
    genuine = results["genuine"]["profile"] if "genuine" in results else next(
        r["profile"] for n, r in results.items() if n.startswith("genuine"))
    # The demo's can shows every field the import platforms publish, none as a raw link.
    assert set(genuine) >= {"productName", "brand", "gtin", "serial", "lot", "productionDate",
                            "expiryDate", "originCountry", "manufacturer",
                            "productRecordNumber", "exporter", "carrier", "logistics",
                            "portOfEntry", "declaringEnterprise", "declarationTime",
                            "inspectionTime", "customsDecision", "releaseTime", "warehouse",
                            "platform", "seller", "saleTime", "lotStatus"}, sorted(genuine)
    fields = {k: f for k, f in genuine.items() if k not in ("lastSeenAt", "eventCount")}
    missing = {k for k, f in fields.items() if not f.get("value")}
    assert missing == set(), {k: genuine[k] for k in missing}
    assert "/414/" not in json.dumps([f["value"] for f in fields.values()])
