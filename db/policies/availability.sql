-- Availability: weekly hours, date overrides and time off. The clinic's staff read them; a
-- clinician changes their own, an admin anyone's of the clinic. Patients read none (offered
-- slots reach them through entry points, never these rows). Another clinic's rows are reached
-- only as busy time, through app.busy_time, which tells nothing of them.

alter table app.availability_hours enable row level security;
alter table app.availability_hours force row level security;

create policy "staff read availability hours of their clinic" on app.availability_hours
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "clinicians set their own hours, admins anyone's" on app.availability_hours
  for all to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.is_admin())
              or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist')))
  with check (org_id = (select auth.org_id())
              and ((select auth.is_admin())
                   or (clinician_id = (select auth.uid())
                       and (select auth.app_role()) = 'therapist')));

alter table app.availability_overrides enable row level security;
alter table app.availability_overrides force row level security;

create policy "staff read date overrides of their clinic" on app.availability_overrides
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "clinicians set their own date overrides, admins anyone's" on app.availability_overrides
  for all to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.is_admin())
              or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist')))
  with check (org_id = (select auth.org_id())
              and ((select auth.is_admin())
                   or (clinician_id = (select auth.uid())
                       and (select auth.app_role()) = 'therapist')));

alter table app.time_off enable row level security;
alter table app.time_off force row level security;

create policy "staff read time off of their clinic" on app.time_off
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "clinicians record their own time off, admins anyone's" on app.time_off
  for insert to app_user
  with check (org_id = (select auth.org_id()) and created_by = (select auth.uid())
              and ((select auth.is_admin())
                   or (clinician_id = (select auth.uid())
                       and (select auth.app_role()) = 'therapist')));

create policy "clinicians remove their own time off, admins anyone's" on app.time_off
  for delete to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.is_admin())
              or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist')));

-- The waitlist's offer maker (app.offer_freed_time, as wardline_auth) offers no time the
-- clinician has taken off, in the clinic it offers for.
create policy "the offer maker reads time off" on app.time_off
  for select to wardline_auth
  using (true);
