"""`zhenzhi demo`: the main job. Plays a real cross-border journey through every component and
keeps the gateway serving it.

What it does, each step through the production path (no shortcut a verifier could notice):

1. consortium: six journey organisations (NZ manufacturer, exporter, carrier; Nansha customs,
   bonded warehouse, e-commerce platform) and a market regulator are admitted by the operator's
   ADMIN key through Consortium proposals; each gets its own secp256k1 key, kept as an
   encrypted keystore under `var/keys/`, funded by a plain value transfer from the deployer;
   the operator gets a separate ANCHORER key for the gateway's anchoring worker;
2. the gateway (FastAPI under uvicorn, in this process) starts on SQLite with its anchoring
   worker; everything below talks to it over HTTP;
3. three consignments (`ledger.demo.journey`, one a production day apart): the brand asks the
   gateway for unguessable serials per lot, registers each lot on CodeRegistry with its own
   transaction and downloads the label sheets; every party signs its EPCIS documents (EIP-712)
   and POSTs them; customs asks the gateway for the risk assessment (versioned rules), records
   the suggested decision on CustomsRelease with its own key and captures a signed `inspecting`
   event. Only released goods go on to the bonded warehouse and the platform's sales;
4. consumers scan through the Digital Link resolver: a genuine can, a cloned code (the buyer's
   scan, then three other cities), a can of a lot the brand recalls; they file complaints; the
   regulator downgrades the brand's credit grade after the recall, which the third
   consignment's risk assessment then sees.

`story` plays it (the organisations, the consignments, the consumers), `serving` runs the
gateway around it and adds the command, `summary` prints what was done and where to look.

The record of what was played is `var/demo.json`: a second run on the same `var/` finds it and
only serves again. Key files are encrypted, but the passphrase is in `var/keys/.passphrase`
(mode 0600) so the demo can restart unattended: a local demo, not a key-management policy.
"""
