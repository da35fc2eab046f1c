"""ninjs documents checked against the IPTC's official JSON Schemas (1.6, 2.2 and 3.1, shipped
beside this module).

Which version a document is:
1. what it says: `standard.version` / `standard.schema` (2.x, 3.x), `$standard.version` (1.x)
   or a `$schema` naming a ninjs schema file;
2. else its shape: any 3.x-only camelCase key (`versionCreated`, `pubStatus`, …) makes it 3.x;
   any 2.x array key (`headlines`, `bodies`, `subjects`, …, or `renditions`/`associations` as
   arrays) 2.x; any 1.x-only key (`headline`, `body_html`, `byline`, `subject`, …) 1.x;
3. a document that shows none of these is taken for 3.x.
Unless stated, the other versions are tried after the guessed one, and the first that accepts
the document wins; the errors reported are the guessed version's. References to schemas
outside these files (GeoJSON, for places) are not followed: what they describe is accepted.

Superdesk's ninjs carries a few keys of its own beside 1.x (`guid`, `keywords`,
`anpa_category`, …): they are left out of the schema check, and the mapping reads them
defensively. A document with a `guid` but no `uri` is checked as if `uri` were the `guid`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_FILES = {
    "1": "ninjs-schema_1.6.json",
    "2": "ninjs-schema_2.2.json",
    "3": "ninjs-schema_3.1.json",
}
# Nesting deeper than this (associations of associations …) is refused before the schema
# check, whose recursion would otherwise follow it as far as it goes.
MAX_DEPTH = 32
MAX_ERRORS = 10
_MESSAGE_CHARS = 200
# Superdesk's keys beside ninjs 1.x (its ninjs formatter): not in any official schema.
PRODUCER_EXTENSIONS = frozenset(
    {
        "guid",
        "keywords",
        "anpa_category",
        "service",
        "priority",
        "authors",
        "firstpublished",
        "source",
        "extra",
        "readtime",
        "signal",
        "annotations",
        "evolvedfrom",
        "description_text",  # also a 1.x pattern key: kept for 2.x/3.x documents
    }
)
_V3_KEYS = frozenset(
    {
        "altIds",
        "contentCreated",
        "copyrightHolder",
        "copyrightNotice",
        "digitalSourceType",
        "edNote",
        "embargoedUntil",
        "eventDetails",
        "firstCreated",
        "infoSources",
        "plannedCoverage",
        "pubStatus",
        "representationType",
        "rightsInfo",
        "trustIndicators",
        "usageTerms",
        "versionCreated",
    }
)
_V2_KEYS = frozenset(
    {
        "headlines",
        "bodies",
        "descriptions",
        "subjects",
        "genres",
        "people",
        "places",
        "organisations",
        "events",
        "objects",
        "infosources",
        "trustindicators",
        "standard",
        "by",
    }
)
_V1_KEYS = frozenset(
    {
        "headline",
        "byline",
        "subject",
        "genre",
        "person",
        "place",
        "organisation",
        "event",
        "object",
        "$standard",
        "trustindicator",
        "infosource",
    }
)
_V1_PATTERN = re.compile(r"^(headline|body|description)_[A-Za-z0-9_]+$")
_SCHEMA_NAME = re.compile(r"ninjs-schema_(\d)\.\d+\.json")


class NinjsInvalid(ValueError):
    """A document the schema refuses; `fields` name each error's JSON path (dotted, as the
    API's other field names) and its message the schema path."""

    def __init__(self, message: str, fields: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.fields = fields


@cache
def schema_validator(major: str) -> Validator:
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES[major]).read_text())
    cls = Draft7Validator if major == "1" else Draft202012Validator
    specification = DRAFT7 if major == "1" else DRAFT202012
    # The schemas point at others on the web (GeoJSON for places): nothing is fetched, and
    # what they describe is taken as is.
    registry: Registry[Any] = Registry(
        retrieve=lambda _uri: Resource(contents={}, specification=specification)
    )
    return cls(schema, registry=registry)


