-- How a CPT code is counted (issue 17, item 5). A confirmation used to record 15-minute units
-- by the 8-minute rule for every code, so a 50-minute session on 90837 became 3 units of
-- 90837. This table says, per code, how it is billed; app.cpt_coding (functions/30_booking.sql)
-- reads it, and nothing else decides.
--
-- per_15_minutes   timed codes: units of 15 minutes of the real duration, 8-minute rule (8–22
--                  minutes 1 unit, 23–37 2, …; under 8 none).
-- by_time_range    one unit of the code of its family whose [min_minutes, max_minutes]
--                  holds the real duration (psychotherapy: 90832 16–37, 90834 38–52, 90837
--                  53 or more). A session booked on one of them is billed as the one its
--                  minutes fit; below the family's lowest range it is 0 units of the
--                  service's own code (nothing billable).
-- per_session      untimed codes: one unit, whatever the duration.
--
-- A code not listed is recorded without units (Wardline does not guess how it counts).
-- Add-on codes (90785, 90833/90836/90838, 97130, …) are billed beside a primary code, not
-- booked as a service, and are not listed.
create table app.cpt_codes (
  code         text primary key check (code ~ '^[0-9]{4}[0-9A-Z]$'),
  billed       text not null check (billed in ('per_15_minutes', 'by_time_range', 'per_session')),
  -- Codes chosen among by time share a family.
  family       text check (length(family) between 1 and 50),
  min_minutes  integer check (min_minutes >= 1),
  max_minutes  integer,
  check ((billed = 'by_time_range')
         = (family is not null and min_minutes is not null)),
  check (max_minutes is null or (billed = 'by_time_range' and max_minutes >= min_minutes)),
  -- Within a family, at most one code fits any duration.
  constraint cpt_codes_ranges_disjoint exclude using gist (
    family with =, int4range(min_minutes, max_minutes, '[]') with &&)
    where (billed = 'by_time_range')
);

insert into app.cpt_codes (code, billed, family, min_minutes, max_minutes) values
  -- Psychotherapy with the patient (and/or family), by time.
  ('90832', 'by_time_range', 'psychotherapy', 16, 37),
  ('90834', 'by_time_range', 'psychotherapy', 38, 52),
  ('90837', 'by_time_range', 'psychotherapy', 53, null),
  -- Adaptive behavior (ABA) assessment and treatment, each 15 minutes.
  ('97151', 'per_15_minutes', null, null, null),
  ('97152', 'per_15_minutes', null, null, null),
  ('97153', 'per_15_minutes', null, null, null),
  ('97154', 'per_15_minutes', null, null, null),
  ('97155', 'per_15_minutes', null, null, null),
  ('97156', 'per_15_minutes', null, null, null),
  ('97157', 'per_15_minutes', null, null, null),
  ('97158', 'per_15_minutes', null, null, null),
  ('0362T', 'per_15_minutes', null, null, null),
  ('0373T', 'per_15_minutes', null, null, null),
  -- Physical and occupational therapy, each 15 minutes.
  ('97032', 'per_15_minutes', null, null, null),
  ('97033', 'per_15_minutes', null, null, null),
  ('97035', 'per_15_minutes', null, null, null),
  ('97110', 'per_15_minutes', null, null, null),
  ('97112', 'per_15_minutes', null, null, null),
  ('97116', 'per_15_minutes', null, null, null),
  ('97140', 'per_15_minutes', null, null, null),
  ('97530', 'per_15_minutes', null, null, null),
  ('97535', 'per_15_minutes', null, null, null),
  ('97542', 'per_15_minutes', null, null, null),
  ('97750', 'per_15_minutes', null, null, null),
  ('97760', 'per_15_minutes', null, null, null),
  ('97761', 'per_15_minutes', null, null, null),
  ('97763', 'per_15_minutes', null, null, null),
  -- Untimed: psychiatric diagnostic evaluations, group psychotherapy, speech treatment,
  -- PT/OT evaluations.
  ('90791', 'per_session', null, null, null),
  ('90792', 'per_session', null, null, null),
  ('90853', 'per_session', null, null, null),
  ('92507', 'per_session', null, null, null),
  ('97161', 'per_session', null, null, null),
  ('97162', 'per_session', null, null, null),
  ('97163', 'per_session', null, null, null),
  ('97165', 'per_session', null, null, null),
  ('97166', 'per_session', null, null, null),
  ('97167', 'per_session', null, null, null);

-- Reference data, the same for every clinic: read by confirmations (as the caller), written
-- only by migrations. Policy: policies/scheduling.sql.
grant select on app.cpt_codes to app_user;
