-- The patient portal (issue 5): practice resolution, one-time sign-in codes, patient sessions
-- (rotating refresh tokens), consent history, preferences, SMS opt-out from inbound texts, and
-- the outbox states message-sender needs. Pre-login calls run as app_anon: once the clinic is
-- resolved from the Host header (or an invite), auth.enter_clinic puts it in the request's
-- claims, and from then on every policy scopes the request to exactly that clinic.
-- Secrets never reach SQL in the clear: codes and identifiers arrive as HMAC-SHA256 under a
-- server-side key, refresh tokens as SHA-256, the code for the message sealed.

-- The clinic's SMS number (the `To` of inbound texts, the `From` of outgoing ones) and its
-- reply to HELP.
alter table app.clinics
  add column sms_number text unique check (sms_number ~ '^\+[1-9][0-9]{6,14}$'),
  add column sms_help_reply text check (length(sms_help_reply) between 1 and 320);
create index patients_org_phone_idx on app.patients (org_id, phone)
  where deleted_at is null and phone is not null;
grant select on app.patient_invites to wardline_auth;

-- The portal may read the public face of the clinic it serves.
grant select (id, slug, name, portal_domain, sms_number, sms_help_reply) on app.clinics
  to app_anon;
grant select (id, slug, name, portal_domain, sms_number) on app.clinics to app_service;

-- Sign-in state per clinic and identifier (HMAC of channel and address, so unknown addresses
-- leave no PII): the one live code, its tries, recent sends, consecutive failures and the
-- lock-out. Unknown identifiers get the same row and bookkeeping as known ones, so neither
-- the answer nor the limits tell them apart.
create table app.portal_sign_in (
  org_id          uuid not null references app.clinics (id) on delete cascade,
  identifier_hash bytea not null check (length(identifier_hash) = 32),
  channel         text not null check (channel in ('email', 'sms')),
  -- Whom the live code was issued for; NULL when nobody has this identifier.
  patient_id      uuid,
  code_hash       bytea check (length(code_hash) = 32),
  code_expires_at timestamptz,
  code_tries      integer not null default 0 check (code_tries >= 0),
  -- Sends in the last hour (older ones are dropped on every send).
  sends           timestamptz[] not null default '{}',
  failures        integer not null default 0 check (failures >= 0),
  locked_until    timestamptz,
  updated_at      timestamptz not null default now(),
  primary key (org_id, identifier_hash),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
comment on table app.portal_sign_in is 'One-time-code state per clinic and identifier; no code in the clear.';
grant select, insert, update on app.portal_sign_in to app_anon;

-- Requests per clinic, source address and action in a fixed one-hour window.
create table app.portal_rate (
  org_id       uuid not null references app.clinics (id) on delete cascade,
  source_ip    text not null check (length(source_ip) between 1 and 64),
  action       text not null check (action in ('otp', 'verify', 'refresh')),
  window_start timestamptz not null,
  requests     integer not null check (requests > 0),
  primary key (org_id, source_ip, action)
);
grant select, insert, update on app.portal_rate to app_anon;

-- Refresh tokens: opaque, stored as SHA-256, 30 days, rotated on every use. A family is one
-- sign-in; presenting a rotated token again revokes the whole family.
create table app.portal_refresh_tokens (
  id          uuid primary key default gen_random_uuid(),
  org_id      uuid not null,
  patient_id  uuid not null,
  family_id   uuid not null,
  token_hash  bytea not null unique check (length(token_hash) = 32),
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  rotated_at  timestamptz,
  revoked_at  timestamptz,
  check (expires_at > created_at),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index portal_refresh_tokens_family_idx on app.portal_refresh_tokens (family_id);
create index portal_refresh_tokens_org_patient_idx on app.portal_refresh_tokens (org_id, patient_id);
grant select, insert (org_id, patient_id, family_id, token_hash, expires_at),
  update (rotated_at, revoked_at) on app.portal_refresh_tokens to app_anon;

-- Consent history: append-only, with when, from where and with what client.
create table app.portal_consents (
  id           bigint generated always as identity primary key,
  org_id       uuid not null,
  patient_id   uuid not null,
  consent_type text not null check (consent_type ~ '^[a-z][a-z0-9_]{0,49}$'),
  version      text not null check (length(version) between 1 and 50),
  granted      boolean not null,
  source_ip    text check (length(source_ip) <= 64),
  user_agent   text check (length(user_agent) <= 512),
  recorded_at  timestamptz not null default now(),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index portal_consents_patient_idx
  on app.portal_consents (org_id, patient_id, consent_type, id desc);
grant select, insert (org_id, patient_id, consent_type, version, granted, source_ip, user_agent)
  on app.portal_consents to app_user;

-- What a patient wants to hear from the clinic by. No row: everything on.
create table app.patient_preferences (
  patient_id uuid primary key,
  org_id     uuid not null,
  sms        boolean not null,
  email      boolean not null,
  portal     boolean not null,
  updated_at timestamptz not null default now(),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index patient_preferences_org_idx on app.patient_preferences (org_id);
grant select, insert (patient_id, org_id, sms, email, portal),
  update (sms, email, portal, updated_at) on app.patient_preferences to app_user;

-- Numbers that texted STOP to a clinic's number (and START again). No SMS goes to a number
-- opted out here, from any sender.
create table app.sms_opt_outs (
  org_id      uuid not null references app.clinics (id) on delete cascade,
  phone       text not null check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  opted_out   boolean not null,
  changed_at  timestamptz not null default now(),
  message_sid text,
  primary key (org_id, phone)
);
grant select, insert, update on app.sms_opt_outs to app_anon;
grant select on app.sms_opt_outs to app_user, app_service;

-- Inbound texts already handled, by Twilio's MessageSid: a retried webhook changes nothing.
create table app.inbound_sms (
  message_sid text primary key check (message_sid ~ '^[A-Za-z0-9]{10,64}$'),
  org_id      uuid not null references app.clinics (id) on delete cascade,
  keyword     text check (keyword in ('stop', 'start', 'help')),
  received_at timestamptz not null default now()
);
create index inbound_sms_org_idx on app.inbound_sms (org_id);
grant select, insert on app.inbound_sms to app_anon;

-- The outbox as message-sender works it: a lease while a batch is being delivered, retries
-- with backoff, the last error. Pre-login requests queue sign-in codes.
alter table app.outbox
  add column next_attempt_at timestamptz not null default now(),
  add column leased_until timestamptz,
  add column last_error text check (length(last_error) <= 500);
drop index app.outbox_pending_idx;
create index outbox_due_idx on app.outbox (next_attempt_at) where status = 'pending';
grant insert (id, org_id, kind, channel, recipient, payload) on app.outbox to app_anon;
grant update (next_attempt_at, leased_until, last_error) on app.outbox to app_service;
grant update (used_at) on app.patient_invites to app_anon;
grant select (id, org_id, patient_id, token_hash, used_at) on app.patient_invites to app_anon;
