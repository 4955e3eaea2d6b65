"""`config.changed` v1: a back-office entity changed; the full item and the RFC 6902 patch from its previous version."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_serializer

from caisse_contracts.envelope import Payload


class EntityType(StrEnum):
    TERRITORY = "territory"
    COMPANY = "company"
    SHOP = "shop"
    POS = "pos"
    CATEGORY = "category"
    PRODUCT = "product"
    CATALOGUE_OVERRIDE = "catalogue_override"
    OPERATOR = "operator"


class PatchOperationV1(BaseModel):
    """One RFC 6902 operation."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    op: str = Field(pattern="^(add|remove|replace|move|copy|test)$")
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")

    @model_serializer
    def _rfc6902(self) -> dict[str, Any]:
        """Only the members RFC 6902 defines for the operation: `value` (which may be null) or `from`."""
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op in {"add", "replace", "test"}:
            out["value"] = self.value
        if self.op in {"move", "copy"}:
            out["from"] = self.from_
        return out


class ConfigChangedV1(Payload):
    """An entity of the hierarchy or the catalogue changed (or was deleted) in the back office.

    The Kafka key is `<entity_type>:<entity_id>` on a compacted topic, so the latest item of every entity
    stays readable forever; a till that has version N-1 applies `patch`, any other till takes `item`.
    """

    EVENT_TYPE: ClassVar[str] = "config.changed"
    VERSION: ClassVar[int] = 1

    entity_type: EntityType
    entity_id: UUID
    version: StrictInt = Field(ge=1)
    previous_version: StrictInt | None = None
    deleted: bool = False
    item: dict[str, Any] = Field(description="The full item at `version`, as the till API shows it.")
    patch: tuple[PatchOperationV1, ...] = Field(description="RFC 6902 patch from previous_version to version.")
    changed_by: UUID | None = None

    @property
    def key(self) -> str:
        return f"{self.entity_type.value}:{self.entity_id}"
