"""Back-office routes: CRUD of territories, companies, shops, POS, categories, products, overrides and operators.

Writes are optimistic: PUT and DELETE need `If-Match` with the version read (the `ETag` of a GET); a
stale version is a 409 naming the current one. Every change is versioned and announced as `config.changed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Response
from pydantic import BaseModel, Field

from caisse_contracts.events import EntityType
from caisse_contracts.runtime.http import InvalidParam, ProblemError
from pos_api.domain.config import SPECS, EntitySpec, StoredItem
from pos_api.entrypoints.http.deps import CurrentActor, CurrentServices
from pos_api.service_layer import config as use

router = APIRouter(prefix="/v1", tags=["back office"])


class ItemOut(BaseModel):
    entity_type: EntityType
    item: dict[str, Any]
    secret: str | None = Field(default=None, description="Device secret or operator token: shown once, never again.")


class PahekoCredentialsIn(BaseModel):
    api_user: Annotated[str, Field(min_length=1, max_length=200)]
    api_password: Annotated[str, Field(min_length=1, max_length=500)]


def version_from(if_match: str | None) -> int:
    if if_match is None:
        raise ProblemError(
            428,
            "Version required",
            detail="send If-Match with the version you read",
            invalid_params=[InvalidParam("If-Match", "missing")],
        )
    try:
        return int(if_match.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise ProblemError(
            400, "Bad version", invalid_params=[InvalidParam("If-Match", "is not a version number")]
        ) from None


def _out(stored: StoredItem, response: Response, secret: str | None = None) -> ItemOut:
    response.headers["ETag"] = f'"{stored.version}"'
    return ItemOut(entity_type=stored.entity_type, item=stored.item, secret=secret)


def _routes(spec: EntitySpec) -> None:
    kind = spec.entity_type
    base = f"/{spec.path}"

    async def create(
        body: Annotated[dict[str, Any], Body()], actor: CurrentActor, services: CurrentServices, response: Response
    ) -> ItemOut:
        written = await use.create_item(kind, body, actor, services.config)
        response.status_code = 201
        response.headers["Location"] = f"/v1/{spec.path}/{written.stored.id}"
        return _out(written.stored, response, written.secret)

    async def listing(actor: CurrentActor, services: CurrentServices) -> list[dict[str, Any]]:
        return [i.item for i in await use.list_items(kind, actor, services.config)]

    async def read(entity_id: UUID, actor: CurrentActor, services: CurrentServices, response: Response) -> ItemOut:
        return _out(await use.read_item(kind, entity_id, actor, services.config), response)

    async def replace(
        entity_id: UUID,
        body: Annotated[dict[str, Any], Body()],
        actor: CurrentActor,
        services: CurrentServices,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> ItemOut:
        written = await use.update_item(kind, entity_id, version_from(if_match), body, actor, services.config)
        return _out(written.stored, response)

    async def delete(
        entity_id: UUID,
        actor: CurrentActor,
        services: CurrentServices,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> ItemOut:
        return _out(await use.delete_item(kind, entity_id, version_from(if_match), actor, services.config), response)

    name = kind.value
    handlers: list[tuple[str, str, Callable[..., Awaitable[Any]], str]] = [
        ("POST", base, create, f"Create a {name}"),
        ("GET", base, listing, f"List the {spec.path} you may see"),
        ("GET", base + "/{entity_id}", read, f"Read a {name}"),
        ("PUT", base + "/{entity_id}", replace, f"Replace a {name} (If-Match: version)"),
        ("DELETE", base + "/{entity_id}", delete, f"Delete a {name} (If-Match: version)"),
    ]
    for method, path, endpoint, summary in handlers:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            summary=summary,
            name=f"{method.lower()}_{name}{'_one' if '{' in path else ''}",
        )


for _spec in SPECS.values():
    _routes(_spec)


@router.post("/pos/{pos_id}/rotate-secret", summary="A new device secret for a till; the old one stops working")
async def rotate_secret(pos_id: UUID, actor: CurrentActor, services: CurrentServices) -> dict[str, str]:
    return {"pos_id": str(pos_id), "secret": await use.rotate_device_secret(pos_id, actor, services.config)}


@router.put("/companies/{company_id}/paheko-credentials", summary="Store the company's Paheko API credentials")
async def paheko_credentials(
    company_id: UUID, body: PahekoCredentialsIn, actor: CurrentActor, services: CurrentServices, response: Response
) -> ItemOut:
    stored = await use.set_paheko_credentials(
        company_id, body.api_user, body.api_password, actor, services.config, services.secret_box
    )
    return _out(stored, response)
