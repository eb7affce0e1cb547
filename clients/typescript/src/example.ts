// A web or mobile client of Wardline in a few lines: the types come from openapi.yaml
// (`npm run generate`), so a route, parameter or answer that changes in the contract breaks
// this file's compilation (`cargo xtask test` checks it with `tsc --noEmit`).
//
// Against `cargo xtask local`: a staff token from
// `cargo xtask token --org maple --as dana@wardline.example`.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

/** RFC 9457 problem details: every error Wardline's functions answer. */
export type Problem = components["schemas"]["Problem"];

/** What the failed call answered: a `Problem`, or the API gateway's own 401 on staff routes. */
export function isProblem(body: unknown): body is Problem {
  return typeof body === "object" && body !== null && "code" in body && "status" in body;
}

/** Says what went wrong, switching on the problem's stable `code` where a client would. */
export function explain(body: Problem | components["schemas"]["GatewayUnauthorized"]): string {
  if (!isProblem(body)) {
    // `{"message": "Unauthorized"}`: the token was refused before any function ran.
    return `signed out: ${body.message}`;
  }
  switch (body.code) {
    case "slot_unavailable":
      return `taken: ${(body.conflicts ?? []).map((c) => c.startTime).join(", ")}`;
    case "invalid_input":
      return `fix ${(body.errors ?? []).map((e) => `${e.field} (${e.detail})`).join(", ")}`;
    default:
      return `${body.status} ${body.code}: ${body.detail}`;
  }
}

/** Dana's colleagues, a one-hour hold for Jordan, and the week's schedule. */
export async function demo(baseUrl: string, token: string): Promise<void> {
  const api = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token}` },
  });

  const colleagues = await api.GET("/v2/doctor/patients/tenant-doctors");
  if (colleagues.error) {
    throw new Error(explain(colleagues.error));
  }
  for (const doctor of colleagues.data) {
    console.log(`${doctor.lastName}, ${doctor.firstName}`);
  }

  const hold = await api.POST("/sessions-hold", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: {
      therapist_id: "d1000000-0000-4000-8000-000000000002",
      client_id: "e1000000-0000-4000-8000-000000000001",
      start_time: "2027-03-02T10:00",
      end_time: "2027-03-02T11:00",
    },
  });
  if (hold.error) {
    console.log(`not held: ${explain(hold.error)}`);
  } else {
    console.log(`held until ${hold.data.expiresAt}: ${hold.data.holdKey}`);
  }

  const week = await api.GET("/schedule", {
    params: { query: { from: "2027-03-01T00:00:00Z", to: "2027-03-08T00:00:00Z" } },
  });
  if (week.error) {
    throw new Error(explain(week.error));
  }
  console.log(`${week.data.sessions.length} sessions that week`);
}
