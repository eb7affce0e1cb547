-- Availability (issue 18, part 4): when a clinician works at a clinic, in the clinic's own time
-- zone. Weekly hours repeat every week; a date override replaces one local date's hours (or
-- closes it); time off removes any stretch of time. Local times stay local: 09:00–17:00 is
-- 09:00–17:00 on both sides of a DST change (functions/35_availability.sql reads them with
-- `at time zone` of the clinic's zone).

-- The clinic's booking rules for offered slots: time kept free around every session of the
-- clinician (in any clinic), how soon a slot may start, and the grid slots start on. An hour's
-- notice by default: a slot offered for the next few minutes cannot be reached in time.
alter table app.clinics
  add column buffer_minutes integer not null default 0 check (buffer_minutes between 0 and 240),
  add column min_notice_minutes integer not null default 60
    check (min_notice_minutes between 0 and 43200),
  add column slot_step_minutes integer not null default 15
    check (slot_step_minutes between 5 and 240);
grant update (buffer_minutes, min_notice_minutes, slot_step_minutes) on app.clinics to app_user;

-- A weekday's working ranges (ISO weekday: 1 Monday … 7 Sunday), several per day, never
-- overlapping for one clinician at one clinic. 24:00 ends a day.
create table app.availability_hours (
  org_id       uuid not null,
  clinician_id uuid not null,
  weekday      smallint not null check (weekday between 1 and 7),
  starts       time not null,
  ends         time not null,
  check (starts < ends),
  primary key (org_id, clinician_id, weekday, starts),
  foreign key (org_id, clinician_id)
    references app.clinic_memberships (org_id, clinician_id) on delete cascade,
  constraint availability_hours_no_overlap exclude using gist (
    org_id with =, clinician_id with =, weekday with =,
    tsrange(date '2000-01-01' + starts, date '2000-01-01' + ends) with &&)
);

-- One local date's own ranges, replacing its weekday's hours; a row without times closes the
-- date. A closed row's range is unbounded, so it excludes every other row of that date.
create table app.availability_overrides (
  org_id       uuid not null,
  clinician_id uuid not null,
  day          date not null,
  starts       time,
  ends         time,
  check ((starts is null) = (ends is null) and starts < ends),
  foreign key (org_id, clinician_id)
    references app.clinic_memberships (org_id, clinician_id) on delete cascade,
  constraint availability_overrides_no_overlap exclude using gist (
    org_id with =, clinician_id with =, day with =,
    tsrange(day + starts, day + ends) with &&)
);
create index availability_overrides_day_idx
  on app.availability_overrides (org_id, clinician_id, day);

-- Time off: instants, as plain columns an index can search under RLS (see 0011). The reason
-- is for the clinic's staff only.
create table app.time_off (
  id           uuid primary key default gen_random_uuid(),
  org_id       uuid not null,
  clinician_id uuid not null,
  starts_at    timestamptz not null,
  ends_at      timestamptz not null,
  reason       text check (length(reason) between 1 and 500),
  created_by   uuid not null,
  created_at   timestamptz not null default now(),
  check (starts_at < ends_at),
  foreign key (org_id, clinician_id)
    references app.clinic_memberships (org_id, clinician_id) on delete cascade
);
create index time_off_clinician_idx on app.time_off (org_id, clinician_id, starts_at);

grant select, insert, delete on app.availability_hours, app.availability_overrides to app_user;
grant select, insert (org_id, clinician_id, starts_at, ends_at, reason, created_by), delete
  on app.time_off to app_user;
