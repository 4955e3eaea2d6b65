"""HTTP for a service: RFC 9457 problem details in one place, and the health endpoints every service exposes."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON: Final = "application/problem+json"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InvalidParam:
    """One field that was refused, and why (RFC 9457 §3 "invalid-params" extension)."""

    name: str
    reason: str


@dataclass
class ProblemError(Exception):
    """An error that the HTTP edge renders as problem+json. Services root their own errors on it."""

    status: int
    title: str
    detail: str | None = None
    type: str = "about:blank"
    invalid_params: Sequence[InvalidParam] = field(default_factory=tuple)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail or self.title


def problem_response(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    invalid_params: Sequence[InvalidParam] = (),
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if invalid_params:
        body["invalid_params"] = [{"name": p.name, "reason": p.reason} for p in invalid_params]
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


PROBLEM_TYPE_BASE: Final = "https://caisse.example/problems/"


def no_params(_: Any) -> list[InvalidParam]:
    return []


def no_members(_: Any) -> dict[str, Any]:
    return {}


def field_reason(exc: Any) -> list[InvalidParam]:
    """The invalid param of an error that carries `field` and `reason`."""
    return [InvalidParam(exc.field, exc.reason)]


@dataclass(frozen=True, slots=True)
class Problem:
    """How one kind of a service's rule errors is rendered: status, title, type slug, fields and members."""

    status: int
    title: str
    slug: str
    params: Callable[[Any], list[InvalidParam]] = no_params
    members: Callable[[Any], dict[str, Any]] = no_members
    headers: dict[str, str] = field(default_factory=dict)


REFUSED: Final = Problem(400, "Request refused", "refused")


def problem_from_table(table: dict[type[Exception], Problem], exc: Exception, instance: str) -> JSONResponse:
    """The problem+json of `exc` after the first row of `table` it is an instance of (400 "refused" if none)."""
    problem = next((p for kind, p in table.items() if isinstance(exc, kind)), REFUSED)
    response = problem_response(
        problem.status,
        problem.title,
        detail=str(exc),
        type_=PROBLEM_TYPE_BASE + problem.slug,
        instance=instance,
        invalid_params=problem.params(exc),
        extra=problem.members(exc) or None,
    )
    response.headers.update(problem.headers)
    return response


def install_problem_table(
    app: FastAPI, table: dict[type[Exception], Problem], roots: Sequence[type[Exception]]
) -> None:
    """Render every error under `roots` (a service's error roots) through its problem table."""

    async def on_rule_error(request: Request, exc: Exception) -> JSONResponse:
        return problem_from_table(table, exc, request.url.path)

    for root in roots:
        app.add_exception_handler(root, on_rule_error)


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _invalid_param(error: Any, body: Any) -> InvalidParam:
    """The field and reason of one validation error; broken JSON names the body and says where it breaks."""
    if error.get("type") != "json_invalid":
        return InvalidParam(_location(error.get("loc", ())), str(error.get("msg", "invalid")))
    why = str((error.get("ctx") or {}).get("error", "not JSON")).rstrip(".")
    position = next((p for p in error.get("loc", ()) if isinstance(p, int)), None)
    if position is None or not isinstance(body, str):
        return InvalidParam("body", f"is not valid JSON: {why[:1].lower()}{why[1:]}")
    line = body.count("\n", 0, position) + 1
    column = position - (body.rfind("\n", 0, position) + 1) + 1
    return InvalidParam(
        "body",
        f"is not valid JSON: {why[:1].lower()}{why[1:]} at line {line}, column {column} (character {position + 1})",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to problem+json: rule errors, validation errors, unknown routes, crashes."""

    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            detail=exc.detail,
            type_=exc.type,
            instance=request.url.path,
            invalid_params=exc.invalid_params,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        params = [_invalid_param(e, exc.body) for e in exc.errors()]
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        return problem_response(
            400 if malformed else 422,
            "Malformed JSON" if malformed else "Invalid request",
            detail="; ".join(f"{p.name}: {p.reason}" for p in params),
            instance=request.url.path,
            invalid_params=params,
        )

    @app.exception_handler(ValidationError)
    async def on_model_validation(request: Request, exc: ValidationError) -> JSONResponse:
        params = [InvalidParam(_location(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in exc.errors()]
        return problem_response(
            422,
            "Invalid request",
            detail="; ".join(f"{p.name}: {p.reason}" for p in params),
            instance=request.url.path,
            invalid_params=params,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            HTTPStatus(exc.status_code).phrase,
            detail=str(exc.detail) if exc.detail else None,
            instance=request.url.path,
        )


DEPENDENCY_RETRY_AFTER_S: Final = 2
"""What a 503 for a dependency that is away tells the caller to wait before sending the same request again."""


def install_dependency_down_handler(
    app: FastAPI,
    kinds: Sequence[type[Exception]],
    is_down: Callable[[BaseException], bool],
    *,
    dependency: str,
    retry_after_s: int = DEPENDENCY_RETRY_AFTER_S,
) -> None:
    """Answer 503 with `Retry-After` when a request fails because `dependency` is away (down, restarting, cut
    off): nothing was done that the same request sent again would not do, and a till knows to resend it. Errors of
    the same kinds that say something else (a statement that failed) stay what they were, a 500."""

    async def on_dependency_error(request: Request, exc: Exception) -> JSONResponse:
        if not is_down(exc):
            raise exc
        log.warning("%s %s: %s away (%s)", request.method, request.url.path, dependency, type(exc).__name__)
        response = problem_response(
            503,
            "Dependency unavailable",
            detail=f"the {dependency} does not answer; send the same request again in {retry_after_s} s",
            type_=PROBLEM_TYPE_BASE + "dependency-unavailable",
            instance=request.url.path,
            extra={"dependency": dependency},
        )
        response.headers["Retry-After"] = str(retry_after_s)
        return response

    for kind in kinds:
        app.add_exception_handler(kind, on_dependency_error)


ReadinessCheck = Callable[[], Awaitable[bool]]


def bearer_only(token_of: Callable[[Request], str | None], *, whose: str) -> Callable[..., Awaitable[None]]:
    """A route dependency that lets through only `Authorization: Bearer <the token>`, compared in constant time;
    `token_of` reads the expected token from the request's app (None: nobody is let through). Refused: 401
    problem+json saying whose token is required."""

    async def only(request: Request) -> None:
        expected = token_of(request)
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if expected is None or not token or not hmac.compare_digest(token.encode(), expected.encode()):
            raise ProblemError(401, "Unauthenticated", f"{whose} bearer token is required")

    return only


class Alive(BaseModel):
    status: Literal["alive"]


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str] = Field(description="Each dependency and how it answers: ok.")


def install_health_routes(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    """`/healthz`: the process answers. `/readyz`: every dependency (database, Kafka…) answers too."""

    @app.get("/healthz", tags=["health"])
    async def healthz() -> Alive:
        return Alive(status="alive")

    @app.get("/readyz", tags=["health"], response_model=None, responses={200: {"model": Ready}})
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                results[name] = "ok" if await check() else "failing"
            except Exception as exc:  # a readiness probe reports, it does not crash
                results[name] = f"failing: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        if ready:
            return JSONResponse({"status": "ready", "checks": results})
        return problem_response(503, "Not ready", detail="a dependency does not answer", extra={"checks": results})
