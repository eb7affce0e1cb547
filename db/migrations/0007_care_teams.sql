-- Care teams: which clinicians treat which patient. Who sees a patient follows from it (see
-- policies/patients.sql): an admin the whole clinic, a clinician the patients whose care team
-- they are active in (or the whole clinic with allActivePatientsDashboard), a patient
-- themselves. Also: invites (single-use, expiring, stored hashed), the outbox that carries the
-- invite message, feature flags, and the api.* entry points of the assign function.

-- Who created a patient: lets the inviter put the new patient in their care in the same request.
alter table app.patients add column created_by uuid;
create index patients_org_name_idx on app.patients (org_id, last_name, first_name, id)
  where deleted_at is null;
grant insert (id, org_id, first_name, last_name, email, phone, date_of_birth, created_by)
  on app.patients to app_user;

create table app.care_team (
  org_id       uuid not null,
  patient_id   uuid not null,
  clinician_id uuid not null,
  -- suspended: paused by an admin; inactive: removed (kept as history, reactivated on reassign).
  status       text not null default 'active' check (status in ('active', 'suspended', 'inactive')),
  notes        text check (length(notes) between 1 and 1000),
  assigned_by  uuid not null,
  assigned_at  timestamptz not null default now(),
  updated_by   uuid not null,
  updated_at   timestamptz not null default now(),
  primary key (patient_id, clinician_id),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, clinician_id)
    references app.clinic_memberships (org_id, clinician_id) on delete cascade
);
comment on table app.care_team is 'A clinician''s relationship with a patient; active ones grant access.';
-- The policies' columns: "my patients" (org, clinician, active) and the admin's whole clinic.
create index care_team_active_clinician_idx on app.care_team (org_id, clinician_id, patient_id)
  where status = 'active';
create index care_team_org_idx on app.care_team (org_id);
grant select, insert (org_id, patient_id, clinician_id, status, notes, assigned_by, updated_by)
  on app.care_team to app_user;
grant update (status, notes, assigned_by, assigned_at, updated_by, updated_at)
  on app.care_team to app_user;
grant select on app.care_team to wardline_auth;

-- A flag is true or false, whoever writes it.
create or replace function app.flags_are_booleans(flags jsonb) returns boolean
language sql immutable
as $$ select coalesce(bool_and(jsonb_typeof(f.value) = 'boolean'), true) from jsonb_each(flags) f $$;
grant execute on function app.flags_are_booleans(jsonb) to app_user;
alter table app.clinics add constraint clinics_flags_are_booleans
  check (app.flags_are_booleans(feature_flags));

-- Single-use, expiring invites into the patient portal. Only the SHA-256 of the token is kept.
create table app.patient_invites (
  id          uuid primary key default gen_random_uuid(),
  org_id      uuid not null,
  patient_id  uuid not null,
  token_hash  bytea not null unique check (length(token_hash) = 32),
  expires_at  timestamptz not null,
  used_at     timestamptz,
  created_by  uuid not null,
  created_at  timestamptz not null default now(),
  check (expires_at > created_at),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index patient_invites_org_patient_idx on app.patient_invites (org_id, patient_id);
grant select (id, org_id, patient_id, expires_at, used_at, created_by, created_at),
  insert (id, org_id, patient_id, token_hash, expires_at, created_by)
  on app.patient_invites to app_user;

-- Messages waiting to be delivered (SMS, e-mail) by message-sender. Written in the transaction
-- of the change that causes them, so a message is queued exactly when the change commits.
create table app.outbox (
  id          uuid primary key default gen_random_uuid(),
  org_id      uuid not null references app.clinics (id) on delete cascade,
  kind        text not null check (kind ~ '^[a-z][a-z0-9_.]*$'),
  channel     text not null check (channel in ('email', 'sms')),
  recipient   text not null check (length(recipient) between 3 and 320),
  payload     jsonb not null check (jsonb_typeof(payload) = 'object'),
  status      text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
  attempts    integer not null default 0 check (attempts >= 0),
  created_by  uuid,
  created_at  timestamptz not null default now(),
  sent_at     timestamptz
);
create index outbox_org_idx on app.outbox (org_id);
create index outbox_pending_idx on app.outbox (created_at) where status = 'pending';
grant insert (id, org_id, kind, channel, recipient, payload, created_by) on app.outbox to app_user;
grant select, update (status, attempts, sent_at, payload) on app.outbox to app_service;
