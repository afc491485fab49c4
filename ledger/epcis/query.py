"""The EPCIS 2.0 query language as JSON (the `query` of `POST /queries`): checked against the
standard's query schema (`schemas/EPCIS-Query-JSON-Schema.json`, the REST binding's
`query-schema.json`) and flattened to the binding's query-string form (`EQ_bizStep=a|b`), so
a named query is answered by exactly the code that answers `GET /events` with the same
parameters: whatever that refuses (an unknown or unsupported parameter), creating the query
refuses too.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ledger.errors import InvalidInputError

__all__ = ["InvalidQueryError", "QUERY_SCHEMA_FILE", "query_parameters"]

QUERY_SCHEMA_FILE = Path(__file__).parent / "schemas" / "EPCIS-Query-JSON-Schema.json"


class InvalidQueryError(InvalidInputError):
    """EPCIS QueryParameterException: the query is not one of the query language."""

    slug = "invalid-query"
    title = "Invalid EPCIS query"


_lock = threading.Lock()
_validator: Any = None


def _compiled() -> Any:
    global _validator
    with _lock:
        if _validator is None:
            import jsonschema_rs

            schema = _unescaped(json.loads(QUERY_SCHEMA_FILE.read_text(encoding="utf-8")))
            _validator = jsonschema_rs.validator_for(schema, validate_formats=True)
        return _validator


def _unescaped(schema: Any) -> Any:
    """GS1's schema with its patterned names as GS1 meant them. Its `patternProperties` keys
    are escaped twice (`"^EQ_ILMD_[a-z][a-zA-Z0-9]*\\\\:\\\\w+$"` in the file: a regex
    that asks for a backslash before the `:`), so no real name matched (`EQ_ILMD_ex:size`,
    `EQ_bizTransaction_po` aside, `EQ_ATTR_…`, the sensor and declaration families) and, the
    schema allowing no other property, every named query using one was refused."""
    if isinstance(schema, dict):
        out = {k: _unescaped(v) for k, v in schema.items()}
        if isinstance(out.get("patternProperties"), dict):
            out["patternProperties"] = {name.replace("\\\\", "\\"): v
                                        for name, v in out["patternProperties"].items()}
        return out
    if isinstance(schema, list):
        return [_unescaped(v) for v in schema]
    return schema


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):  # EQ_booleanValue: the query string's `true` / `false`
        return "true" if value else "false"
    if not isinstance(value, str | int | float):
        raise InvalidQueryError(f"{name}: {value!r} is not a value of the query language",
                                pointer=f"/query/{name}")
    text = str(value)
    if "|" in text:  # the query-string form separates values with `|`
        raise InvalidQueryError(f"{name}: a value may not contain '|'", pointer=f"/query/{name}")
    return text


def query_parameters(query: Any) -> list[tuple[str, str]]:
    """The query as (name, value) query-string pairs; raise InvalidQueryError (with a JSON
    pointer) unless it is valid against the standard's query schema."""
    if not isinstance(query, dict):
        raise InvalidQueryError("the query must be a JSON object", pointer="/query")
    error = next(iter(_compiled().iter_errors(query)), None)
    if error is not None:
        path = "".join(f"/{p}" for p in error.instance_path)
        raise InvalidQueryError(f"the query is not valid EPCIS: {error.message}"[:500],
                                pointer=f"/query{path}")
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        if name == "@context":
            continue
        if name.startswith("EXISTS_"):
            pairs.append((name, ""))
        elif isinstance(value, list):
            if not value:
                raise InvalidQueryError(f"{name}: an empty list matches nothing",
                                        pointer=f"/query/{name}")
            pairs.append((name, "|".join(_scalar(name, v) for v in value)))
        else:
            pairs.append((name, _scalar(name, value)))
    return pairs
