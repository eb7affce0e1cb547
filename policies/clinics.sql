-- Clinics, clinicians, memberships. Re-appliable: every policy is dropped and created again.

alter table app.clinics enable row level security;
alter table app.clinics force row level security;

drop policy if exists "members read their current clinic" on app.clinics;
create policy "members read their current clinic" on app.clinics
  for select to app_user
  using (id = (select auth.org_id()));

drop policy if exists "prescribers read the clinics they work for" on app.clinics;
create policy "prescribers read the clinics they work for" on app.clinics
  for select to app_user
  using ((select auth.cross_clinic()) and id = any ((select auth.my_org_ids())::uuid[]));

drop policy if exists "super admins read every clinic" on app.clinics;
create policy "super admins read every clinic" on app.clinics
  for select to app_user
  using ((select auth.app_role()) = 'super_admin');

drop policy if exists "admins update their clinic" on app.clinics;
create policy "admins update their clinic" on app.clinics
  for update to app_user
  using (id = (select auth.org_id()) and (select auth.is_admin()))
  with check (id = (select auth.org_id()) and (select auth.is_admin()));

drop policy if exists "definer helpers read every clinic" on app.clinics;
create policy "definer helpers read every clinic" on app.clinics
  for select to wardline_auth
  using (true);


alter table app.clinicians enable row level security;
alter table app.clinicians force row level security;

drop policy if exists "staff read themselves and colleagues of their current clinic" on app.clinicians;
create policy "staff read themselves and colleagues of their current clinic" on app.clinicians
  for select to app_user
  using (
    (select auth.is_staff()) and (
      id = (select auth.uid())
      or exists (
        select 1 from app.clinic_memberships m
        where m.clinician_id = clinicians.id and m.org_id = (select auth.org_id())))
  );

drop policy if exists "super admins read every clinician" on app.clinicians;
create policy "super admins read every clinician" on app.clinicians
  for select to app_user
  using ((select auth.app_role()) = 'super_admin');

drop policy if exists "definer helpers read every clinician" on app.clinicians;
create policy "definer helpers read every clinician" on app.clinicians
  for select to wardline_auth
  using (true);


alter table app.clinic_memberships enable row level security;
alter table app.clinic_memberships force row level security;

drop policy if exists "staff read memberships of their current clinic" on app.clinic_memberships;
create policy "staff read memberships of their current clinic" on app.clinic_memberships
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

drop policy if exists "definer helpers read every membership" on app.clinic_memberships;
create policy "definer helpers read every membership" on app.clinic_memberships
  for select to wardline_auth
  using (true);
