"""A SunSpec client over Modbus TCP (pymodbus): find the map, list its models, read and write points.

Discovery follows the Information Model Specification §4.2: read two registers at each candidate
base address (40000, then 0, then 50000) until one holds 'SunS', then walk the models: read ID and
L, step over 2 + L registers, stop at ID 0xFFFF. A device answers a missing base with a Modbus
exception (illegal data address), which only means "try the next base".

Every failure becomes a `SunSpecError` (a `DeviceError`) naming the device, the model and point
or register range, and what the device answered: the Modbus exception code by name, a timeout,
a lost connection, or a model the device does not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Final

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from gridedge.home.devices.adapter import DeviceError
from gridedge.model.sunspec import (
    BASE_ADDRESSES,
    END_MODEL_ID,
    MODELS,
    SUNS_MARKER,
    ModelBlock,
    encode_raw,
    model_name,
)

MAX_READ: Final = 125
"""Registers per Read Holding Registers request (Modbus Application Protocol v1.1b3 §6.3)."""
MAX_MODELS: Final = 200
"""A walk that has not met the end model after this many models is a broken map."""


class SunSpecError(DeviceError):
    """A SunSpec device refused, did not answer, or lacks a model; says which model and register."""

    def __init__(
        self,
        device_id: str,
        message: str,
        *,
        model_id: int | None = None,
        address: int | None = None,
        exception_code: int | None = None,
    ) -> None:
        super().__init__(device_id, message)
        self.model_id = model_id
        self.address = address
        self.exception_code = exception_code
        """The Modbus exception code the device answered with, None for other failures."""


@dataclass(frozen=True, slots=True)
class ModelHeader:
    """A model found on the device: its id, the address of its ID register and its length L."""

    id: int
    address: int
    length: int


class SunSpecClient:
    """One Modbus TCP connection to one SunSpec device (`unit_id`), with request timeouts.

    pymodbus' own reconnection is off; `connect()` (called again after a lost connection by the
    next request) is the only way back, so the caller's service decides when to retry.
    """

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        unit_id: int = 1,
        device_id: str = "sunspec",
        timeout_s: float = 3.0,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.device_id = device_id
        self.timeout_s = timeout_s
        self._client = AsyncModbusTcpClient(
            host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0, reconnect_delay_max=0
        )
        self.base: int | None = None
        self._models: tuple[ModelHeader, ...] = ()

    # --- connection --------------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            ok = await asyncio.wait_for(self._client.connect(), self.timeout_s + 1.0)
        except (TimeoutError, OSError, ModbusException) as exc:
            raise SunSpecError(self.device_id, f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        if not ok:
            raise SunSpecError(self.device_id, f"cannot connect to {self.host}:{self.port}")

    def close(self) -> None:
        self._client.close()

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    # --- raw registers -----------------------------------------------------------------------

    async def _call(
        self, desc: str, address: int, model_id: int | None, request: Awaitable[ModbusPDU]
    ) -> ModbusPDU:
        try:
            pdu = await asyncio.wait_for(request, self.timeout_s + 1.0)
        except TimeoutError as exc:
            raise SunSpecError(
                self.device_id,
                f"no answer within {self.timeout_s} s {desc}",
                model_id=model_id,
                address=address,
            ) from exc
        except ModbusIOException as exc:
            # pymodbus' own timeout (retries=0) surfaces as "No response received"
            silent = "No response" in str(exc)
            msg = f"no answer within {self.timeout_s} s {desc}" if silent else f"{desc}: {exc}"
            raise SunSpecError(self.device_id, msg, model_id=model_id, address=address) from exc
        except ModbusException as exc:
            raise SunSpecError(self.device_id, f"{desc}: {exc}", model_id=model_id, address=address) from exc
        if isinstance(pdu, ExceptionResponse) or pdu.isError():
            code = int(getattr(pdu, "exception_code", 0))
            try:
                name = ExcCodes(code).name.lower().replace("_", " ")
            except ValueError:
                name = "unknown"
            raise SunSpecError(
                self.device_id,
                f"{desc}: Modbus exception {code} ({name})",
                model_id=model_id,
                address=address,
                exception_code=code,
            )
        return pdu

    async def _ensure_connected(self) -> None:
        if not self._client.connected:
            await self.connect()

    async def read_registers(
        self, address: int, count: int, *, what: str = "", model_id: int | None = None
    ) -> list[int]:
        """Holding registers [address, address + count), in requests of at most 125."""
        await self._ensure_connected()
        out: list[int] = []
        while count > 0:
            n = min(count, MAX_READ)
            desc = f"reading registers {address}..{address + n - 1}" + (f" ({what})" if what else "")
            rr = await self._call(
                desc,
                address,
                model_id,
                self._client.read_holding_registers(address, count=n, device_id=self.unit_id),
            )
            if len(rr.registers) != n:
                raise SunSpecError(
                    self.device_id,
                    f"{desc}: device returned {len(rr.registers)} registers",
                    model_id=model_id,
                    address=address,
                )
            out.extend(rr.registers)
            address += n
            count -= n
        return out

    async def write_registers(
        self, address: int, values: Sequence[int], *, what: str = "", model_id: int | None = None
    ) -> None:
        """Write Multiple Registers (function 16) from `address`."""
        await self._ensure_connected()
        desc = f"writing registers {address}..{address + len(values) - 1}" + (f" ({what})" if what else "")
        await self._call(
            desc,
            address,
            model_id,
            self._client.write_registers(address, list(values), device_id=self.unit_id),
        )

    # --- models ------------------------------------------------------------------------------

    async def discover(self) -> tuple[ModelHeader, ...]:
        """Find the base address and list the device's models (also kept in `models`)."""
        tried: list[str] = []
        for base in BASE_ADDRESSES:
            try:
                marker = await self.read_registers(base, 2, what="SunSpec marker")
            except SunSpecError as exc:
                if exc.exception_code is None:  # no answer at all: not a question of the base
                    raise
                tried.append(f"{base}: Modbus exception {exc.exception_code}")
                continue
            if tuple(marker) == SUNS_MARKER:
                self.base = base
                self._models = await self._walk(base + 2)
                return self._models
            tried.append(f"{base}: {marker[0]:#06x} {marker[1]:#06x}")
        raise SunSpecError(self.device_id, f"no 'SunS' marker at any base address ({'; '.join(tried)})")

    async def _walk(self, address: int) -> tuple[ModelHeader, ...]:
        found: list[ModelHeader] = []
        for _ in range(MAX_MODELS):
            model_id, length = await self.read_registers(address, 2, what="model header")
            if model_id == END_MODEL_ID:
                return tuple(found)
            found.append(ModelHeader(model_id, address, length))
            address += 2 + length
            if address > 0xFFFF:
                break
        raise SunSpecError(
            self.device_id,
            f"model list does not end (no model {END_MODEL_ID:#06x} after {len(found)} models)",
            address=address,
        )

    @property
    def models(self) -> tuple[ModelHeader, ...]:
        return self._models

    def has(self, model_id: int) -> bool:
        return any(m.id == model_id for m in self._models)

    def header(self, model_id: int) -> ModelHeader:
        for m in self._models:
            if m.id == model_id:
                return m
        offered = ", ".join(str(m.id) for m in self._models) or "none (not discovered yet)"
        raise SunSpecError(
            self.device_id,
            f"{model_name(model_id)} not found; the device offers models {offered}",
            model_id=model_id,
        )

    async def read_model(self, model_id: int) -> ModelBlock:
        """Read one whole model and check its length against the specification's."""
        h = self.header(model_id)
        model = MODELS.get(model_id)
        if model is None:
            raise SunSpecError(
                self.device_id, f"{model_name(model_id)} has no layout here", model_id=model_id
            )
        if h.length < model.length:
            raise SunSpecError(
                self.device_id,
                f"{model_name(model_id)} at {h.address} has L={h.length}, "
                f"the specification's is {model.length}",
                model_id=model_id,
                address=h.address,
            )
        regs = await self.read_registers(
            h.address, 2 + model.length, what=model_name(model_id), model_id=model_id
        )
        return ModelBlock(model, h.address, tuple(regs))

    async def write_point(self, model_id: int, name: str, raw: int | None) -> None:
        """Write one point's raw integer value (scale it first with `models.unscale`)."""
        h = self.header(model_id)
        model = MODELS[model_id]
        point = model.point(name)
        if not point.writable:
            raise SunSpecError(
                self.device_id, f"{model_name(model_id)} point {name} is read-only", model_id=model_id
            )
        try:
            regs = encode_raw(point, raw)
        except ValueError as exc:
            raise SunSpecError(self.device_id, f"{model_name(model_id)}: {exc}", model_id=model_id) from exc
        await self.write_registers(
            h.address + point.offset, regs, what=f"{model_name(model_id)} {name}", model_id=model_id
        )
