"""A SunSpec device over Modbus TCP for the virtual household: a register image served by pymodbus.

`RegisterMap` lays out the map as the SunSpec Information Model Specification §4.2 has it: 'SunS'
at the base address, the models one after the other, the end model 0xFFFF. Points a device does
not name hold the 'not implemented' sentinels (§6.3).

`SunSpecDevice` serves the image with pymodbus' `ModbusTcpServer` over a `SimDevice`, whose
access hook syncs the served registers from the image before every request and screens every
write: a write that touches a register outside any writable, implemented point (the marker, a
model header, a measurement, a scale factor, a point the device leaves unimplemented) is answered
with exception 2, illegal data address; a value the device cannot take (a percentage above 100,
an unknown enum) with exception 3, illegal data value. Accepted writes are handed to the
subclass, which applies them to the sim device. `publish(t)` (the sim calls it after each step)
refreshes the measurement registers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gridedge.model.sunspec import (
    SUNS_MARKER,
    ModelDef,
    Point,
    PointType,
    decode_raw,
    encode_model,
    encode_raw,
    end_marker,
    scale,
    unscale,
)
from gridedge.sim import modbus_tcp

PointValues = Mapping[str, int | str | None]


@dataclass(frozen=True, slots=True)
class PlacedModel:
    """A model in the image: the address of its ID register."""

    model: ModelDef
    address: int


class RegisterMap:
    """The registers of one SunSpec device, from the base address to the end model."""

    def __init__(self, base: int, models: Sequence[tuple[ModelDef, PointValues]]) -> None:
        if not 0 <= base <= 0xFFFF:
            raise ValueError(f"base address {base} is outside 0..65535")
        regs: list[int] = list(SUNS_MARKER)
        placed: dict[int, PlacedModel] = {}
        implemented: set[tuple[int, str]] = set()
        for model, values in models:
            if model.id in placed:
                raise ValueError(f"model {model.id} appears twice")
            placed[model.id] = PlacedModel(model, base + len(regs))
            regs.extend(encode_model(model, values))
            implemented.update((model.id, name) for name, v in values.items() if v is not None)
        regs.extend(end_marker())
        if base + len(regs) > 0x10000:
            raise ValueError(f"the map ({len(regs)} registers) does not fit above base {base}")
        self.base = base
        self.registers = regs
        self._placed = placed
        self._implemented = frozenset(implemented)

    def copy(self) -> RegisterMap:
        other = object.__new__(RegisterMap)
        other.base = self.base
        other.registers = list(self.registers)
        other._placed = self._placed
        other._implemented = self._implemented
        return other

    @property
    def model_ids(self) -> tuple[int, ...]:
        return tuple(self._placed)

    def has(self, model_id: int) -> bool:
        return model_id in self._placed

    def implements(self, model_id: int, name: str) -> bool:
        return (model_id, name) in self._implemented

    def _locate_point(self, model_id: int, name: str) -> tuple[Point, int]:
        placed = self._placed.get(model_id)
        if placed is None:
            raise KeyError(
                f"model {model_id} is not in this map (models {', '.join(map(str, self._placed))})"
            )
        p = placed.model.point(name)
        return p, placed.address + p.offset - self.base

    def address(self, model_id: int, name: str) -> int:
        _, i = self._locate_point(model_id, name)
        return self.base + i

    def raw(self, model_id: int, name: str) -> int | None:
        p, i = self._locate_point(model_id, name)
        return decode_raw(p, self.registers[i : i + p.size])

    def set_raw(self, model_id: int, name: str, raw: int | None) -> None:
        p, i = self._locate_point(model_id, name)
        self.registers[i : i + p.size] = encode_raw(p, raw)

    def value(self, model_id: int, name: str) -> float | None:
        """The point's value with its scale factor applied; None when either is not implemented."""
        p, _ = self._locate_point(model_id, name)
        raw = self.raw(model_id, name)
        sf = 0 if p.sf is None else self.raw(model_id, p.sf)
        return None if raw is None or sf is None else scale(raw, sf)

    def set_value(self, model_id: int, name: str, value: float | None) -> None:
        """Store `value` with the point's scale factor, saturating at the type's range."""
        p, _ = self._locate_point(model_id, name)
        if value is None:
            self.set_raw(model_id, name, None)
            return
        sf = 0 if p.sf is None else self.raw(model_id, p.sf)
        if sf is None:
            raise ValueError(f"model {model_id} point {name}: scale factor {p.sf} is not implemented")
        lo, hi = _range(p)
        self.set_raw(model_id, name, min(max(unscale(value, sf), lo), hi))

    def locate(self, address: int) -> tuple[PlacedModel, Point] | None:
        """The model and point that register `address` belongs to (None: marker, end model, outside)."""
        for placed in self._placed.values():
            offset = address - placed.address
            if 0 <= offset < 2 + placed.model.length:
                p = placed.model.at(offset)
                return None if p is None else (placed, p)
        return None


