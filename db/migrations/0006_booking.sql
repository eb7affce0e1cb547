-- Booking: holds with per-occurrence keys grouped per request, session notes sealed at rest,
-- idempotency records, and the api.* entry points of sessions-hold, confirm-booking, schedule
-- and hold-cleanup. Each entry point is one statement: begin the request, check, write, audit.

-- A request's holds share hold_group (the holdKey the client gets back); each occurrence also
-- has a hold_key of its own, so one occurrence can be confirmed or released alone.
alter table app.sessions add column hold_group uuid;
alter table app.sessions add constraint sessions_held_has_group
  check (status <> 'held' or hold_group is not null);
alter table app.sessions add constraint sessions_org_id_id_key unique (org_id, id);
-- The bounds the functions check, kept by the table too: a hold lasts at most 15 minutes
-- (hold_seconds ≤ 900) and a series has at most 200 occurrences.
alter table app.sessions add constraint sessions_hold_at_most_15_minutes
  check (hold_expires_at <= created_at + interval '15 minutes');
alter table app.sessions add constraint sessions_at_most_200_occurrences
  check (occurrence <= 200);
drop index app.sessions_hold_key_idx;
create unique index sessions_hold_key_key on app.sessions (hold_key) where hold_key is not null;
create index sessions_hold_group_idx on app.sessions (hold_group) where hold_group is not null;

grant insert (id, org_id, clinician_id, patient_id, status, during, hold_key, hold_group,
              hold_expires_at, occurrence, created_by)
  on app.sessions to app_user;
grant update (status, service_id, cpt_code, cpt_units, cancel_reason, updated_at)
  on app.sessions to app_user;

-- Notes are sealed by the function (AES-256-GCM) before they reach the database: the row holds
-- the key id, nonce and ciphertext, never the text.
create table app.session_notes (
  session_id  uuid primary key,
  org_id      uuid not null references app.clinics (id) on delete cascade,
  key_id      text not null check (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  nonce       bytea not null check (length(nonce) = 12),
  ciphertext  bytea not null check (length(ciphertext) between 16 and 32784),
  updated_by  uuid not null,
  updated_at  timestamptz not null default now(),
  foreign key (org_id, session_id) references app.sessions (org_id, id) on delete cascade
);
create index session_notes_org_idx on app.session_notes (org_id);
grant select, insert, update (key_id, nonce, ciphertext, updated_by, updated_at)
  on app.session_notes to app_user;

-- One row per Idempotency-Key, scoped to caller, clinic and route. Inserted first in the
-- request's transaction, so a concurrent request with the same key waits on it, then replays.
create table app.idempotency_keys (
  org_id       uuid not null references app.clinics (id) on delete cascade,
  caller_id    uuid not null,
  route        text not null,
  key          text not null check (length(key) between 1 and 255),
  request_hash bytea not null,
  response     jsonb,
  created_at   timestamptz not null default now(),
  primary key (org_id, caller_id, route, key)
);
create index idempotency_keys_created_idx on app.idempotency_keys (created_at);
grant select, insert, update (response) on app.idempotency_keys to app_user;
grant select, delete on app.idempotency_keys to app_service;
-- Row locks (FOR UPDATE SKIP LOCKED) need UPDATE; the policy lets app_service change nothing.
grant update (created_at) on app.idempotency_keys to app_service;