def declared_version(document: dict[str, Any]) -> str | None:
    """The major version the document states, if it states one we know."""
    for key in ("standard", "$standard"):
        standard = document.get(key)
        if isinstance(standard, dict):
            version = standard.get("version")
            if isinstance(version, str) and version[:1] in SCHEMA_FILES:
                return version[:1]
            match = _SCHEMA_NAME.search(str(standard.get("schema", "")))
            if match and match[1] in SCHEMA_FILES:
                return match[1]
    match = _SCHEMA_NAME.search(str(document.get("$schema", "")))
    return match[1] if match and match[1] in SCHEMA_FILES else None


def shape_version(document: dict[str, Any]) -> str | None:
    """The major version the document's keys betray, or None when they fit any."""
    keys = set(document)
    if keys & _V3_KEYS:
        return "3"
    if keys & _V2_KEYS or any(
        isinstance(document.get(key), list) for key in ("renditions", "associations")
    ):
        return "2"
    if keys & _V1_KEYS or any(_V1_PATTERN.match(key) for key in keys - PRODUCER_EXTENSIONS):
        return "1"
    if any(isinstance(document.get(key), dict) for key in ("renditions", "associations")):
        return "1"
    return None


def checked_part(document: dict[str, Any]) -> dict[str, Any]:
    """What the schema judges: the document without `$schema` and producer extensions."""
    part = {
        key: value
        for key, value in document.items()
        if key not in PRODUCER_EXTENSIONS and key != "$schema"
    }
    if "uri" not in part and isinstance(document.get("guid"), str):
        part["uri"] = document["guid"]
    return part


def validate(document: Any) -> str:
    """Check a ninjs document against its version's official schema; returns that major
    version ("1", "2" or "3").

    Raises:
        NinjsInvalid: not an object, nested too deep, or refused by the schema; every error
            names its JSON path, and its message the schema path.
    """
    if not isinstance(document, dict):
        raise NinjsInvalid(
            "a ninjs document must be a JSON object",
            [{"field": "body", "message": "expected an object"}],
        )
    too_deep = _deeper_than(document, MAX_DEPTH)
    if too_deep is not None:
        message = f"nested deeper than {MAX_DEPTH} levels: flatten the associations"
        raise NinjsInvalid(message, [{"field": too_deep, "message": message}])
    part = checked_part(document)
    declared = declared_version(document)
    guessed = shape_version(document) or "3"
    # A stated version is held to; a guessed one is tried first, then the others.
    candidates = [declared] if declared else [guessed, *(v for v in "321" if v != guessed)]
    first_errors: list[ValidationError] | None = None
    for major in candidates:
        errors = sorted(
            _first(schema_validator(major).iter_errors(part), MAX_ERRORS),
            key=lambda e: list(map(str, e.absolute_path)),
        )
        if not errors:
            return major
        if first_errors is None:
            first_errors = errors
            first_major = major
    assert first_errors is not None
    fields = [_field(error, first_major) for error in first_errors]
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    raise NinjsInvalid(f"not valid ninjs {_version_name(first_major)}: {names}", fields)


def _version_name(major: str) -> str:
    return SCHEMA_FILES[major].removeprefix("ninjs-schema_").removesuffix(".json")


def _field(error: ValidationError, major: str) -> dict[str, str]:
    path = ".".join(map(str, error.absolute_path)) or "body"
    message = error.message
    if len(message) > _MESSAGE_CHARS:  # it can quote the whole offending value
        message = message[:_MESSAGE_CHARS] + "…"
    schema_path = "/".join(map(str, error.absolute_schema_path))
    # The keyword's path in the schema, from the ninjs object's definition.
    return {"field": path, "message": f"{message} (ninjs {_version_name(major)}: {schema_path})"}


def _first(errors: Iterator[ValidationError], limit: int) -> list[ValidationError]:
    found: list[ValidationError] = []
    for error in errors:
        found.append(error)
        if len(found) == limit:
            break
    return found


def _deeper_than(document: Any, limit: int) -> str | None:
    """The dotted path of the first value nested deeper than `limit`, or None. Iterative, so
    a hostile document cannot exhaust the stack here."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > limit:
            return ".".join(path)
        if isinstance(node, dict):
            stack.extend((value, (*path, str(key))) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, (*path, str(index))) for index, value in enumerate(node))
    return None
