"""Which requests of the EPCIS 2.0 REST binding the proxy forwards, and how it signs each.

Only the binding's own paths and methods pass (GS1's openapi.yaml: `/`, `/capture`, `/events`,
the top-level resources, `/queries`, `/nextPageToken`); every other path is refused before
anything is read or signed, so the proxy cannot be made to sign a request to any other route
of the gateway (the console, members, codes, recalls, …) with the enterprise's key. A path with
a `.` or `..` segment is refused too: an HTTP library may collapse it on the way out, and the
request would then reach another route than the one checked here.
"""

from __future__ import annotations

import enum
import re
from urllib.parse import unquote

from signproxy.errors import MethodNotAllowedError, OutsideBindingError

__all__ = ["Kind", "classify"]


class Kind(enum.Enum):
    CAPTURE = "capture"  # POST /capture: an EPCISDocument, capture-signed
    EVENT = "event"      # POST /events: one event, capture-signed as a one-event document
    READ = "read"        # any other request of the binding: a member request signature


_RESOURCES = "eventTypes|epcs|bizSteps|bizLocations|readPoints|dispositions"
_SEG = r"[^/]+"
_READ = frozenset({"GET", "OPTIONS"})

# (path pattern on the raw path, methods) in the binding; POST /capture and POST /events are
# the two captures, every other method a read.
_ROUTES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(f"^{pattern}$"), frozenset(methods)) for pattern, methods in (
        ("/", _READ),
        ("/capture", _READ | {"POST"}),
        (f"/capture/{_SEG}", _READ),
        ("/events", _READ | {"POST"}),
        ("/events/.+", _READ),  # an event id is a URI, its slashes percent-encoded or not
        (f"/(?:{_RESOURCES})", _READ),
        (f"/(?:{_RESOURCES})/.+", _READ),  # /{resource}/{value}[/events]; an EPC may hold '/'
        ("/queries", _READ | {"POST"}),
        (f"/queries/{_SEG}", _READ | {"DELETE"}),
        (f"/queries/{_SEG}/events", _READ),
        (f"/queries/{_SEG}/subscriptions", _READ | {"POST"}),
        (f"/queries/{_SEG}/subscriptions/{_SEG}", _READ | {"DELETE"}),
        (f"/nextPageToken/{_SEG}", frozenset({"DELETE"})),
    ))


def classify(method: str, raw_path: str) -> Kind:
    """The kind of request `method raw_path` is, or the refusal (404 outside the binding,
    405 a method the binding does not have there)."""
    method = method.upper()
    segments = raw_path.split("/")[1:]
    if not raw_path.startswith("/") or any(unquote(s) in (".", "..") for s in segments):
        raise OutsideBindingError(f"{raw_path!r} is not a path of the EPCIS 2.0 REST binding",
                                  path=raw_path)
    for pattern, methods in _ROUTES:
        if pattern.match(raw_path):
            if method not in methods:
                raise MethodNotAllowedError(
                    f"{method} is not an operation of the binding on {raw_path}",
                    method=method, allow=", ".join(sorted(methods)))
            if method == "POST" and raw_path == "/capture":
                return Kind.CAPTURE
            if method == "POST" and raw_path == "/events":
                return Kind.EVENT
            return Kind.READ
    raise OutsideBindingError(
        f"{raw_path!r} is not a path of the EPCIS 2.0 REST binding; the proxy forwards and "
        "signs only those", path=raw_path)
