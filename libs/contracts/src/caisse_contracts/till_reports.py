"""What a till tells pos-api of itself, and what ops answer it.

A till reports what only it knows (`PUT /v1/till/report`): its own last ticket number, a number clash it found at
boot (pos-api already holds a number above the till's: a till restored from an old backup), and the entries of its
queue that pos-api refused and that the till keeps aside. Ops read these reports across their tills
(`GET /v1/ops/tills`).

A till that found a clash refuses to sell until ops release its numbering
(`POST /v1/ops/tills/{pos_id}/numbering-release`): the release names the central last number it was given for, and
the till resumes after it only while that is still pos-api's last number, so a second device still selling under
the same serial is never released by a release meant for the first.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

TILL_REPORT_PATH: Final = "/v1/till/report"
TILL_NUMBERING_PATH: Final = "/v1/till/numbering"
ASIDE_REPORTED_MAX: Final = 1000
"""A report carries at most this many entries kept aside, the oldest first; `aside_count` says how many there are."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AsideEntry(_Frozen):
    """One entry of the till's queue that pos-api refused, kept aside on the till with pos-api's reason."""

    seq: StrictInt = Field(ge=1, description="Its place in the till's queue.")
    kind: Literal["session", "sale", "credit_note"]
    ref: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The session operation's or the ticket's id."
    )
    number: StrictInt | None = Field(default=None, ge=1, description="The ticket's number, for a sale or credit note.")
    outcome: Literal["conflict", "failed"]
    reason: Annotated[str, Field(max_length=2000)] = ""
    enqueued_at: AwareDatetime


class TillReport(_Frozen):
    """What the till knows of itself at `reported_at` (its own clock); a newer report replaces an older one."""

    reported_at: AwareDatetime
    local_last_number: StrictInt = Field(ge=0, description="The till's own last ticket number (0: none yet).")
    number_clash: Annotated[str, Field(max_length=1000)] | None = Field(
        default=None, description="Why the till refuses to sell because of its numbering, or None."
    )
    pending: StrictInt = Field(default=0, ge=0, description="Entries of its queue not sent yet.")
    aside_count: StrictInt = Field(default=0, ge=0, description="Entries kept aside, all of them.")
    aside: tuple[AsideEntry, ...] = Field(default=(), max_length=ASIDE_REPORTED_MAX)


class NumberingRelease(_Frozen):
    """Ops' leave for a till to resume its numbering after `resume_after`, pos-api's last number of the till when
    it was given."""

    pos_id: UUID
    resume_after: StrictInt = Field(ge=1)
    reason: str
    released_by: UUID
    released_at: AwareDatetime


class NumberingReleaseIn(_Frozen):
    """A release as ops ask for it: the central last number they saw (it must still be pos-api's), and why."""

    resume_after: StrictInt = Field(ge=1, description="pos-api's last ticket number of the till, as ops saw it.")
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class Numbering(_Frozen):
    """pos-api's view of a till's numbering (`GET /v1/till/numbering`): its last number and the last release."""

    last_ticket_number: StrictInt | None = Field(ge=1, description="The till's highest ticket number pos-api has.")
    release: NumberingRelease | None = None


class TillReportView(_Frozen):
    """A till as ops see it: its last report beside pos-api's own numbering of it."""

    pos_id: UUID
    pos_name: str
    shop_id: UUID
    central_last_number: StrictInt | None
    report: TillReport | None = Field(description="None: the till has not reported yet.")
    received_at: AwareDatetime | None
    release: NumberingRelease | None
    needs_ops: bool = Field(description="A number clash not yet released, or entries kept aside.")
