"""The receipt printer through python-escpos: a print document rendered to ESC/POS bytes (its `Dummy` printer), and
those bytes sent to the POS's printer (network, USB or serial), its state read first with the real-time status
commands (DLE EOT 4 paper, DLE EOT 1 on line) and the whole job confirmed by one more status answer after it.

python-escpos (with Pillow and its code-page tables) is imported on first use: about 0.5 s and several MB that a
till which never prints does not pay at start. A USB printer needs pyusb, a serial one pyserial (the `usb` and
`serial` extras of python-escpos): python-escpos loads them with itself, never at the agent's start.
"""

from __future__ import annotations

import asyncio
import functools
import io
import socket
from typing import Any

from caisse_contracts.config import NetworkPrinter, PrinterFields, SerialPrinter, UsbPrinter
from hw_proxy.adapters.escpos_capabilities import use_cut_down_capabilities
from hw_proxy.domain.printing import PrinterState
from hw_proxy.domain.receipts import Logo, PrintDocument, QrCode, Text
from hw_proxy.service_layer.ports import JobInterruptedError, PrinterUnavailableError

DOTS = {58: 384, 80: 576}
"""Printable dots per line by paper width (203 dpi heads)."""


class EscposRenderer:
    """Lays a print document out as ESC/POS bytes with python-escpos's `Dummy` printer (the `ReceiptRenderer`
    port): reset, the character table, the drawer pulse, styled lines, the native QR code, the logo, the cut."""

    def __init__(self) -> None:
        use_cut_down_capabilities()
        self._encoder: Any = None

    def render(self, document: PrintDocument, setup: PrinterFields) -> bytes:
        from escpos.printer import Dummy  # noqa: PLC0415 (loaded on first use, see the module)

        # One python-escpos text encoder for every receipt: it keeps the character map of each code page it has
        # built, which a new `Dummy` would otherwise build again for each receipt.
        printer = Dummy(magic_encode_args={"encoder": self._text_encoder()})
        printer.hw("INIT")
        printer.charcode(setup.code_page.value)
        if document.kick_drawer and setup.cash_drawer:
            printer.cashdraw(setup.drawer_pin)
        for block in document.blocks:
            if isinstance(block, Text):
                if block.tall:
                    printer.set(align=block.align, bold=block.bold, double_height=True)
                else:
                    printer.set(align=block.align, bold=block.bold, normal_textsize=True)
                printer.textln(block.text)
            elif isinstance(block, QrCode):
                printer.set(align="center", bold=False, normal_textsize=True)
                printer.qr(block.data, native=True, size=6)
            elif isinstance(block, Logo):
                printer.set(align="center", bold=False, normal_textsize=True)
                printer.image(_raster(block.png, DOTS[setup.paper_width_mm]), center=False)
        if document.cut:
            printer.cut()
        output: bytes = printer.output
        return output

    def _text_encoder(self) -> Any:
        if self._encoder is None:
            from escpos.capabilities import get_profile  # noqa: PLC0415 (see the module)
            from escpos.magicencode import Encoder  # noqa: PLC0415

            self._encoder = Encoder(get_profile().get_code_pages())
        return self._encoder


def _raster(png: bytes, max_dots: int) -> Any:
    from PIL import Image  # noqa: PLC0415 (with python-escpos)

    image = Image.open(io.BytesIO(png))
    image.load()
    if image.width > max_dots:
        image.thumbnail((max_dots, max_dots * 4))
    return image


@functools.cache
def _serial_printer() -> Any:
    """python-escpos's serial printer, reading a real-time status answer as the one byte it is: its own read asks
    for 16 bytes, so it would wait the whole timeout on every status request (three per job)."""
    from escpos.printer import Serial  # noqa: PLC0415 (see the module)

    class OneByteStatusSerial(Serial):  # type: ignore[misc]
        def _read(self) -> bytes:
            return bytes(self.device.read(1))

    return OneByteStatusSerial


class EscposPrinter:
    """The POS's printer as python-escpos reaches it (the `ReceiptPrinter` port); each job opens the connection,
    reads the paper and on-line state, sends the bytes, waits for one more status answer (the proof that the whole
    job arrived) and closes. Blocking I/O runs in a worker thread, one job at a time."""

    def __init__(self, *, timeout_s: float) -> None:
        use_cut_down_capabilities()
        self._timeout_s = timeout_s

    async def state(self, setup: PrinterFields) -> PrinterState:
        return await asyncio.to_thread(self._state, setup)

    async def send(self, setup: PrinterFields, data: bytes) -> None:
        await asyncio.to_thread(self._send, setup, data)

    def _device(self, setup: PrinterFields) -> Any:
        from escpos.exceptions import DeviceNotFoundError  # noqa: PLC0415
        from escpos.printer import Network, Usb  # noqa: PLC0415

        connection = setup.connection
        try:
            if isinstance(connection, NetworkPrinter):
                device = Network(connection.host, connection.port, timeout=self._timeout_s)
            elif isinstance(connection, UsbPrinter):
                device = Usb(connection.vendor_id, connection.product_id, timeout=int(self._timeout_s * 1000))
            else:
                assert isinstance(connection, SerialPrinter)  # noqa: S101 (the union's last member)
                device = _serial_printer()(connection.device, connection.baudrate, timeout=self._timeout_s)
            device.open()
            if isinstance(connection, NetworkPrinter) and device.device is not None:
                # the status query after the job is 3 bytes: sent at once, not held back by Nagle for an ACK
                device.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (DeviceNotFoundError, OSError) as missing:
            raise PrinterUnavailableError("offline", f"the printer does not answer ({missing})".strip()) from None
        except Exception as failed:  # a USB or serial back end missing on this till, a bad port…
            raise PrinterUnavailableError("offline", f"the printer cannot be opened ({failed})") from None
        return device

    def _read_state(self, device: Any) -> PrinterState:
        try:
            paper = device.paper_status()
            online = device.is_online()
        except OSError as lost:
            raise PrinterUnavailableError("offline", f"the printer does not answer its status ({lost})") from None
        if paper == 0:
            return PrinterState.PAPER_OUT
        if not online:
            return PrinterState.OFFLINE
        return PrinterState.PAPER_LOW if paper == 1 else PrinterState.READY

    def _state(self, setup: PrinterFields) -> PrinterState:
        try:
            device = self._device(setup)
        except PrinterUnavailableError:
            return PrinterState.OFFLINE
        try:
            return self._read_state(device)
        except PrinterUnavailableError:
            return PrinterState.OFFLINE
        finally:
            device.close()

    def _send(self, setup: PrinterFields, data: bytes) -> None:
        from escpos.constants import RT_STATUS_ONLINE  # noqa: PLC0415

        device = self._device(setup)
        try:
            state = self._read_state(device)
            if state is PrinterState.PAPER_OUT:
                raise PrinterUnavailableError("paper_out", "the printer is out of paper")
            if state is PrinterState.OFFLINE:
                raise PrinterUnavailableError("offline", "the printer is off line (cover open, or an error)")
            try:
                device._raw(data)
                confirmed = device.query_status(RT_STATUS_ONLINE)
            except OSError as lost:
                raise JobInterruptedError(f"the connection dropped during the job ({lost})") from None
            if not confirmed:
                raise JobInterruptedError("the printer closed the connection during the job")
        finally:
            device.close()