def _range(p: Point) -> tuple[int, int]:
    """Values a point can hold, its 'not implemented' sentinel excluded."""
    bits = 16 * p.size
    if p.type in (PointType.INT16, PointType.INT32):
        return -(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1
    if p.type in (PointType.ACC16, PointType.ACC32):
        return 0, (1 << bits) - 1
    return 0, (1 << bits) - 2


def fit_sf(largest: float, point_type: PointType = PointType.UINT16) -> int:
    """The smallest scale factor >= 0 at which `largest` fits a 16-bit point of `point_type`."""
    top = 0x7FFF if point_type is PointType.INT16 else 0xFFFE
    sf = 0
    while abs(largest) / 10**sf > top:
        sf += 1
    return sf


class SunSpecDevice(ABC):
    """A virtual SunSpec device: a `RegisterMap` served over Modbus TCP on `host`:`port`
    (port 0: any free port, read `port` after `start()`), answering unit id `unit_id`.

    Subclasses build the image, validate writes (`check`), apply them (`applied`) and refresh
    measurements (`publish`). All of it runs on the event loop thread of the server.
    """

    def __init__(
        self, image: RegisterMap, *, host: str = "127.0.0.1", port: int = 0, unit_id: int = 1
    ) -> None:
        self.image = image
        self.host = host
        self.unit_id = unit_id
        self._port = port
        self._server: ModbusTcpServer | None = None
        self.t = 0.0
        """Sim time of the last `publish`; writes are applied to the sim device at this time."""
        self.rejected: list[str] = []
        """Why each refused write was refused, oldest first (for logs and tests)."""

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> int:
        """Listen; returns the TCP port."""
        if self._server is not None:
            raise RuntimeError("SunSpec device already started")
        device = SimDevice(
            id=self.unit_id,
            simdata=[
                SimData(self.image.base, values=list(self.image.registers), datatype=DataType.REGISTERS)
            ],
            action=self._access,
        )
        self._server, self._port = await modbus_tcp.serve(device, self.host, self._port)
        return self._port

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await modbus_tcp.shutdown(server)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- the sim side ----------------------------------------------------------------------------

    @abstractmethod
    def publish(self, t: float) -> None:
        """Refresh the measurement registers from the sim device at sim time `t`."""

    def check(self, image: RegisterMap, models: frozenset[int]) -> str | None:
        """Why the written image cannot be taken (-> illegal data value), or None to accept it."""
        return None

    @abstractmethod
    def applied(self, models: frozenset[int]) -> None:
        """Apply the accepted new values of `models` to the sim device."""

    # --- the Modbus side -------------------------------------------------------------------------

    async def _access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if values is not None:
            code = self._write(address, [int(v) for v in values])
            if code is not None:
                return code
        first = self.image.base - start_address
        registers[first : first + len(self.image.registers)] = self.image.registers
        return None

    def _write(self, address: int, values: list[int]) -> ExcCodes | None:
        touched: set[int] = set()
        for i in range(len(values)):
            where = self.image.locate(address + i)
            if where is None or not where[1].writable:
                return self._refuse(ExcCodes.ILLEGAL_ADDRESS, f"register {address + i} is not writable")
            placed, p = where
            if not self.image.implements(placed.model.id, p.name):
                return self._refuse(
                    ExcCodes.ILLEGAL_ADDRESS, f"model {placed.model.id} point {p.name} is not implemented"
                )
            start = placed.address + p.offset
            if start < address or start + p.size > address + len(values):
                return self._refuse(ExcCodes.ILLEGAL_ADDRESS, f"partial write of {p.name}")
            touched.add(placed.model.id)
        trial = self.image.copy()
        first = address - trial.base
        trial.registers[first : first + len(values)] = values
        models = frozenset(touched)
        reason = self.check(trial, models)
        if reason is not None:
            return self._refuse(ExcCodes.ILLEGAL_VALUE, reason)
        self.image = trial
        self.applied(models)
        return None

    def _refuse(self, code: ExcCodes, reason: str) -> ExcCodes:
        self.rejected.append(reason)
        return code
