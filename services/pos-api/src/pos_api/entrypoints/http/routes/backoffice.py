"""Back-office routes: CRUD of territories, companies, shops, POS, categories, products, overrides and operators.

Writes are optimistic: PUT and DELETE need `If-Match` with the version read (the `ETag` of a GET); a
stale version is a 409 naming the current one. Every change is versioned and announced as `config.changed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import APIRouter, Body, Header, Response
from pydantic import BaseModel, Field

from caisse_contracts.config import Company
from caisse_contracts.events import EntityType
from caisse_runtime.http import InvalidParam, ProblemError
from pos_api.domain.config import SPECS, EntitySpec, StoredItem
from pos_api.entrypoints.http.deps import CurrentActor, CurrentSecretBox, CurrentServices
from pos_api.service_layer import config as use

router = APIRouter(prefix="/v1", tags=["back office"])

ItemT = TypeVar("ItemT")


class ItemOut(BaseModel, Generic[ItemT]):
    """A configuration item as the back office reads it, with its type; `ETag` carries its version."""

    entity_type: EntityType
    item: ItemT
    secret: str | None = Field(default=None, description="Device secret or operator token: shown once, never again.")


class DeviceSecretOut(BaseModel):
    pos_id: UUID
    secret: str = Field(description="The till's new device secret: shown once, never again.")


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


def _out(stored: StoredItem, response: Response, secret: str | None = None) -> ItemOut[dict[str, Any]]:
    response.headers["ETag"] = f'"{stored.version}"'
    return ItemOut(entity_type=stored.entity_type, item=stored.item, secret=secret)


def _routes(spec: EntitySpec) -> None:
    kind = spec.entity_type
    base = f"/{spec.path}"

    async def create(
        body: BaseModel, actor: CurrentActor, services: CurrentServices, response: Response
    ) -> ItemOut[dict[str, Any]]:
        written = await use.create_item(kind, body, actor, services)
        response.headers["Location"] = f"/v1/{spec.path}/{written.stored.id}"
        return _out(written.stored, response, written.secret)

    async def listing(actor: CurrentActor, services: CurrentServices) -> list[dict[str, Any]]:
        return [i.item for i in await use.list_items(kind, actor, services)]

    async def read(
        entity_id: UUID, actor: CurrentActor, services: CurrentServices, response: Response
    ) -> ItemOut[dict[str, Any]]:
        return _out(await use.read_item(kind, entity_id, actor, services), response)

    async def replace(
        entity_id: UUID,
        body: BaseModel,
        actor: CurrentActor,
        services: CurrentServices,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> ItemOut[dict[str, Any]]:
        written = await use.update_item(kind, entity_id, version_from(if_match), body, actor, services)
        return _out(written.stored, response)

    async def delete(
        entity_id: UUID,
        actor: CurrentActor,
        services: CurrentServices,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> ItemOut[dict[str, Any]]:
        return _out(await use.delete_item(kind, entity_id, version_from(if_match), actor, services), response)

    # The body is this entity's own fields model: FastAPI reads the annotations, which name the type per entity.
    for with_body in (create, replace):
        with_body.__annotations__["body"] = Annotated[spec.fields, Body()]

    name = kind.value
    one: Any = ItemOut[spec.item]  # type: ignore[name-defined]
    handlers: list[tuple[str, str, Callable[..., Awaitable[Any]], str, Any, int]] = [
        ("POST", base, create, f"Create a {name}", one, 201),
        ("GET", base, listing, f"List the {spec.path} you may see", list[spec.item], 200),  # type: ignore[name-defined]
        ("GET", base + "/{entity_id}", read, f"Read a {name}", one, 200),
        ("PUT", base + "/{entity_id}", replace, f"Replace a {name} (If-Match: version)", one, 200),
        ("DELETE", base + "/{entity_id}", delete, f"Delete a {name} (If-Match: version)", one, 200),
    ]
    for method, path, endpoint, summary, model, status in handlers:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            summary=summary,
            response_model=model,
            status_code=status,
            name=f"{method.lower()}_{name}{'_one' if '{' in path else ''}",
        )


for _spec in SPECS.values():
    _routes(_spec)


@router.post("/pos/{pos_id}/rotate-secret", summary="A new device secret for a till; the old one stops working")
async def rotate_secret(pos_id: UUID, actor: CurrentActor, services: CurrentServices) -> DeviceSecretOut:
    return DeviceSecretOut(pos_id=pos_id, secret=await use.rotate_device_secret(pos_id, actor, services))


@router.put(
    "/companies/{company_id}/paheko-credentials",
    summary="Store the company's Paheko API credentials",
    response_model=ItemOut[Company],
)
async def paheko_credentials(
    company_id: UUID,
    body: PahekoCredentialsIn,
    actor: CurrentActor,
    services: CurrentServices,
    box: CurrentSecretBox,
    response: Response,
) -> ItemOut[dict[str, Any]]:
    stored = await use.set_paheko_credentials(company_id, body.api_user, body.api_password, actor, services, box)
    return _out(stored, response)
