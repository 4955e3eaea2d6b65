"""pos-api's OpenAPI document types every request body and every answer: a till or a back office can be written
from it alone, limits included."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from pos_api.bootstrap import build_app
from pos_api.config import Settings

Schema = dict[str, Any]
JSON_MEDIA = ("application/json", "application/problem+json")


@cache
def document() -> dict[str, Any]:
    # Building the app opens no connection: engines, pools and the broker connect at start.
    openapi: dict[str, Any] = build_app(Settings()).openapi()
    return openapi


def operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document()["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def resolved(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def untyped_parts(schema: Schema, where: str, seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Where a schema, or any schema inside it, is an object without properties or has no type at all."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen = seen | {schema["$ref"]}
    schema = resolved(schema)
    alternatives = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if alternatives:
        for n, alternative in enumerate(alternatives):
            yield from untyped_parts(alternative, f"{where}|{n}", seen)
        return
    kind = schema.get("type")
    if kind is None and "const" not in schema and "enum" not in schema:
        yield f"{where}: no type"
    elif kind == "array":
        yield from untyped_parts(schema.get("items", {}), f"{where}[]", seen)
    elif kind == "object":
        properties: dict[str, Schema] = schema.get("properties", {})
        values = schema.get("additionalProperties")
        if not properties and not isinstance(values, dict):
            yield f"{where}: an object without properties"
        for name, inner in properties.items():
            yield from untyped_parts(inner, f"{where}.{name}", seen)
        if isinstance(values, dict):
            yield from untyped_parts(values, f"{where}.*", seen)


def test_every_request_body_is_a_typed_schema() -> None:
    untyped = [
        part
        for name, operation in operations()
        for media, content in operation.get("requestBody", {}).get("content", {}).items()
        for part in untyped_parts(content.get("schema", {}), f"{name} {media}")
    ]
    assert untyped == []


def test_every_successful_answer_documents_its_schema_and_binary_ones_their_media_type() -> None:
    missing: list[str] = []
    for name, operation in operations():
        for status, answer in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content: dict[str, Any] = answer.get("content", {})
            if not content:
                missing.append(f"{name} {status}: no content")
            for media, described in content.items():
                schema = described.get("schema")
                if schema is None:
                    missing.append(f"{name} {status} {media}: no schema")
                elif media in JSON_MEDIA:
                    missing += untyped_parts(schema, f"{name} {status} {media}")
                elif resolved(schema).get("type") != "string":
                    missing.append(f"{name} {status} {media}: not described as text or bytes")
    assert missing == []


def unbounded_parts(schema: Schema, where: str, seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Where a string has no length, pattern or format, a number no maximum, an array no maximum of items."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen = seen | {schema["$ref"]}
    schema = resolved(schema)
    for alternative in schema.get("anyOf", ()):
        yield from unbounded_parts(alternative, where, seen)
    kind = schema.get("type")
    bounded = {"const", "enum"} & schema.keys()
    if kind == "string" and not bounded and not {"maxLength", "pattern", "format"} & schema.keys():
        yield f"{where}: a string of any length"
    elif kind in {"integer", "number"} and not bounded and not {"maximum", "exclusiveMaximum"} & schema.keys():
        yield f"{where}: a number without maximum"
    elif kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: any number of items"
        yield from unbounded_parts(schema.get("items", {}), f"{where}[]", seen)
    elif kind == "object":
        for name, inner in schema.get("properties", {}).items():
            yield from unbounded_parts(inner, f"{where}.{name}", seen)


def test_every_back_office_and_cash_session_body_states_its_limits() -> None:
    unbounded = [
        part
        for name, operation in operations()
        if {"back office", "operators"} & set(operation.get("tags", ())) or name.split()[1].startswith("/v1/sessions")
        for content in operation.get("requestBody", {}).get("content", {}).values()
        for part in unbounded_parts(content["schema"], name)
    ]
    assert unbounded == []


def test_a_back_office_body_names_its_entity_and_its_limits() -> None:
    category = resolved(
        document()["paths"]["/v1/categories"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert set(category["required"]) >= {"company_id", "name", "revenue_account", "default_tax_code"}
    assert category["properties"]["name"]["maxLength"] == 200
    assert category["properties"]["revenue_account"]["pattern"]
    answer = document()["paths"]["/v1/products/{entity_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    item = resolved(resolved(answer["schema"])["properties"]["item"])
    assert item["properties"]["price"]["maximum"] == 100_000_000
