"""Links the resolver offers for an identifier, as an RFC 9264 linkset and as `Link` headers.

A `Link` is one typed link (GS1 Web Vocabulary link type, target, human-readable title, and
optionally its media type and languages). `linkset` writes them in the JSON form GS1's linkset
schema (GS1-Conformant Resolver 1.2, the schema in `conformance/digital-link/`) accepts: an
anchor, an `itemDescription`, then one array per link type, keyed by the type's full URI, each
link with `href` and `title` and nothing the schema does not name. `link_header` writes the same
links as an HTTP `Link` header (RFC 8288), each with its `rel` and `title`.

Link types are accepted in every spelling the standard allows (`gs1:pip`,
`https://gs1.org/voc/pip`, `https://ref.gs1.org/voc/pip`, `https://www.gs1.org/voc/pip`,
`http://…`) and written in the linkset as `https://gs1.org/voc/…`, the form of GS1's own
example linkset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["GS1_VOC", "JSONLD_CONTEXT", "JSONLD_MEDIA_TYPE", "LINKSET_CONTEXT",
           "LINKSET_CONTEXT_URL", "Link", "link_header", "link_type_uri", "linkset"]

GS1_VOC = "https://gs1.org/voc/"
ZHENZHI_VOC = "https://ns.zhenzhi.example/linktype/"
# GS1's context to read a linkset as JSON-LD (an artefact of the resolver standard).
LINKSET_CONTEXT_URL = "https://ref.gs1.org/standards/resolver/linkset-context"
JSONLD_CONTEXT = "http://www.w3.org/ns/json-ld#context"
JSONLD_MEDIA_TYPE = "application/ld+json"
# GS1's linkset context (gs1/linkset `linksetContext.jsonld`, Apache-2.0), inlined in the
# JSON-LD form of a linkset as GS1's example linkset does: a reader needs no network to expand
# it. `@vocab` makes IANA relation names of bare keys; link types are full URIs already.
LINKSET_CONTEXT: dict[str, Any] = {
    "@vocab": "http://www.iana.org/assignments/relation/",
    "@protected": True,
    "anchor": "@id",
    "href": "@id",
    "linkset": "@graph",
    "_linkset": "@graph",
    "dcterms": "http://purl.org/dc/terms/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "gs1": "https://gs1.org/voc/",
    "schema": "http://schema.org/",
    "hreflang": {"@id": "http://purl.org/dc/terms/language", "@container": "@set"},
    "title": {"@id": "http://purl.org/dc/terms/title"},
    "title*": {"@id": "http://purl.org/dc/terms/title", "@container": "@set"},
    "type": {"@id": "http://purl.org/dc/terms/format"},
    "creator": {"@id": "http://purl.org/dc/terms/creator"},
    "creatorName": {"@id": "http://purl.org/dc/elements/1.1/creator"},
    "modified": {"@id": "http://purl.org/dc/terms/modified"},
    "_comment": {"@id": "https://ontologi.es/doap-bugs#comment"},
    "itemDescription": {"@id": "http://www.w3.org/2000/01/rdf-schema#comment"},
    "id": "@id",
    "a": "@type",
    "language": "@language",
    "value": "@value",
}

_GS1_SPELLINGS = ("gs1:", "https://gs1.org/voc/", "http://gs1.org/voc/",
                  "https://www.gs1.org/voc/", "http://www.gs1.org/voc/",
                  "https://ref.gs1.org/voc/", "http://ref.gs1.org/voc/")


def link_type_uri(text: str) -> str:
    """The link type's full URI in the linkset's spelling (`gs1:pip` → `https://gs1.org/voc/pip`).
    A bare word is read as a GS1 term; another namespace's URI is kept as written."""
    text = text.strip()
    for prefix in _GS1_SPELLINGS:
        if text.startswith(prefix):
            return GS1_VOC + text[len(prefix):]
    if text.startswith("zhenzhi:"):
        return ZHENZHI_VOC + text.removeprefix("zhenzhi:")
    if "://" in text:
        return text
    return GS1_VOC + text


@dataclass(frozen=True, slots=True)
class Link:
    rel: str           # full link type URI
    href: str          # absolute target
    title: str
    type: str | None = None
    hreflang: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"href": self.href, "title": self.title}
        if self.type:
            out["type"] = self.type
        if self.hreflang:
            out["hreflang"] = list(self.hreflang)
        return out


def linkset(anchor: str, description: str, links: list[Link]) -> dict[str, Any]:
    """RFC 9264 `application/linkset+json`, valid against GS1's linkset schema."""
    context: dict[str, Any] = {"anchor": anchor, "itemDescription": description}
    for link in links:
        context.setdefault(link.rel, []).append(link.as_json())
    return {"linkset": [context]}


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link_header(links: list[Link]) -> str:
    """An RFC 8288 `Link` header value for `links` (titles are ASCII: see the brand links)."""
    parts = []
    for link in links:
        part = f"<{link.href}>; rel={_quoted(link.rel)}; title={_quoted(link.title)}"
        if link.type:
            part += f"; type={_quoted(link.type)}"
        if link.hreflang:
            part += f"; hreflang={_quoted(link.hreflang[0])}"
        parts.append(part)
    return ", ".join(parts)
