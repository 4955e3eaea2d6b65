"""The virtual ESC/POS printer over real sockets on 127.0.0.1: it decodes a job's text through the table the job
selected, counts cuts and drawer pulses, answers DLE EOT as an Epson printer does (HARDWARE.md §5), and simulates a
printer switched off, out of paper, and a connection dropped in the middle of a job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from caisse_devices.printer import VirtualPrinter, decode

INIT, CP858, KICK_PIN2 = b"\x1b@", b"\x1bt\x13", b"\x1bp\x002\x32"
CUT, STATUS_ONLINE, STATUS_PAPER = b"\x1dV\x00", b"\x10\x04\x01", b"\x10\x04\x04"


@pytest.fixture
async def printer() -> AsyncIterator[VirtualPrinter]:
    device = VirtualPrinter()
    await device.start()
    yield device
    await device.stop()


async def send(printer: VirtualPrinter, data: bytes, *, ask: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", printer.port)
    answer = b""
    if ask:
        writer.write(ask)
        await writer.drain()
        answer = await reader.readexactly(len(ask) // 3)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    return answer


def test_text_is_decoded_through_the_selected_table_with_the_euro_sign_and_accents() -> None:
    job = decode(INIT + CP858 + "Café crème 12,50 €\n".encode("cp858") + b"\x1bd\x02" + CUT)
    assert job.text == "Café crème 12,50 €\n\n\n"
    assert (job.code_pages, job.cuts, job.unknown) == ([19], 1, [])


def test_a_native_qr_code_and_a_raster_image_are_read_whole() -> None:
    qr = b"\x1d(k\x08\x001P0ab-cd"
    image = b"\x1dv0\x00\x02\x00\x03\x00" + bytes(6)
    job = decode(qr + image + b"ok\n")
    assert (job.qr_codes, job.images, job.text) == (["ab-cd"], [(16, 3)], "ok\n")


async def test_a_job_is_recorded_with_its_cuts_and_drawer_pulses(printer: VirtualPrinter) -> None:
    await send(printer, INIT + KICK_PIN2 + b"Merci\n" + CUT)
    [job] = await printer.wait_for_jobs(1)
    assert (job.text, job.cuts, job.drawer_pulses, job.complete) == ("Merci\n", 1, [0], True)


async def test_status_requests_are_answered_online_and_paper_out(printer: VirtualPrinter) -> None:
    assert await send(printer, b"", ask=STATUS_ONLINE + STATUS_PAPER) == bytes([0x12, 0x12])
    printer.paper = "near_end"
    assert await send(printer, b"", ask=STATUS_PAPER) == bytes([0x1E])
    printer.paper = "out"
    assert await send(printer, b"", ask=STATUS_ONLINE + STATUS_PAPER) == bytes([0x1A, 0x72])
    await send(printer, b"lost\n" + CUT)
    await printer.wait_until(lambda: printer.ended == 4)
    assert [j.text for j in printer.unprinted] == ["lost\n"]
    assert printer.jobs == []  # status queries alone are no job; a job sent without paper is not printed


async def test_offline_the_port_refuses_connections_until_it_is_back(printer: VirtualPrinter) -> None:
    await printer.go_offline()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", printer.port)
    await printer.go_online()
    await send(printer, b"back\n")
    assert [j.text for j in await printer.wait_for_jobs(1)] == ["back\n"]


async def test_a_connection_dropped_mid_job_keeps_the_part_received_as_incomplete(printer: VirtualPrinter) -> None:
    printer.drop_next_job_after(10)
    reader, writer = await asyncio.open_connection("127.0.0.1", printer.port)
    writer.write(b"0123456789abcdefghij\n" + CUT)
    await writer.drain()
    assert await reader.read(10) == b""  # the printer cut the connection
    writer.close()
    await printer.wait_until(lambda: len(printer.dropped) == 1)
    [partial] = printer.dropped
    assert (partial.text, partial.cuts, partial.complete) == ("0123456789", 0, False)
    assert printer.jobs == []
