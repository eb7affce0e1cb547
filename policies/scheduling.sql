-- Scheduling: services and sessions. A clinician sees their own sessions and holds in the
-- current clinic, an admin the whole clinic, a patient their own sessions (never holds).

alter table app.services enable row level security;
alter table app.services force row level security;

drop policy if exists "members read their clinic's services" on app.services;
create policy "members read their clinic's services" on app.services
  for select to app_user
  using (org_id = (select auth.org_id()));


alter table app.sessions enable row level security;
alter table app.sessions force row level security;

drop policy if exists "admins read their clinic's sessions" on app.sessions;
create policy "admins read their clinic's sessions" on app.sessions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

drop policy if exists "clinicians read their own sessions in the current clinic" on app.sessions;
create policy "clinicians read their own sessions in the current clinic" on app.sessions
  for select to app_user
  using (org_id = (select auth.org_id()) and clinician_id = (select auth.uid())
         and (select auth.app_role()) = 'therapist');

drop policy if exists "patients read their own booked sessions" on app.sessions;
create policy "patients read their own booked sessions" on app.sessions
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and status in ('scheduled', 'completed', 'cancelled'));

-- Stale holds of any clinic must be expirable by whoever needs the slot, and by the sweeper.
-- (An UPDATE's new row must pass the SELECT policy too, hence 'expired'.)
drop policy if exists "the hold expirer sees holds of every clinic" on app.sessions;
create policy "the hold expirer sees holds of every clinic" on app.sessions
  for select to wardline_auth, app_service
  using (status in ('held', 'expired'));

drop policy if exists "the hold expirer expires stale holds" on app.sessions;
create policy "the hold expirer expires stale holds" on app.sessions
  for update to wardline_auth, app_service
  using (status = 'held' and hold_expires_at <= now())
  with check (status = 'expired');
