"""JSON Schema snapshots of every event (envelope included) and the additive-only compatibility rule between them.

Snapshots are committed under `schemas/`; one realistic example message per type lives under `examples/`.
`compatibility_problems(old, new)` says why `new` could break a consumer written against `old`: a removed
or renamed field, a field that became required, a changed type, a narrowed enum or bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from caisse_contracts.envelope import Envelope, Payload, PayloadT
from caisse_contracts.events import PAYLOADS

PACKAGE_DIR: Final = Path(__file__).parent
SCHEMA_DIR: Final = PACKAGE_DIR / "schemas"
EXAMPLE_DIR: Final = PACKAGE_DIR / "examples"


def snapshot_name(cls: type[Payload]) -> str:
    return f"{cls.EVENT_TYPE}.v{cls.VERSION}.json"


def schema_of(cls: type[Payload]) -> dict[str, Any]:
    """The JSON Schema of a whole message (envelope + payload) of this type, as consumers decode it."""
    schema = Envelope[cls].model_json_schema(mode="validation")  # type: ignore[valid-type]
    schema["title"] = f"{cls.EVENT_TYPE} v{cls.VERSION}"
    schema["$id"] = f"urn:caisse:event:{cls.EVENT_TYPE}:v{cls.VERSION}"
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_snapshots(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in PAYLOADS:
        path = directory / snapshot_name(cls)
        path.write_text(render(schema_of(cls)), encoding="utf-8")
        written.append(path)
    return written


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node and seen < 32:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"external $ref not supported: {ref}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _variants(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node, root)
    for key in ("anyOf", "oneOf"):
        if key in node:
            out: list[dict[str, Any]] = []
            for sub in node[key]:
                out.extend(_variants(sub, root))
            return out
    return [node]


def _kind(node: dict[str, Any]) -> str:
    if "const" in node:
        return f"const:{json.dumps(node['const'])}"
    if "enum" in node:
        return "enum"
    return str(node.get("type", "any"))


_NARROWING_BOUNDS: Final = {
    "minimum": 1,
    "exclusiveMinimum": 1,
    "minLength": 1,
    "minItems": 1,
    "maximum": -1,
    "exclusiveMaximum": -1,
    "maxLength": -1,
    "maxItems": -1,
}


def compatibility_problems(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str = "$",
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
) -> list[str]:
    """Why a message valid under `old` might be refused, or misread, by a reader of `new` (empty: compatible).

    The rule is "additive only": a new version may add optional properties, widen enums and loosen
    bounds; it may not remove, rename or retype a property, nor make one required.
    """
    old_root = old_root if old_root is not None else old
    new_root = new_root if new_root is not None else new
    problems: list[str] = []
    old_variants = _variants(old, old_root)
    new_variants = _variants(new, new_root)
    new_by_kind = {_kind(v): v for v in new_variants}
    if "any" in new_by_kind:
        return problems
    for old_variant in old_variants:
        kind = _kind(old_variant)
        match = new_by_kind.get(kind)
        if match is None and kind == "integer":
            match = new_by_kind.get("number")
        if match is None and kind == "enum":
            problems.append(f"{path}: enum is no longer accepted")
            continue
        if match is None:
            problems.append(f"{path}: type {kind} is no longer accepted")
            continue
        if kind == "enum":
            missing = [v for v in old_variant["enum"] if v not in match.get("enum", [])]
            if missing:
                problems.append(f"{path}: enum values removed: {missing}")
        for bound, direction in _NARROWING_BOUNDS.items():
            if bound not in match:
                continue
            if bound not in old_variant:
                problems.append(f"{path}: new bound {bound}={match[bound]}")
            elif (match[bound] - old_variant[bound]) * direction > 0:
                problems.append(f"{path}: {bound} narrowed from {old_variant[bound]} to {match[bound]}")
        if "pattern" in match and match.get("pattern") != old_variant.get("pattern"):
            problems.append(f"{path}: pattern changed to {match['pattern']!r}")
        if kind == "object":
            old_props = old_variant.get("properties", {})
            new_props = match.get("properties", {})
            for name, old_prop in old_props.items():
                if name not in new_props:
                    problems.append(f"{path}.{name}: removed")
                    continue
                problems.extend(compatibility_problems(old_prop, new_props[name], f"{path}.{name}", old_root, new_root))
            newly_required = set(match.get("required", [])) - set(old_variant.get("required", []))
            for name in sorted(newly_required):
                problems.append(f"{path}.{name}: became required")
        if kind == "array" and "items" in old_variant and "items" in match:
            problems.extend(
                compatibility_problems(old_variant["items"], match["items"], f"{path}[]", old_root, new_root)
            )
    return problems


def load_example(cls: type[PayloadT]) -> Envelope[PayloadT]:
    """The committed example message of a payload type, decoded."""
    raw = (EXAMPLE_DIR / snapshot_name(cls)).read_text(encoding="utf-8")
    return Envelope[cls].model_validate_json(raw)  # type: ignore[valid-type]
