"""The standard's own response schemas (GS1's `openapi.yaml`, `components/schemas`), as
jsonschema validators: an answer is checked against what GS1 wrote, not against our OpenAPI.
The binding's `JSON-Schema-Stub.json` references point into the standard's EPCIS JSON schema
in the same conformance folder."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jsonschema
import yaml

from ledger.paths import SHARED_DIR

EPCIS_DIR = SHARED_DIR / "conformance" / "epcis"
_STUB = "https://gs1.github.io/EPCIS/REST%20Bindings/JSON-Schema-Stub.json#/definitions/"


def _resolve_stub(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_STUB):
            return {"$ref": "#/epcisJson/definitions/" + ref[len(_STUB):]}
        return {k: _resolve_stub(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_stub(v) for v in node]
    return node


# jsonschema checks `format: uri` only with an optional package; an absolute URI (RFC 3986:
# a scheme, a colon, no spaces) is checked here instead.
_FORMATS = jsonschema.FormatChecker()
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


@lru_cache(maxsize=1)
def spec_root() -> dict[str, Any]:
    spec = yaml.safe_load((EPCIS_DIR / "openapi.yaml").read_text())
    epcis_json = json.loads((EPCIS_DIR / "schema" / "EPCIS-JSON-Schema.json").read_text())
    # The EPCIS JSON schema's own `#/definitions/…` refs: re-rooted under `epcisJson`.
    text = json.dumps(epcis_json).replace('"#/definitions/', '"#/epcisJson/definitions/')
    return {"components": _resolve_stub(spec["components"]), "epcisJson": json.loads(text)}


def validate(schema_name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError unless `instance` is valid against the standard's
    `components/schemas/<schema_name>`."""
    schema = {**spec_root(), "$ref": f"#/components/schemas/{schema_name}"}
    jsonschema.Draft7Validator(schema, format_checker=_FORMATS).validate(instance)


def validate_response(response_name: str, instance: Any,
                      media_type: str = "application/json") -> None:
    """Raise jsonschema.ValidationError unless `instance` is valid against the body schema of
    the standard's `components/responses/<response_name>` for `media_type`."""
    pointer = f"#/components/responses/{response_name}/content/{media_type.replace('/', '~1')}"
    schema = {**spec_root(), "$ref": pointer + "/schema"}
    jsonschema.Draft7Validator(schema, format_checker=_FORMATS).validate(instance)
