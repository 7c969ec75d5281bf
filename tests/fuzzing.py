"""Fuzzing an app from its own OpenAPI description (schemathesis): the hub's and the nodes'
tests share it."""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.content_type_conformance,
          checks.status_code_conformance]


def fuzz(app, headers: dict, examples: int = 25) -> list[str]:
    """Every operation of the app's OpenAPI description, called with generated requests."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen = []
    for found in schema.get_all_operations():
        operation = found.ok()
        seen.append(operation.label)

        @given(operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
    return seen
