-- Appointments from both sides (issue 18): attendance (completed / no-show), a patient's
-- confirmation, the clinic's late-cancellation window, reschedule requests, and a waitlist
-- whose offers are holds on freed time. A slot still changes hands only through the
-- exclusion constraints of migration 0005.

alter table app.sessions drop constraint sessions_status_check;
alter table app.sessions add constraint sessions_status_check
  check (status in ('held', 'scheduled', 'completed', 'no_show', 'cancelled', 'released',
                    'expired'));

-- confirmed_at: when the patient confirmed they will come (cleared when the time moves).
-- waitlist_entry_id: set on a hold that is a waitlist offer; the patient may see and claim it.
alter table app.sessions
  add column confirmed_at timestamptz,
  add column waitlist_entry_id uuid;

-- An offer waits for a patient, not for a front desk's click: it may last up to a day. Other
-- holds keep their 15 minutes.
alter table app.sessions drop constraint sessions_hold_at_most_15_minutes;
alter table app.sessions add constraint sessions_hold_at_most_15_minutes
  check (waitlist_entry_id is not null or hold_expires_at <= created_at + interval '15 minutes');
alter table app.sessions add constraint sessions_offer_at_most_a_day
  check (hold_expires_at <= created_at + interval '24 hours');

grant update (during, confirmed_at) on app.sessions to app_user;
-- Offers are inserted by app.offer_freed_time (SECURITY DEFINER, as wardline_auth).
grant insert (id, org_id, clinician_id, patient_id, status, during, hold_key, hold_group,
              hold_expires_at, occurrence, service_id, waitlist_entry_id, created_by)
  on app.sessions to wardline_auth;

-- Hours before a session's start after which a patient can no longer cancel it in the
-- portal (staff still can); how long a waitlist offer stays open.
alter table app.clinics
  add column late_cancel_hours integer not null default 24
    check (late_cancel_hours between 0 and 336),
  add column waitlist_offer_minutes integer not null default 120
    check (waitlist_offer_minutes between 5 and 1440);

-- A patient's request to move a session: one to five proposed start times (the session keeps
-- its length). Staff approve one (an atomic move) or decline with a reason. One pending
-- request per session. clinician_id is the session's, copied so policies compare columns.
create table app.reschedule_requests (
  id             uuid primary key default gen_random_uuid(),
  org_id         uuid not null references app.clinics (id) on delete cascade,
  session_id     uuid not null,
  patient_id     uuid not null,
  clinician_id   uuid not null,
  proposed       timestamptz[] not null check (cardinality(proposed) between 1 and 5),
  note           text check (length(note) between 1 and 500),
  status         text not null default 'pending'
                 check (status in ('pending', 'approved', 'declined', 'withdrawn')),
  chosen         timestamptz,
  decline_reason text check (length(decline_reason) between 1 and 500),
  decided_by     uuid,
  decided_at     timestamptz,
  created_at     timestamptz not null default now(),
  check ((status = 'approved') = (chosen is not null)),
  check ((status = 'declined') = (decline_reason is not null)),
  check ((status in ('approved', 'declined')) = (decided_at is not null)),
  foreign key (org_id, session_id) references app.sessions (org_id, id) on delete cascade,
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, clinician_id) references app.clinic_memberships (org_id, clinician_id)
);
create unique index reschedule_requests_one_pending_key on app.reschedule_requests (session_id)
  where status = 'pending';
create index reschedule_requests_org_status_idx
  on app.reschedule_requests (org_id, status, created_at, id);
create index reschedule_requests_clinician_idx
  on app.reschedule_requests (clinician_id, status, created_at, id);
create index reschedule_requests_patient_idx on app.reschedule_requests (patient_id);
grant select, insert (org_id, session_id, patient_id, clinician_id, proposed, note),
  update (status, chosen, decline_reason, decided_by, decided_at)
  on app.reschedule_requests to app_user;

-- A patient waiting for time with a clinician inside [earliest, latest). When time of that
-- clinician frees up inside the window, the oldest waiting entry gets an offer: a hold on
-- that time (app.sessions.waitlist_entry_id). An offer not claimed in time lapses ('passed')
-- and the time goes to the next entry.
create table app.waitlist_entries (
  id           uuid primary key default gen_random_uuid(),
  org_id       uuid not null references app.clinics (id) on delete cascade,
  patient_id   uuid not null,
  clinician_id uuid not null,
  earliest     timestamptz not null,
  latest       timestamptz not null,
  status       text not null default 'waiting'
               check (status in ('waiting', 'offered', 'booked', 'passed', 'left')),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  check (latest > earliest and latest <= earliest + interval '366 days'),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, clinician_id) references app.clinic_memberships (org_id, clinician_id)
);
alter table app.waitlist_entries add constraint waitlist_entries_org_id_id_key
  unique (org_id, id);
-- Who is next for a clinician's freed time: the waiting entries, oldest first.
create index waitlist_entries_next_idx on app.waitlist_entries (clinician_id, created_at, id)
  where status = 'waiting';
create index waitlist_entries_org_idx on app.waitlist_entries (org_id);
create index waitlist_entries_patient_idx on app.waitlist_entries (patient_id, created_at);
-- A patient waits once per clinician and window.
create unique index waitlist_entries_once_key
  on app.waitlist_entries (patient_id, clinician_id, earliest, latest)
  where status in ('waiting', 'offered');
alter table app.sessions add constraint sessions_waitlist_entry_fkey
  foreign key (org_id, waitlist_entry_id) references app.waitlist_entries (org_id, id);
-- An entry is offered time once: then it is booked, passed or left.
create unique index sessions_waitlist_entry_key on app.sessions (waitlist_entry_id)
  where waitlist_entry_id is not null;
-- Offers the sweep looks at: entries still marked offered.
create index waitlist_entries_offered_idx on app.waitlist_entries (updated_at)
  where status = 'offered';

grant select, insert (org_id, patient_id, clinician_id, earliest, latest),
  update (status, updated_at) on app.waitlist_entries to app_user;
grant select, update (status, updated_at) on app.waitlist_entries to wardline_auth;
