-- Scheduling: holds and booked sessions live in ONE table, so one pair of exclusion
-- constraints — per clinician person (across every clinic they work for) and per patient —
-- rejects every overlap among the rows that occupy time, concurrent or not.

create table app.services (
  id              uuid primary key default gen_random_uuid(),
  org_id          uuid not null references app.clinics (id) on delete cascade,
  name            text not null check (length(name) between 1 and 200),
  -- CPT billing code of a timed service (e.g. 90837 psychotherapy, 60 min).
  cpt_code        text not null check (cpt_code ~ '^[0-9]{4}[0-9A-Z]$'),
  active          boolean not null default true,
  created_at      timestamptz not null default now(),
  unique (org_id, id)
);
create index services_org_idx on app.services (org_id);

-- Composite keys below tie a session's clinician, patient and service to the session's own
-- clinic: a row can never pair one clinic with another clinic's patient.
alter table app.patients add constraint patients_org_id_id_key unique (org_id, id);

create table app.sessions (
  id              uuid primary key default gen_random_uuid(),
  org_id          uuid not null references app.clinics (id) on delete cascade,
  clinician_id    uuid not null,
  patient_id      uuid not null,
  status          text not null
                  check (status in ('held', 'scheduled', 'completed', 'cancelled', 'released', 'expired')),
  during          tstzrange not null
                  check (not isempty(during) and lower_inc(during) and not upper_inc(during)
                         and not lower_inf(during) and not upper_inf(during)
                         and upper(during) - lower(during) <= interval '12 hours'),
  -- Every hold of one request (all occurrences of a series) shares a hold key.
  hold_key        uuid,
  hold_expires_at timestamptz,
  occurrence      integer check (occurrence >= 1),
  service_id      uuid,
  cpt_code        text,
  cpt_units       integer check (cpt_units >= 0),
  cancel_reason   text check (length(cancel_reason) between 1 and 1000),
  created_by      uuid not null,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  -- A hold has a key and an expiry; rows that were holds keep theirs as history.
  check (status <> 'held' or (hold_key is not null and hold_expires_at is not null)),
  check ((status = 'cancelled') = (cancel_reason is not null)),
  foreign key (org_id, clinician_id) references app.clinic_memberships (org_id, clinician_id),
  foreign key (org_id, patient_id) references app.patients (org_id, id),
  foreign key (org_id, service_id) references app.services (org_id, id),
  constraint sessions_clinician_busy exclude using gist (clinician_id with =, during with &&)
    where (status in ('held', 'scheduled')),
  constraint sessions_patient_busy exclude using gist (patient_id with =, during with &&)
    where (status in ('held', 'scheduled'))
);
create index sessions_org_during_idx on app.sessions using gist (org_id, during);
create index sessions_org_clinician_idx on app.sessions (org_id, clinician_id);
create index sessions_patient_idx on app.sessions (patient_id);
create index sessions_hold_key_idx on app.sessions (hold_key) where hold_key is not null;
create index sessions_live_holds_idx on app.sessions (hold_expires_at) where status = 'held';

grant select on app.services, app.sessions to app_user;
grant select, update (status, updated_at) on app.sessions to wardline_auth;
grant select on app.sessions to app_service;
grant update (status, updated_at) on app.sessions to app_service;
