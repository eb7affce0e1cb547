-- Reminders and session notices (issue 18, part 5): each clinic's reminder offsets, and the
-- record of which reminder of which session was queued. The primary key decides: of two
-- reminder runs at once, only the one whose insert lands queues the message (the other's
-- insert waits for it, then does nothing).

-- Hours before a session its reminders go out (at most four, each within two weeks); empty:
-- no reminders.
alter table app.clinics
  add column reminder_hours integer[] not null default '{72,24}'
    check (cardinality(reminder_hours) <= 4 and array_position(reminder_hours, null) is null
           and 1 <= all (reminder_hours) and 336 >= all (reminder_hours));

-- The sender renders a notice's date and time in the clinic's zone.
grant select (time_zone) on app.clinics to app_service;

create table app.session_reminders (
  session_id uuid not null,
  org_id     uuid not null,
  -- The offset the reminder was for (one of the clinic's reminder_hours when it was queued).
  hours      integer not null check (hours between 1 and 336),
  queued_at  timestamptz not null default now(),
  primary key (session_id, hours),
  foreign key (org_id, session_id) references app.sessions (org_id, id) on delete cascade
);
comment on table app.session_reminders is 'Which reminder of which session was queued: each once.';
create index session_reminders_org_idx on app.session_reminders (org_id);
grant select on app.session_reminders to app_user;
-- The reminder job's definer (app.queue_due_reminders) records and reads them.
grant select, insert on app.session_reminders to wardline_auth;

-- The reminder job's walk: booked sessions by start.
create index sessions_scheduled_starts_idx on app.sessions (starts_at) where status = 'scheduled';

-- app.queue_session_notice (SECURITY DEFINER, as wardline_auth) reads the patient's
-- preferences and queues the notices, whoever the request's caller is.
grant select on app.patient_preferences to wardline_auth;
grant insert (org_id, kind, channel, recipient, payload, created_by) on app.outbox
  to wardline_auth;
