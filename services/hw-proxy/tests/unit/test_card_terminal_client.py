"""The till's Caisse-AP client over real TCP against our terminal simulator on 127.0.0.1 (HARDWARE.md §4): the
final answer read in both answer modes, each failure told apart, and what the till cannot know (no answer within
the client timeout, the connection cut, an answer that is not Caisse-AP) never taken for a success nor a refusal."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from caisse_contracts.caisse_ap import Action, AnswerMode, PaymentRequest, Status, TerminalAnswer
from caisse_contracts.config import CardTerminalFields
from caisse_contracts.money import EUR
from caisse_devices.card_terminal import CardTerminalSimulator, Outcome
from hw_proxy.adapters.card_terminal import CaisseApTerminal
from hw_proxy.domain.card_payments import MESSAGES, CardCode, result_of
from hw_proxy.service_layer.ports import TerminalUnansweredError, TerminalUnreachableError

DEBIT = PaymentRequest(amount=1250, currency_numeric=978)


def setup_for(port: int, timeout_s: float = 5.0) -> CardTerminalFields:
    return CardTerminalFields(host="127.0.0.1", port=port, timeout_s=timeout_s)


@pytest.fixture
async def terminal() -> AsyncIterator[CardTerminalSimulator]:
    async with CardTerminalSimulator(slow_s=0.2) as simulator:
        yield simulator


@pytest.mark.parametrize("mode", [AnswerMode.AT_END, AnswerMode.IMMEDIATE])
async def test_a_payment_is_approved_in_both_answer_modes(terminal: CardTerminalSimulator, mode: AnswerMode) -> None:
    request = PaymentRequest(amount=1250, currency_numeric=978, answer_mode=mode)
    answer = await CaisseApTerminal().transact(setup_for(terminal.port), request)
    assert answer.status is Status.DONE
    result = result_of(answer, request, EUR)
    assert (result.status, result.code, result.contactless) == ("approved", CardCode.APPROVED, False)
    assert result.authorisation
    assert result.masked_pan is not None
    assert "######" in result.masked_pan
    assert result.slip_text is not None
    assert "MONTANT 12,50 EUR" in result.slip_text
    assert terminal.requests[0].request == request


async def test_a_refund_is_sent_with_cd_1(terminal: CardTerminalSimulator) -> None:
    refund = PaymentRequest(amount=500, currency_numeric=978, action=Action.REFUND)
    answer = await CaisseApTerminal().transact(setup_for(terminal.port), refund)
    assert answer.status is Status.DONE
    assert terminal.requests[0].request.action is Action.REFUND


async def test_a_contactless_payment_says_so(terminal: CardTerminalSimulator) -> None:
    terminal.script(Outcome.CONTACTLESS)
    answer = await CaisseApTerminal().transact(setup_for(terminal.port), DEBIT)
    assert result_of(answer, DEBIT, EUR).contactless is True


@pytest.mark.parametrize(
    ("outcome", "code", "message"),
    [
        (Outcome.REFUSED, CardCode.REFUSED, "Carte refusée"),
        (Outcome.ABANDONED, CardCode.ABANDONED, "Paiement abandonné sur le terminal"),
        (Outcome.TIMED_OUT, CardCode.CARD_TIMEOUT, "Délai dépassé sur le terminal"),
        (Outcome.FORBIDDEN, CardCode.FORBIDDEN, "Carte interdite"),
    ],
)
async def test_a_failure_is_declined_with_its_reason(
    terminal: CardTerminalSimulator, outcome: Outcome, code: CardCode, message: str
) -> None:
    terminal.script(outcome)
    answer = await CaisseApTerminal().transact(setup_for(terminal.port), DEBIT)
    result = result_of(answer, DEBIT, EUR)
    assert (result.status, result.code) == ("declined", code)
    assert MESSAGES[result.code].startswith(message)


async def test_a_slow_answer_within_the_timeout_is_waited_for(terminal: CardTerminalSimulator) -> None:
    terminal.script(Outcome.SLOW)
    answer = await CaisseApTerminal().transact(setup_for(terminal.port, timeout_s=5), DEBIT)
    assert answer.status is Status.DONE


@pytest.mark.parametrize("mode", [AnswerMode.AT_END, AnswerMode.IMMEDIATE])
async def test_no_final_answer_within_the_client_timeout_is_no_answer(
    terminal: CardTerminalSimulator, mode: AnswerMode
) -> None:
    terminal.script(Outcome.SILENT)
    request = PaymentRequest(amount=100, currency_numeric=978, answer_mode=mode)
    with pytest.raises(TerminalUnansweredError) as silent:
        await CaisseApTerminal().transact(setup_for(terminal.port, timeout_s=0.3), request)
    assert silent.value.code == "no_answer"


async def test_a_connection_dropped_before_the_answer_is_connection_lost(terminal: CardTerminalSimulator) -> None:
    terminal.script(Outcome.DROPPED)
    with pytest.raises(TerminalUnansweredError) as cut:
        await CaisseApTerminal().transact(setup_for(terminal.port), DEBIT)
    assert cut.value.code == "connection_lost"


async def test_a_terminal_that_is_off_is_unreachable_and_got_nothing() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TerminalUnreachableError):
        await CaisseApTerminal().transact(setup_for(port), DEBIT)


async def test_an_answer_that_is_not_caisse_ap_is_an_invalid_answer() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TerminalUnansweredError) as garbled:
            await CaisseApTerminal().transact(setup_for(port), DEBIT)
        assert garbled.value.code == "invalid_answer"
    finally:
        server.close()
        await server.wait_closed()


def test_a_success_for_another_amount_is_not_trusted() -> None:
    other = TerminalAnswer(Status.DONE, authorisation="1", echo={"CA": "01", "CB": "999", "CD": "0", "CE": "978"})
    assert result_of(other, DEBIT, EUR).code is CardCode.INVALID_ANSWER
    assert result_of(other, DEBIT, EUR).status == "pending"


async def test_an_answer_split_across_writes_with_its_status_first_is_read_whole() -> None:
    """A real terminal may send `CZ` and `AE` in one write and the rest after: the till waits for the terminal to
    go quiet before it takes the answer as whole, so the slip has its authorisation and card number."""
    async with CardTerminalSimulator(split_answers=True, write_gap_s=0.03) as terminal:
        answer = await CaisseApTerminal(quiet_s=0.2).transact(setup_for(terminal.port), DEBIT)
    assert answer.status is Status.DONE
    assert (answer.authorisation, answer.masked_pan, answer.contract) == ("100001", "497010######0001", "4242420")
    assert answer.echo["CB"] == "1250"
    slip = result_of(answer, DEBIT, EUR).slip_text
    assert slip is not None
    assert "CARTE 497010######0001" in slip


async def test_an_answer_followed_by_the_terminal_closing_is_taken_at_once() -> None:
    async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(TerminalAnswer(Status.DONE, authorisation="777", echo={"CB": "1250"}).encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_and_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        answer = await CaisseApTerminal(quiet_s=60).transact(setup_for(port), DEBIT)
        assert (answer.status, answer.authorisation) == (Status.DONE, "777")
    finally:
        server.close()
        await server.wait_closed()
