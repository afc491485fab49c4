// An unmodified EPCIS 2.0 client: epcis2.js (EVRYTHNG/Digimarc/Zebra) builds an ObjectEvent and
// an AggregationEvent, captures them with its own `capture()`, polls the capture job with its
// own `CaptureResponse`, then queries the events back with plain fetch (epcis2.js has no query
// helper) and follows the binding's `Link: rel="next"` paging. No Zhenzhi code: it speaks the
// standard to whatever `apiUrl` is (here the sign-proxy). Prints one JSON object on stdout.
//
// usage: node capture_and_query.js '{"apiUrl": "...", "gtin": "...", "serial": 1, ...}'

const {
  setup, capture, EPCISDocument, ObjectEvent, AggregationEvent, ReadPoint, BizLocation,
  CaptureResponse, cbv,
} = require('epcis2.js');

const args = JSON.parse(process.argv[2]);
const apiUrl = args.apiUrl.replace(/\/$/, '');

async function answer(res) {
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { body = text; }
  return { status: res.status, location: res.headers.get('location'), link: res.headers.get('link'), body };
}

async function main() {
  setup({ apiUrl, documentValidation: true, timeout: 30000 });

  const item = `https://id.gs1.org/01/${args.gtin}/21/${args.serial}`;
  const other = `https://id.gs1.org/01/${args.gtin}/21/${args.serial + 1}`;
  const pallet = `https://id.gs1.org/00/${args.sscc}`;

  const commissioned = new ObjectEvent()
    .setEventTime(args.eventTime)
    .setEventTimeZoneOffset('+08:00')
    .addEPCList([item, other])
    .setAction(cbv.actionTypes.add)
    .setBizStep(cbv.bizSteps.commissioning)
    .setDisposition(cbv.dispositions.active)
    .setReadPoint(new ReadPoint().setId(args.readPoint))
    .setBizLocation(new BizLocation().setId(args.bizLocation));

  const packed = new AggregationEvent()
    .setEventTime(args.packTime)
    .setEventTimeZoneOffset('+08:00')
    .setParentId(pallet)
    .addChildEPCList([item, other])
    .setAction(cbv.actionTypes.add)
    .setBizStep(cbv.bizSteps.packing)
    .setDisposition(cbv.dispositions.in_progress)
    .setReadPoint(new ReadPoint().setId(args.readPoint))
    .setBizLocation(new BizLocation().setId(args.bizLocation));

  const doc = new EPCISDocument()
    .setCreationDate(new Date().toISOString())
    .addEventList([commissioned, packed]);

  const out = { sent: doc.toObject() };

  // epcis2.js's own hash of each event (its CBV 2.0 event-hash implementation).
  out.clientEventIDs = [commissioned, packed].map((e) => {
    try { return e.generateHashID({}, true).getEventID(); } catch (err) { return `error: ${err.message || err}`; }
  });

  const res = await capture(doc);
  out.capture = await answer(res.clone());
  if (res.status === 202) {
    const cr = new CaptureResponse(res);
    await cr.pollForTheCaptureToFinish(3, 200);
    out.job = { running: cr.getRunningStatus(), success: cr.getSuccessStatus(), errors: cr.getErrors(),
                location: cr.getLocation() };
  }

  // Query back through the same URL: one event per page, following Link rel="next".
  const pages = [];
  let next = `${apiUrl}/events?EQ_readPoint=${encodeURIComponent(args.readPoint)}&perPage=1`;
  while (next && pages.length < 5) {
    const page = await answer(await fetch(next, { headers: { accept: 'application/json' } }));
    pages.push(page);
    const m = page.link && page.link.match(/<([^>]+)>;\s*rel="next"/);
    next = m ? m[1] : null;
  }
  out.pages = pages;

  const ids = (out.capture.body && out.capture.body.eventIDs) || [];
  out.byId = [];
  for (const id of ids) {
    out.byId.push(await answer(await fetch(`${apiUrl}/events/${encodeURIComponent(id)}`)));
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
