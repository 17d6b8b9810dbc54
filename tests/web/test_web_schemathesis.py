"""Schemathesis against the web app's own OpenAPI schema, served live by uvicorn over the recording
control: every operation (but the endless event stream) gets schema-valid and schema-violating
requests (hypothesis, fixed seed, no database), with a grid operator's bearer token.

Checks on every response: no 5xx; the status code, content type, headers and body are ones the
schema documents; and a request that violates the schema is refused (negative_data_rejection).
`GET /api/events` is left out: its answer never ends (test_web_events.py covers it)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_support import FakeControl, live_server, make_users

from gridedge.web.app import create_app

EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_the_web_api_conforms_to_its_own_openapi_schema() -> None:
    users = make_users()
    token = users.issue_token("otto", "fuzz").token
    auth = {"Authorization": f"Bearer {token}"}
    with live_server(create_app(FakeControl(), users)) as (url, _server):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations()]
        operations = [op for op in operations if op.path != "/api/events"]
        assert len(operations) == 16
        calls: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        skipped: list[str] = []

        def fuzz(op: Any, mode: GenerationMode) -> None:
            checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

            @seed(20261206)
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=op.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                calls[mode.value] += 1
                response = case.call(base_url=url, headers=auth)
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=checks, headers=auth)
                except BaseException as exc:  # a FailureGroup; collect them all, fail at the end
                    first = str(exc).strip().splitlines()
                    failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {' / '.join(first[:14])}")

            try:
                one()
            except Unsatisfiable:  # nothing to get wrong in GET /api/status, /api/grid, ...
                assert mode is GenerationMode.NEGATIVE, op.label
                skipped.append(op.label)

        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(op, mode)
    total = sum(calls.values())
    print(
        f"\nschemathesis: {total} calls ({dict(calls)}), statuses {dict(sorted(statuses.items()))};"
        f" no negative cases for {skipped}"
    )
    assert not failures, "\n".join(failures[:20])
    assert not any(s >= 500 for s in statuses)
    assert statuses[200] > 0 and statuses[404] > 0 and statuses[422] > 0
