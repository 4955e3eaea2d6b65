"""The plugin's written contract (paheko-plugin/openapi.yaml) as validators, and a fake plugin in memory that
checks every request the client sends against it and answers like the real one (status codes, problems, replays).

Imported by the plugin tests through pytest's `pythonpath` (a conftest is not importable by name)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import httpx
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT_PATH: Final = Path(__file__).resolve().parents[4] / "paheko-plugin" / "openapi.yaml"
CONTRACT_URI: Final = "urn:caisse:pos-bridge-openapi"
BASE: Final = "http://paheko.test/"
USER: Final = "caisse_bridge"
PASSWORD: Final = "s3cret-write-credential"


@cache
def contract() -> dict[str, Any]:
    loaded = yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@cache
def validator(schema_name: str) -> Draft202012Validator:
    """A validator of one `components.schemas` entry, resolving its `$ref`s inside the contract."""
    registry: Registry[Any] = Registry().with_resource(
        CONTRACT_URI, Resource.from_contents(contract(), default_specification=DRAFT202012)
    )
    schema = {"$ref": f"{CONTRACT_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def contract_errors(schema_name: str, instance: object) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(schema_name).iter_errors(instance)
    ]


def request_schema(method: str, path_template: str) -> str | None:
    """The name of the request body schema of an operation, from the contract's paths."""
    operation = contract()["paths"][path_template][method.lower()]
    body = operation.get("requestBody")
    if body is None:
        return None
    ref = body["content"]["application/json"]["schema"]["$ref"]
    return str(ref).rsplit("/", 1)[-1]


def path_template(path: str) -> str:
    """The contract's path of a request path under the plugin: /tickets/<uuid> → /tickets/{ticket}."""
    parts = path.split("/p/pos_bridge/v1/", 1)[-1].split("/")
    if parts[0] in {"tickets", "sessions", "deposits"} and len(parts) >= 2:
        return "/" + parts[0] + "/{" + parts[0][:-1] + "}" + ("/close" if len(parts) == 3 else "")
    return "/" + "/".join(parts)


def answer_schema(method: str, path: str, status: int) -> str | None:
    """The schema the contract gives the answer of an operation with this status (None when it has none)."""
    operation = contract()["paths"].get(path_template(path), {}).get(method.lower())
    if operation is None:
        return "Problem" if status >= 400 else None
    answer = operation["responses"].get(str(status)) or (
        operation["responses"].get("default") if status >= 400 else None
    )
    if answer is None:
        return None
    if "$ref" in answer:
        return "Problem"
    content = answer["content"]
    ref = (content.get("application/json") or content["application/problem+json"])["schema"]["$ref"]
    return str(ref).rsplit("/", 1)[-1]


