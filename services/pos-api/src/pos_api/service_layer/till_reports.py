"""What the tills report of themselves, and the release of a till's numbering by ops.

A till restored from an old backup finds at boot that pos-api already holds numbers above its own: it refuses to
sell and reports the clash. Ops see it at `GET /v1/ops/tills` beside pos-api's own last number of the till, and may
release the till to resume after that number. The release is only given for pos-api's last number as it stands, and
the till takes it only while that is still the last number: another device still selling under the same serial
would move it on, and the release would no longer fit.
"""

from __future__ import annotations

from uuid import UUID

from caisse_contracts.config import Pos
from caisse_contracts.events import EntityType
from caisse_contracts.till_reports import (
    Numbering,
    NumberingRelease,
    NumberingReleaseIn,
    TillReport,
    TillReportView,
)
from pos_api.domain.config import Actor, authorize
from pos_api.domain.errors import NotFoundError, NumberingMovedError
from pos_api.domain.till import Device
from pos_api.service_layer.config import list_items
from pos_api.service_layer.services import Services


async def save_report(device: Device, report: TillReport, services: Services) -> bool:
    """Keep the till's report; False when a report made later is already held (this one changes nothing)."""
    async with services.uow() as work:
        saved = await work.till_reports.save(device.pos_id, report, services.clock())
        await work.commit()
    return saved


async def numbering(device: Device, services: Services) -> Numbering:
    """pos-api's last number of the till and the latest release ops gave it."""
    async with services.uow() as work:
        last = await work.tickets.last_number(device.pos_id)
        releases = await work.till_reports.last_releases([device.pos_id])
    return Numbering(last_ticket_number=last, release=releases.get(device.pos_id))


async def release_numbering(
    pos_id: UUID, asked: NumberingReleaseIn, actor: Actor, services: Services
) -> tuple[NumberingRelease, bool]:
    """Let the till resume after `asked.resume_after`, if that is pos-api's last number of it; the release and
    whether it is new (the same release asked again answers the one given)."""
    async with services.uow() as work:
        pos = await work.config.get(pos_id)
        if pos is None or pos.deleted or pos.entity_type is not EntityType.POS:
            raise NotFoundError(EntityType.POS.value, str(pos_id))
        authorize(actor, EntityType.POS, pos.hierarchy, write=True)
        central_last = await work.tickets.last_number(pos_id)
        if central_last != asked.resume_after:
            raise NumberingMovedError(asked.resume_after, central_last)
        wanted = NumberingRelease(
            pos_id=pos_id,
            resume_after=asked.resume_after,
            reason=asked.reason,
            released_by=actor.operator_id,
            released_at=services.clock(),
        )
        kept = await work.till_reports.release(wanted)
        await work.commit()
    return kept, kept == wanted


async def till_reports(actor: Actor, services: Services, *, needs_ops: bool | None = None) -> list[TillReportView]:
    """Every till the actor may read, with its last report, pos-api's last number and the latest release; only
    those that need ops (or only those that do not) when `needs_ops` says so."""
    tills = {p.id: Pos.model_validate(p.item) for p in await list_items(EntityType.POS, actor, services)}
    ids = list(tills)
    async with services.uow() as work:
        reports = {r.pos_id: r for r in await work.till_reports.of(ids)}
        last = await work.tickets.last_numbers(ids)
        releases = await work.till_reports.last_releases(ids)
    views = []
    for pos_id, pos in tills.items():
        received = reports.get(pos_id)
        report = received.report if received else None
        release = releases.get(pos_id)
        central_last = last.get(pos_id)
        released = release is not None and release.resume_after == central_last
        clash = report is not None and report.number_clash is not None and not released
        view = TillReportView(
            pos_id=pos_id,
            pos_name=pos.name,
            shop_id=pos.shop_id,
            central_last_number=central_last,
            report=report,
            received_at=received.received_at if received else None,
            release=release,
            needs_ops=clash or (report is not None and report.aside_count > 0),
        )
        if needs_ops is None or view.needs_ops == needs_ops:
            views.append(view)
    return sorted(views, key=lambda v: (not v.needs_ops, v.pos_name, v.pos_id))
