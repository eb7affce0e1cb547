-- A session's bounds as plain columns. `during && x` (range_overlaps) is not leakproof, so
-- under RLS PostgreSQL may not search an index with it and reads every row the policies admit:
-- the cost of a booking or a schedule grew with the calendar. Comparisons of timestamptz are
-- leakproof. Sessions last at most 12 hours (sessions' own check), so whatever overlaps
-- [a, b) starts in (a - 12 hours, b): a bounded range of these indexes.
alter table app.sessions
  add column starts_at timestamptz generated always as (lower(during)) stored,
  add column ends_at timestamptz generated always as (upper(during)) stored;
create index sessions_clinician_starts_idx on app.sessions (clinician_id, starts_at)
  where status in ('held', 'scheduled');
create index sessions_patient_starts_idx on app.sessions (patient_id, starts_at)
  where status in ('held', 'scheduled');
create index sessions_org_starts_idx on app.sessions (org_id, starts_at);
