-- Clinics, clinicians, memberships. Re-appliable: every policy is dropped and created again.

alter table app.clinics enable row level security;
alter table app.clinics force row level security;

create policy "members read their current clinic" on app.clinics
  for select to app_user
  using (id = (select auth.org_id()));

create policy "prescribers read the clinics they work for" on app.clinics
  for select to app_user
  using ((select auth.cross_clinic()) and id = any ((select auth.my_org_ids())::uuid[]));

create policy "super admins read every clinic" on app.clinics
  for select to app_user
  using ((select auth.is_super_admin()));

create policy "admins update their clinic" on app.clinics
  for update to app_user
  using (id = (select auth.org_id()) and (select auth.is_admin()))
  with check (id = (select auth.org_id()) and (select auth.is_admin()));

create policy "definer helpers read every clinic" on app.clinics
  for select to wardline_auth
  using (true);

alter table app.clinicians enable row level security;
alter table app.clinicians force row level security;

create policy "staff read themselves and colleagues of their current clinic" on app.clinicians
  for select to app_user
  using (
    (select auth.is_staff()) and (
      id = (select auth.uid())
      or exists (
        select 1 from app.clinic_memberships m
        where m.clinician_id = clinicians.id and m.org_id = (select auth.org_id())))
  );

-- What a patient's appointments show of their clinician: the clinicians of their own booked
-- sessions (as the sessions policy shows those to them).
create policy "patients read the clinicians of their own sessions" on app.clinicians
  for select to app_user
  using (
    (select auth.is_patient()) and exists (
      select 1 from app.sessions s
      where s.clinician_id = clinicians.id and s.patient_id = (select auth.patient_id()))
  );

-- Who wrote to a patient: the clinicians of their own threads' messages.
create policy "patients read the clinicians who wrote to them" on app.clinicians
  for select to app_user
  using (
    (select auth.is_patient()) and exists (
      select 1 from app.messages m
      where m.sender_id = clinicians.id and m.sender = 'staff'
        and m.patient_id = (select auth.patient_id()))
  );

-- The directory (POST /therapists): an admin creates a person as themself, never a super admin,
-- an inactive one or one with a home clinic; the membership that makes them staff of the
-- admin's clinic is the next policy's. A person nobody has a membership with is invisible.
create policy "admins create clinicians as themselves" on app.clinicians
  for insert to app_user
  with check ((select auth.is_admin()) and created_by = (select auth.uid())
              and not is_super_admin and active and home_org_id is null);

create policy "super admins read every clinician" on app.clinicians
  for select to app_user
  using ((select auth.is_super_admin()));

-- A user of no clinic yet, in the request that then makes them a member (the columns granted
-- leave out super admin and activity: a new user is an active one, never a super admin).
create policy "admins create users" on app.clinicians
  for insert to app_user
  with check ((select auth.is_admin()));

create policy "definer helpers read every clinician" on app.clinicians
  for select to wardline_auth
  using (true);

alter table app.clinic_memberships enable row level security;
alter table app.clinic_memberships force row level security;

create policy "staff read memberships of their current clinic" on app.clinic_memberships
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

-- Admins add members to their current clinic (a clinician they create, pending; an existing
-- user by e-mail, or a provider, approved: issue 21's 004 flows), as themselves.
create policy "admins add members to their current clinic as themselves" on app.clinic_memberships
  for insert to app_user
  with check (
    org_id = (select auth.org_id()) and (select auth.is_admin())
    and created_by = (select auth.uid()) and updated_by = (select auth.uid())
  );

-- Approve, deactivate, reactivate: the clinic's admins, for every membership of their current
-- clinic but their own (an admin never locks themself out, nor approves themself).
create policy "admins change the memberships of their clinic but their own" on app.clinic_memberships
  for update to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin())
         and clinician_id <> (select auth.uid()))
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and clinician_id <> (select auth.uid()) and updated_by = (select auth.uid()));

create policy "definer helpers read every membership" on app.clinic_memberships
  for select to wardline_auth
  using (true);
