"""The CSMS side of OCPP 2.0.1 for one charging station, on the `ocpp` package.

Answers BootNotification (B01), Heartbeat (G02), StatusNotification (G01), MeterValues (J01),
Authorize (C01) and TransactionEvent (E01-E07, with its meter values), and sends
SetChargingProfile (K01) / ClearChargingProfile (K10) for its `OcppAdapter`. Every id token is
accepted, as in the 1.6 side.
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import ChargePoint, call, call_result, datatypes
from ocpp.v201.enums import (
    Action,
    AuthorizationStatusEnumType,
    ChargingProfileKindEnumType,
    ChargingProfilePurposeEnumType,
    ChargingRateUnitEnumType,
    RegistrationStatusEnumType,
)

from gridedge.home.devices.ocpp.adapter import ProfileRequest
from gridedge.home.devices.ocpp.convert import ocpp_time
from gridedge.home.devices.ocpp.routing import after, on
from gridedge.home.devices.ocpp.session import Session


class CentralSystem201(ChargePoint):  # type: ignore[misc]  # the ocpp package is untyped
    def __init__(self, session: Session, connection: Any, *, response_timeout: float = 30.0) -> None:
        super().__init__(session.charge_point_id, connection, response_timeout=response_timeout)
        self.session = session

    def _now(self) -> str:
        return ocpp_time(self.session.clock.now())

    def _ours(self, evse_id: int | None) -> bool:
        adapter = self.session.adapter
        return adapter is not None and evse_id == adapter.config.connector_id

    # --- charging station -> CSMS ----------------------------------------------------------------

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> call_result.BootNotification:
        vendor = str(charging_station.get("vendor_name", ""))
        model = str(charging_station.get("model", ""))
        accepted = self.session.boot(self, vendor, model)
        return call_result.BootNotification(
            current_time=self._now(),
            interval=self.session.heartbeat_interval_s,
            status=RegistrationStatusEnumType.accepted if accepted else RegistrationStatusEnumType.rejected,
        )

    @after(Action.boot_notification)
    def after_boot_notification(self, **kwargs: Any) -> None:
        self.session.after_boot()

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self._now())

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_status: str, evse_id: int, **kwargs: Any
    ) -> call_result.StatusNotification:
        if self._ours(evse_id):
            assert self.session.adapter is not None
            self.session.adapter.on_status(connector_status)
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        if self._ours(evse_id):
            assert self.session.adapter is not None
            self.session.adapter.on_meter_values(meter_value)
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> call_result.Authorize:
        return call_result.Authorize(
            id_token_info=datatypes.IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)
        )

    @on(Action.transaction_event)
    def on_transaction_event(
        self,
        event_type: str,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> call_result.TransactionEvent:
        """E01-E07: Started / Updated / Ended. The EVSE is named only in the first message of a
        transaction (E01.FR.16), so later ones are matched on the transaction id."""
        adapter = self.session.adapter
        tx = str(transaction_info["transaction_id"])
        if adapter is not None and (
            (evse is not None and self._ours(evse.get("id"))) or adapter.transaction_id == tx
        ):
            if meter_value:
                adapter.on_meter_values(meter_value)
            state = transaction_info.get("charging_state")
            if event_type == "Ended":
                adapter.on_transaction(None, state)
            else:
                adapter.on_transaction(tx, state)
        info = None
        if id_token is not None:
            info = datatypes.IdTokenInfoType(status=AuthorizationStatusEnumType.accepted)
        return call_result.TransactionEvent(id_token_info=info)

    # --- CSMS -> charging station (ProfileChannel) -----------------------------------------------

    async def send_profile(self, request: ProfileRequest) -> str:
        """SetChargingProfileRequest with one schedule of one period in amperes (K01)."""
        purpose = (
            ChargingProfilePurposeEnumType.tx_profile
            if request.tx_profile
            else ChargingProfilePurposeEnumType.tx_default_profile
        )
        since = ocpp_time(request.valid_from)
        profile = datatypes.ChargingProfileType(
            id=request.profile_id,
            stack_level=request.stack_level,
            charging_profile_purpose=purpose,
            charging_profile_kind=ChargingProfileKindEnumType.absolute,
            charging_schedule=[
                datatypes.ChargingScheduleType(
                    id=request.profile_id,
                    charging_rate_unit=ChargingRateUnitEnumType.amps,
                    charging_schedule_period=[
                        datatypes.ChargingSchedulePeriodType(
                            start_period=0, limit=request.limit_a, number_phases=request.phases
                        )
                    ],
                    start_schedule=since,
                )
            ],
            valid_from=since,
            transaction_id=request.transaction_id,
        )
        answer = await self.call(
            call.SetChargingProfile(evse_id=request.connector_id, charging_profile=profile), suppress=False
        )
        return str(answer.status)

    async def send_clear(self, connector_id: int, profile_id: int) -> str:
        answer = await self.call(call.ClearChargingProfile(charging_profile_id=profile_id), suppress=False)
        return str(answer.status)
