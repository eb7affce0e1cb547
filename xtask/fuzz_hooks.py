"""The check `cargo xtask fuzz-api` adds to schemathesis's own (loaded via SCHEMATHESIS_HOOKS):
every error Wardline answers is RFC 9457 problem+json, whatever the operation documents — but
the 401 of API Gateway's JWT authorizer on staff routes, which never reaches a function."""

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
