"""Our Caisse-AP terminal simulator over a real socket on 127.0.0.1: it answers as HARDWARE.md §4 describes (the
request echoed, AE=10 with the authorisation, or AE=01 with the reason), acknowledges BA=1 at once, and drops,
stays silent or answers slowly when scripted to."""

from __future__ import annotations

import asyncio

import pytest

from caisse_contracts.caisse_ap import AnswerMode, FrameReader, PaymentRequest, decode
from caisse_devices.card_terminal import CardTerminalSimulator, Outcome, by_amount


async def exchange(port: int, frame: bytes, answers: int = 1) -> list[dict[str, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(frame)
        await writer.drain()
        frames = FrameReader()
        got: list[dict[str, str]] = []
        async with asyncio.timeout(5):
            while len(got) < answers:
                data = await reader.read(4096)
                if not data:
                    break
                got.extend(frames.feed(data))
        return got
    finally:
        writer.close()


async def test_a_success_echoes_the_request_and_gives_an_authorisation_and_a_masked_card() -> None:
    async with CardTerminalSimulator() as terminal:
        [answer] = await exchange(terminal.port, PaymentRequest(amount=1250, currency_numeric=978).encode())
        assert (answer["CA"], answer["CB"], answer["CD"], answer["CE"], answer["AE"], answer["CI"]) == (
            "01",
            "1250",
            "0",
            "978",
            "10",
            "1",
        )
        assert answer["AC"]
        assert "######" in answer["AA"]
        assert [r.outcome for r in terminal.requests] == [Outcome.SUCCESS]


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [(Outcome.REFUSED, "04"), (Outcome.ABANDONED, "11"), (Outcome.TIMED_OUT, "08"), (Outcome.FORBIDDEN, "05")],
)
async def test_a_scripted_failure_answers_ae_01_with_its_reason(outcome: Outcome, reason: str) -> None:
    async with CardTerminalSimulator() as terminal:
        terminal.script(outcome)
        [answer] = await exchange(terminal.port, PaymentRequest(amount=100, currency_numeric=978).encode())
        assert (answer["AE"], answer["AF"]) == ("01", reason)
        assert "AC" not in answer


async def test_immediate_mode_acknowledges_at_once_then_answers() -> None:
    async with CardTerminalSimulator() as terminal:
        terminal.script(Outcome.CONTACTLESS)
        request = PaymentRequest(amount=100, currency_numeric=953, answer_mode=AnswerMode.IMMEDIATE)
        ack, final = await exchange(terminal.port, request.encode(), answers=2)
        assert (ack["AE"], final["AE"], final["CI"], final["CC"]) == ("11", "10", "2", "00B")


async def test_a_dropped_connection_closes_without_an_answer() -> None:
    async with CardTerminalSimulator() as terminal:
        terminal.script(Outcome.DROPPED)
        assert await exchange(terminal.port, PaymentRequest(amount=100, currency_numeric=978).encode()) == []


async def test_a_request_missing_a_field_is_answered_as_a_format_error() -> None:
    async with CardTerminalSimulator() as terminal:
        [answer] = await exchange(terminal.port, b"CZ0040300CA00201CB003100")
        assert (answer["AE"], answer["AF"]) == ("01", "09")
        assert terminal.requests == []


async def test_a_held_answer_waits_for_its_release() -> None:
    async with CardTerminalSimulator() as terminal:
        terminal.hold()
        talk = asyncio.create_task(exchange(terminal.port, PaymentRequest(amount=100, currency_numeric=978).encode()))
        await terminal.wait_requests(1)
        assert not talk.done()
        terminal.release()
        [answer] = await talk
        assert answer["AE"] == "10"


def test_the_demo_rule_reads_the_outcome_from_the_amounts_last_two_digits() -> None:
    def outcome(amount: int) -> Outcome:
        return by_amount(PaymentRequest.of(decode(PaymentRequest(amount=amount, currency_numeric=978).encode())))

    assert [outcome(a) for a in (1200, 1291, 1292, 1293, 1294, 1295, 1296, 1297)] == [
        Outcome.SUCCESS,
        Outcome.REFUSED,
        Outcome.ABANDONED,
        Outcome.TIMED_OUT,
        Outcome.CONTACTLESS,
        Outcome.SLOW,
        Outcome.DROPPED,
        Outcome.SILENT,
    ]
