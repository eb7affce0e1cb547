"""The checks `cargo xtask fuzz-api` adds to schemathesis's own (loaded via SCHEMATHESIS_HOOKS):
every error Wardline answers is RFC 9457 problem+json, whatever the operation documents — but
the 401 of API Gateway's JWT authorizer on staff routes, which never reaches a function; and a
schema-valid request is refused only for the state or cross-field rules xtask/src/fuzz.rs lists
(`STATE_REFUSALS`, written to the file WARDLINE_FUZZ_STATE_REFUSALS names)."""

import json
import os
import re

import schemathesis

REQUIRED = ("type", "title", "status", "detail", "code")
GATEWAY_UNAUTHORIZED = {"message": "Unauthorized"}


@schemathesis.check
def problem_json(ctx, response, case):
    """Every 4xx and 5xx is application/problem+json with Wardline's members and its status."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    media_type = content_type.split(";")[0].strip()
    if response.status_code == 401 and media_type == "application/json":
        # The gateway's authorizer (openapi.yaml: StaffUnauthorized); not a function's answer.
        if response.json() != GATEWAY_UNAUTHORIZED:
            raise AssertionError(f"401 as application/json but not the authorizer's: {response.text}")
        return None
    if media_type != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answered as {content_type!r}, not application/problem+json"
        )
    body = response.json()
    missing = [name for name in REQUIRED if name not in body]
    if missing:
        raise AssertionError(f"problem+json without {', '.join(missing)}: {body}")
    if body["status"] != response.status_code:
        raise AssertionError(f"status member {body['status']} on a {response.status_code}")
    if body["type"] != f"urn:wardline:problem:{body['code']}":
        raise AssertionError(f"type {body['type']!r} does not name code {body['code']!r}")
    return None


def _state_refusals():
    path = os.environ.get("WARDLINE_FUZZ_STATE_REFUSALS")
    if not path:
        return {}
    with open(path, encoding="utf-8") as file:
        return {
            operation: {int(status): [re.compile(field) for field in fields] for status, fields in statuses.items()}
            for operation, statuses in json.load(file).items()
        }


STATE_REFUSALS = _state_refusals()


@schemathesis.check
def state_refusal(ctx, response, case):
    """A schema-valid request the configuration lets an operation refuse (its status added to
    positive_data_acceptance's) is refused only naming the fields listed for it."""
    listed = STATE_REFUSALS.get(case.operation.label, {}).get(response.status_code)
    if listed is None:
        return None
    meta = case.meta
    if meta is not None and not meta.generation.mode.is_positive:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    fields = [error.get("field", "") for error in body.get("errors") or [] if isinstance(error, dict)]
    if not fields:
        raise AssertionError(f"Refused with {response.status_code} naming no field: {response.text}")
    unlisted = [field for field in fields if not any(pattern.fullmatch(field) for pattern in listed)]
    if unlisted:
        raise AssertionError(
            f"A schema-valid request refused with {response.status_code} for {', '.join(unlisted)}, "
            f"not a refusal of state listed for {case.operation.label}: {response.text}"
        )
    return None
