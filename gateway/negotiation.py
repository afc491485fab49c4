"""What an EPCIS client asks of a query answer through the binding's request headers.

    GS1-EPCIS-Min, GS1-EPCIS-Max,   the versions the client reads; a range without 2.0.0 is
    GS1-CBV-Min, GS1-CBV-Max        406 NotAcceptableException (all this server writes)
    GS1-EPC-Format                  how GS1 keys are written (`ledger.epcis.epc_format`)
    GS1-CBV-XML-Format              how CBV values are written in XML answers
                                    (`ledger.epcis.xml_writer.CbvXmlFormat`)
    GS1-Extensions                  EPCIS/CBV extensions the client asks for, as the binding
                                    writes them (`prefix=namespace` pairs, comma-separated);
                                    this server implements none, so naming any is 406

A value outside the binding's schema (a version not `^\\d+(\\.\\d+)*$`, a format not in its
enum) is 400 `invalid-header`, naming the header: a client that misspells `Always_EPC_URN`
would otherwise get an answer it did not ask for and not know it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request

from ledger.epcis.epc_format import EpcFormat
from ledger.epcis.xml_writer import CbvXmlFormat
from ledger.errors import InvalidInputError, LedgerError

__all__ = ["FORMAT_HEADERS", "SPOKEN", "VERSION_HEADERS", "ExtensionsNotSupportedError", "HeaderValueError", "Negotiation",
           "VersionNotAcceptableError", "check_versions", "format_headers", "negotiate",
           "version_headers"]

_F = TypeVar("_F", bound=StrEnum)

# The EPCIS and CBV versions every answer is written in.
SPOKEN = {"EPCIS": (2, 0, 0), "CBV": (2, 0, 0)}
_VERSION = re.compile(r"\d{1,6}(\.\d{1,6}){0,5}")


class HeaderValueError(InvalidInputError):
    """A GS1 request header whose value the binding does not define."""

    slug = "invalid-header"
    title = "Invalid request header"


class ExtensionsNotSupportedError(LedgerError):
    """EPCIS NotAcceptableException: the request asks for extensions this server lacks."""

    slug = "extensions-not-supported"
    title = "EPCIS extensions not supported"
    status = 406


class VersionNotAcceptableError(LedgerError):
    """EPCIS NotAcceptableException: the client reads no version this server writes."""

    slug = "version-not-acceptable"
    title = "No acceptable EPCIS or CBV version"
    status = 406


@dataclass(frozen=True, slots=True)
class Negotiation:
    """How to write a query answer for this request."""

    epc_format: EpcFormat = EpcFormat.NO_PREFERENCE
    cbv_xml_format: CbvXmlFormat = CbvXmlFormat.NO_PREFERENCE


def _version(name: str, value: str) -> tuple[int, ...]:
    text = value.strip()
    if not _VERSION.fullmatch(text):
        raise HeaderValueError(f"{name} must be a version such as 2.0.0, got {value[:40]!r}",
                               header=name, value=value[:40])
    return _significant(tuple(int(p) for p in text.split(".")))


def _significant(parts: tuple[int, ...]) -> tuple[int, ...]:
    """Without trailing zeros, so that 2, 2.0 and 2.0.0.0 compare equal (and in order)."""
    while parts and parts[-1] == 0:
        parts = parts[:-1]
    return parts


def _enum(name: str, value: str | None, kind: type[_F]) -> _F | None:
    if value is None:
        return None
    try:
        return kind(value.strip())
    except ValueError:
        allowed = [m.value for m in kind]
        raise HeaderValueError(f"{name} must be one of {', '.join(allowed)}, got "
                               f"{value[:40]!r}", header=name, value=value[:40],
                               allowed=allowed) from None


_EXTENSION = re.compile(r"\s*([A-Za-z_][\w.-]{0,63})\s*=\s*(\S{1,512}?)\s*")


def check_extensions(headers: Mapping[str, str]) -> None:
    """`GS1-Extensions` read as the binding writes it (a `simple`, exploded object:
    `prefix=namespace,prefix2=namespace2`): HeaderValueError (400) if it is not that, and
    ExtensionsNotSupportedError (406) if it names any extension. This server implements
    EPCIS and CBV 2.0 without extensions (FIT and the like): it stores and answers extension
    fields as captured and queries them by their name, but gives no extension a meaning, so
    an answer to a client that needs one would claim what the server does not do. An empty
    value asks for nothing and is answered as usual; no answer carries `GS1-Extensions`."""
    raw = headers.get("GS1-Extensions")
    if raw is None or not raw.strip():
        return
    parts = [p for p in raw.split(",") if p.strip()]
    pairs = [_EXTENSION.fullmatch(p) for p in parts]
    if len(parts) > 32 or not all(pairs):
        raise HeaderValueError("GS1-Extensions must be prefix=namespace pairs separated by "
                               f"commas, got {raw[:80]!r}", header="GS1-Extensions",
                               value=raw[:80])
    named = {m.group(1): m.group(2) for m in pairs if m is not None}
    raise ExtensionsNotSupportedError(
        "this server implements no EPCIS or CBV extension (it answers EPCIS and CBV 2.0; "
        "extension fields are stored, answered and queried as captured, with no meaning of "
        f"their own): {', '.join(sorted(named))}", header="GS1-Extensions",
        extensions=named, supported={})


def check_versions(headers: Mapping[str, str]) -> None:
    """HeaderValueError (400) for a malformed GS1-EPCIS/CBV-Min/Max, VersionNotAcceptableError
    (406) for a range that excludes what this server writes."""
    for spec, spoken in SPOKEN.items():
        low_name, high_name = f"GS1-{spec}-Min", f"GS1-{spec}-Max"
        low = headers.get(low_name)
        high = headers.get(high_name)
        lo = _version(low_name, low) if low is not None else None
        hi = _version(high_name, high) if high is not None else None
        version = _significant(spoken)
        if (lo is not None and lo > version) or (hi is not None and hi < version):
            written = ".".join(map(str, spoken))
            raise VersionNotAcceptableError(
                f"this server writes {spec} {written} only; the request accepts "
                f"{low or 'any'} to {high or 'any'}", headers=[low_name, high_name],
                supported=written)


def negotiate(headers: Mapping[str, str]) -> Negotiation:
    """The Negotiation of request `headers` (case-insensitive mapping): `check_versions`, then
    the two format headers (HeaderValueError for a value outside their enum)."""
    check_versions(headers)
    check_extensions(headers)
    epc = _enum("GS1-EPC-Format", headers.get("GS1-EPC-Format"), EpcFormat)
    cbv = _enum("GS1-CBV-XML-Format", headers.get("GS1-CBV-XML-Format"), CbvXmlFormat)
    return Negotiation(epc or EpcFormat.NO_PREFERENCE, cbv or CbvXmlFormat.NO_PREFERENCE)


_Version = "a version, `^\\d+(\\.\\d+)*$`; this server writes 2.0.0 only (406 if excluded)"


def version_headers(
    request: Request,
    gs1_epcis_min: Annotated[str | None, Header(alias="GS1-EPCIS-Min",
                                                description=_Version)] = None,
    gs1_epcis_max: Annotated[str | None, Header(alias="GS1-EPCIS-Max",
                                                description=_Version)] = None,
    gs1_cbv_min: Annotated[str | None, Header(alias="GS1-CBV-Min", description=_Version)] = None,
    gs1_cbv_max: Annotated[str | None, Header(alias="GS1-CBV-Max", description=_Version)] = None,
) -> None:
    """FastAPI dependency: `check_versions`, the headers declared in the OpenAPI."""
    check_versions(request.headers)


def format_headers(
    request: Request,
    _versions: Annotated[None, Depends(version_headers)],
    gs1_epc_format: Annotated[str | None, Header(
        alias="GS1-EPC-Format", description=(
            "No_Preference, Always_GS1_Digital_Link, Always_EPC_URN or Never_Translates: "
            "how GS1 keys are written (absent: as captured)"))] = None,
    gs1_cbv_xml_format: Annotated[str | None, Header(
        alias="GS1-CBV-XML-Format", description=(
            "XML answers: No_Preference, Always_Web_URI, Always_URN or Never_Translates"))
    ] = None,
    gs1_extensions: Annotated[str | None, Header(
        alias="GS1-Extensions", description=(
            "extensions the client needs, `prefix=namespace` pairs separated by commas; this "
            "server implements none, so any is 406 (empty: none)"))] = None,
) -> Negotiation:
    """FastAPI dependency: the request's Negotiation, its headers declared in the OpenAPI."""
    return negotiate(request.headers)


# Route `dependencies=`: the GS1 headers of an operation, declared in the OpenAPI and refused
# (400, 406) before anything is read. Query answers read `negotiate` again for what they write.
VERSION_HEADERS = [Depends(version_headers)]
FORMAT_HEADERS = [Depends(format_headers)]