class ContractCheckingTransport(httpx.AsyncBaseTransport):
    """Wraps a real transport and checks every answer against the contract: status documented, body valid."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.violations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        where = f"{request.method} {request.url.path} → {response.status_code}"
        schema = answer_schema(request.method, request.url.path, response.status_code)
        if schema is None:
            if response.status_code < 500:
                self.violations.append(f"{where}: status not in the contract")
        else:
            try:
                body = json.loads(content)
            except ValueError:
                self.violations.append(f"{where}: not JSON: {content[:80]!r}")
            else:
                self.violations.extend(f"{where}: {e}" for e in contract_errors(schema, body))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def problem(status: int, slug: str, detail: str, field_name: str | None = None, **extra: Any) -> httpx.Response:
    body = {
        "type": f"https://caisse.example/problems/{slug}",
        "title": slug.replace("-", " "),
        "status": status,
        "detail": detail,
        "field": field_name,
        **extra,
    }
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@dataclass
class FakePlugin:
    """The pos_bridge plugin in memory. `violations` lists every request or answer that broke the contract."""

    chart: set[str] = field(
        default_factory=lambda: {"512", "530", "5112", "5115", "4191", "658", "678", "778", "707", "706"}
    )
    violations: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    basic_checks: int = 0
    tokens: set[str] = field(default_factory=set)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    deposits: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    failures: list[Callable[[httpx.Request], httpx.Response]] = field(default_factory=list)
    tabs_written: int = 0

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def fail_next(self, status: int) -> None:
        self.failures.append(lambda _: problem(status, "busy" if status == 503 else "internal", "injected"))

    def drop_next(self) -> None:
        def drop(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        self.failures.append(drop)

    def answer_next(self, response: httpx.Response) -> None:
        self.failures.append(lambda _: response)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            return self.failures.pop(0)(request)
        response = self._route(request)
        self._check_answer(request, response)
        return response

    # -- contract checks -----------------------------------------------------------------------------------------

    def _body(self, request: httpx.Request, parts: list[str]) -> tuple[Any, httpx.Response | None]:
        schema = request_schema(request.method, path_template(request.url.path))
        if schema is None:
            return None, None
        if request.headers.get("content-type") != "application/json":
            self.violations.append(
                f"{request.method} {request.url.path}: content-type {request.headers.get('content-type')}"
            )
        try:
            body = json.loads(request.content)
        except ValueError:
            self.violations.append(f"{request.method} {request.url.path}: body is not JSON")
            return None, problem(400, "malformed-json", "not JSON", "body")
        errors = contract_errors(schema, body)
        if errors:
            self.violations.extend(f"{request.method} {request.url.path}: {e}" for e in errors)
            return body, problem(422, "invalid-request", errors[0])
        return body, None

    def _check_answer(self, request: httpx.Request, response: httpx.Response) -> None:
        """The fake is held to the contract too: every status it answers is documented, every body valid."""
        schema = answer_schema(request.method, request.url.path, response.status_code)
        if schema is None:
            self.violations.append(
                f"answer {response.status_code} to {request.method} {request.url.path}: undocumented"
            )
            return
        errors = contract_errors(schema, json.loads(response.content))
        self.violations.extend(f"answer to {request.method} {request.url.path}: {e}" for e in errors)

    # -- routes --------------------------------------------------------------------------------------------------

    def _route(self, request: httpx.Request) -> httpx.Response:
        prefix = "/p/pos_bridge/v1/"
        if not request.url.path.startswith(prefix):
            return problem(404, "not-found", "not under the plugin")
        parts = request.url.path[len(prefix) :].split("/")
        if parts == ["token"]:
            return self._token(request)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return problem(401, "invalid-token", "token invalid or expired")
        body, refused = self._body(request, parts)
        if refused is not None:
            return refused
        route = (request.method, parts[0], len(parts))
        if route == ("GET", "health", 1):
            return self._health()
        if route == ("PUT", "provisioning", 1):
            return self._provision(body)
        if route == ("GET", "provisioning", 1):
            return _ok(self._provisioning(), "Provisioning")
        if route == ("PUT", "tickets", 2):
            return self._push(parts[1], body)
        if route == ("GET", "tickets", 2):
            stored = self.tickets.get(parts[1])
            return _ok(stored[1], "TicketResult") if stored else problem(404, "unknown-ticket", "never pushed")
        if route == ("PUT", "sessions", 2):
            return self._open(parts[1], body)
        if route == ("POST", "sessions", 3):
            return self._close(parts[1], body)
        if route == ("PUT", "deposits", 2):
            return self._deposit(parts[1], body)
        if route == ("GET", "sessions", 2):
            session = self.sessions.get(parts[1])
            return _ok(session, "SessionState") if session else problem(404, "unknown-session", "unknown")
        return problem(404, "not-found", f"no route {request.method} {request.url.path}")

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return problem(405, "method-not-allowed", "use POST")
        self.basic_checks += 1
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return problem(401, "invalid-credentials", "Unknown API credential or wrong secret.")
        token = "v1." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return _ok(
            {"token": token, "token_type": "Bearer", "expires_in": 900, "expires_at": "2026-11-23T10:15:00Z"}, "Token"
        )

    def _health(self) -> httpx.Response:
        missing = sorted({"678", "778"} - self.chart)
        return _ok(
            {
                "ready": not missing and bool(self.methods),
                "problems": [],
                "plugin_version": "0.1.0",
                "paheko_version": "1.3.22.1",
                "caisse_version": "0.8.12",
                "caisse_enabled": True,
                "currency": "EUR",
                "year": {"id": 1, "label": "Exercice 2026", "start_date": "2026-01-01", "end_date": "2026-12-31"},
                "chart": {"id": 1, "code": "PCA_2025", "label": "Plan comptable associatif (révision 2025)"},
                "missing_accounts": missing,
                "categories_without_account": [],
                "methods_without_account": [],
                "provisioned": bool(self.methods),
            },
            "Health",
        )

    def _provisioning(self) -> dict[str, Any]:
        return {"categories": list(self.categories.values()), "methods": list(self.methods.values())}

    def _provision(self, body: dict[str, Any]) -> httpx.Response:
        fields: dict[str, str | None] = {"678": None, "778": None}
        for kind in ("categories", "methods"):
            for i, item in enumerate(body[kind]):
                fields.setdefault(item["account"], f"{kind}[{i}].account")
        missing = sorted(set(fields) - self.chart)
        if missing:
            return problem(
                422, "missing-accounts", f"Accounts {missing} missing", fields[missing[0]], missing_accounts=missing
            )
        for i, c in enumerate(body["categories"], start=len(self.categories) + 1):
            self.categories[c["key"]] = {**c, "caisse_category_id": i, "caisse_product_id": i}
        for i, m in enumerate(body["methods"], start=len(self.methods) + 1):
            self.methods[m["key"]] = {**m, "caisse_method_id": i}
        return _ok(self._provisioning(), "Provisioning")

    def _session(self, uuid: str) -> dict[str, Any]:
        if uuid not in self.sessions:
            self.sessions[uuid] = {
                "session": uuid,
                "caisse_session_id": len(self.sessions) + 1,
                "status": "open",
                "opened_at": "2026-11-23T10:00:00+01:00",
                "closed_at": None,
                "tickets": 0,
                "result": None,
                "balances": [],
                "transaction": None,
                "replayed": False,
                "_hash": None,
                "_payments": {},
                "_sales": 0,
            }
        return self.sessions[uuid]

    def _open(self, uuid: str, body: dict[str, Any]) -> httpx.Response:
        created = uuid not in self.sessions
        session = self._session(uuid)
        return _ok(_public(session), "SessionState", 201 if created else 200)

    def _push(self, uuid: str, body: dict[str, Any]) -> httpx.Response:
        digest = hashlib.sha256(canonical(body).encode()).hexdigest()
        if uuid in self.tickets:
            stored_hash, result = self.tickets[uuid]
            if stored_hash == digest:
                return _ok({**result, "replayed": True}, "TicketResult")
            return problem(409, "ticket-conflict", "other content", stored=result)
        for i, line in enumerate(body["lines"]):
            if line["category"] not in self.categories:
                return problem(422, "invalid-request", "not a provisioned category", f"lines[{i}].category")
            if line["quantity"] * line["unit_price"] - line.get("discount", 0) != line["total"]:
                return problem(422, "invalid-request", "total mismatch", f"lines[{i}].total")
        total = sum(line["total"] for line in body["lines"])
        if sum(p["amount"] for p in body["payments"]) != total:
            return problem(422, "invalid-request", "payments do not add up", "payments")
        session = self._session(body["session"])
        if session["status"] == "closed":
            return problem(409, "session-closed", "closed", "session")
        self.tabs_written += 1
        session["tickets"] += 1
        session["_sales"] += total
        for p in body["payments"]:
            account = self.methods[p["method"]]["account"]
            session["_payments"][account] = session["_payments"].get(account, 0) + p["amount"]
        result = {
            "ticket": uuid,
            "session": body["session"],
            "number": body["number"],
            "caisse_session_id": session["caisse_session_id"],
            "caisse_tab_id": self.tabs_written,
            "total": total,
            "items": len(body["lines"]),
            "payments": len(body["payments"]),
            "replayed": False,
        }
        self.tickets[uuid] = (digest, result)
        return _ok(result, "TicketResult", 201)

    def _close(self, uuid: str, body: dict[str, Any]) -> httpx.Response:
        session = self._session(uuid)
        digest = hashlib.sha256(canonical(body).encode()).hexdigest()
        if session["status"] == "closed":
            if session["_hash"] == digest:
                return _ok({**_public(session), "replayed": True}, "SessionState")
            return problem(409, "session-already-closed", "closed with other figures")
        if session["tickets"] != body["ticket_count"]:
            return problem(
                409,
                "tickets-missing",
                "push every ticket first",
                "ticket_count",
                expected=body["ticket_count"],
                received=session["tickets"],
            )
        lines = [
            {"account": a, "debit": v, "credit": 0, "label": None, "reference": None}
            for a, v in session["_payments"].items()
        ]
        lines.append({"account": "707", "debit": 0, "credit": session["_sales"], "label": None, "reference": None})
        session.update(
            status="closed",
            closed_at="2026-11-23T18:00:00+01:00",
            result=session["_sales"],
            _hash=digest,
            transaction={
                "id": session["caisse_session_id"],
                "reference": f"POS-SESSION-{session['caisse_session_id']}",
                "date": "2026-11-23",
                "label": f"Session de caisse n°{session['caisse_session_id']}",
                "lines": lines,
            },
        )
        return _ok(_public(session), "SessionState")

    def _deposit(self, uuid: str, body: dict[str, Any]) -> httpx.Response:
        digest = hashlib.sha256(canonical(body).encode()).hexdigest()
        if uuid in self.deposits:
            stored_hash, stored = self.deposits[uuid]
            if stored_hash == digest:
                return _ok({**stored, "replayed": True}, "DepositResult")
            return problem(409, "deposit-conflict", "booked with other figures", stored=stored)
        session = self.sessions.get(body["session"])
        if session is None:
            return problem(404, "unknown-session", "unknown", "session")
        if session["status"] != "closed":
            return problem(409, "session-not-closed", "deposited once closed", "session")
        accounts = {body["bank_account"], *(line["account"] for line in body["lines"])}
        missing = sorted(accounts - self.chart)
        if missing:
            return problem(409, "missing-accounts", "missing from the chart", missing_accounts=missing)
        total = sum(line["amount"] for line in body["lines"])
        caisse_id = session["caisse_session_id"]
        lines = [
            {
                "account": body["bank_account"],
                "debit": total,
                "credit": 0,
                "label": f"Remise {body['reference']}",
                "reference": body["reference"],
                "project": body.get("project"),
            },
            *(
                {
                    "account": line["account"],
                    "debit": 0,
                    "credit": line["amount"],
                    "label": line["label"],
                    "reference": line.get("reference"),
                    "project": body.get("project"),
                }
                for line in body["lines"]
            ),
        ]
        result = {
            "deposit": uuid,
            "session": body["session"],
            "caisse_session_id": caisse_id,
            "transaction": {
                "id": 1000 + caisse_id,
                "reference": f"POS-DEPOSIT-{caisse_id}",
                "date": body["date"],
                "label": body.get("label") or f"Remise en banque {body['reference']}",
                "lines": lines,
            },
            "replayed": False,
        }
        self.deposits[uuid] = (digest, result)
        return _ok(result, "DepositResult", 201)


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_")}


def _ok(body: object, schema: str, status: int = 200) -> httpx.Response:
    """An answer; `schema` names what the contract says it is, for the reader (the check finds it itself)."""
    del schema
    return httpx.Response(status, json=body)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
