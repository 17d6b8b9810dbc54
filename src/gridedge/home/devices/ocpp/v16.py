"""The CSMS ("Central System") side of OCPP 1.6J for one charge point, on the `ocpp` package.

Answers BootNotification, Heartbeat, StatusNotification, MeterValues, Authorize,
StartTransaction and StopTransaction (OCPP 1.6 §4), and sends SetChargingProfile /
ClearChargingProfile (§5.16, §5.5) for its `OcppAdapter`. gridedge is a home CSMS: every id tag
is accepted (there is no one else's car to keep out; the charger's own RFID list still applies).
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import ChargePoint, call, call_result, datatypes
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    RegistrationStatus,
)

from gridedge.home.devices.ocpp.adapter import ProfileRequest
from gridedge.home.devices.ocpp.convert import ocpp_time
from gridedge.home.devices.ocpp.routing import after, on
from gridedge.home.devices.ocpp.session import Session


class CentralSystem16(ChargePoint):  # type: ignore[misc]  # the ocpp package is untyped
    def __init__(self, session: Session, connection: Any, *, response_timeout: float = 30.0) -> None:
        super().__init__(session.charge_point_id, connection, response_timeout=response_timeout)
        self.session = session

    def _now(self) -> str:
        return ocpp_time(self.session.clock.now())

    # --- charge point -> CSMS --------------------------------------------------------------------

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        accepted = self.session.boot(self, charge_point_vendor, charge_point_model)
        return call_result.BootNotification(
            current_time=self._now(),
            interval=self.session.heartbeat_interval_s,
            status=RegistrationStatus.accepted if accepted else RegistrationStatus.rejected,
        )

    @after(Action.boot_notification)
    def after_boot_notification(self, **kwargs: Any) -> None:
        self.session.after_boot()

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self._now())

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_id: int, status: str, **kwargs: Any
    ) -> call_result.StatusNotification:
        adapter = self.session.adapter
        if adapter is not None and connector_id == adapter.config.connector_id:
            adapter.on_status(status)
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        adapter = self.session.adapter
        if adapter is not None and connector_id == adapter.config.connector_id:
            adapter.on_meter_values(meter_value)
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **kwargs: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, **kwargs: Any
    ) -> call_result.StartTransaction:
        transaction_id = self.session.new_transaction_id()
        adapter = self.session.adapter
        if adapter is not None and connector_id == adapter.config.connector_id:
            adapter.on_transaction(str(transaction_id))
        return call_result.StartTransaction(
            transaction_id=transaction_id,
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self, transaction_id: int, transaction_data: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> call_result.StopTransaction:
        adapter = self.session.adapter
        if adapter is not None and adapter.transaction_id == str(transaction_id):
            if transaction_data:
                adapter.on_meter_values(transaction_data)
            adapter.on_transaction(None)
        return call_result.StopTransaction(
            id_tag_info=datatypes.IdTagInfo(status=AuthorizationStatus.accepted)
        )

    # --- CSMS -> charge point (ProfileChannel) ---------------------------------------------------

    async def send_profile(self, request: ProfileRequest) -> str:
        """SetChargingProfile.req with one period, a current limit from validFrom on (§5.16)."""
        purpose = (
            ChargingProfilePurposeType.tx_profile
            if request.tx_profile
            else ChargingProfilePurposeType.tx_default_profile
        )
        since = ocpp_time(request.valid_from)
        profile = datatypes.ChargingProfile(
            charging_profile_id=request.profile_id,
            stack_level=request.stack_level,
            charging_profile_purpose=purpose,
            charging_profile_kind=ChargingProfileKindType.absolute,
            charging_schedule=datatypes.ChargingSchedule(
                charging_rate_unit=ChargingRateUnitType.amps,
                charging_schedule_period=[
                    datatypes.ChargingSchedulePeriod(
                        start_period=0, limit=request.limit_a, number_phases=request.phases
                    )
                ],
                start_schedule=since,
            ),
            transaction_id=None if request.transaction_id is None else int(request.transaction_id),
            valid_from=since,
        )
        answer = await self.call(
            call.SetChargingProfile(connector_id=request.connector_id, cs_charging_profiles=profile),
            suppress=False,
        )
        return str(answer.status)

    async def send_clear(self, connector_id: int, profile_id: int) -> str:
        answer = await self.call(
            call.ClearChargingProfile(id=profile_id, connector_id=connector_id), suppress=False
        )
        return str(answer.status)
