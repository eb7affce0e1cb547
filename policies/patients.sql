-- Patients: staff of the current clinic, or the patient themselves. Soft-deleted rows are gone.

alter table app.patients enable row level security;
alter table app.patients force row level security;

drop policy if exists "staff and the patient read live patients of the current clinic" on app.patients;
create policy "staff and the patient read live patients of the current clinic" on app.patients
  for select to app_user
  using (
    org_id = (select auth.org_id()) and deleted_at is null
    and ((select auth.is_staff()) or id = (select auth.patient_id()))
  );

drop policy if exists "staff add patients to their current clinic" on app.patients;
create policy "staff add patients to their current clinic" on app.patients
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_staff()));

drop policy if exists "staff change patients of their current clinic" on app.patients;
create policy "staff change patients of their current clinic" on app.patients
  for update to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()))
  with check (org_id = (select auth.org_id()) and (select auth.is_staff()));

drop policy if exists "definer helpers read every patient" on app.patients;
create policy "definer helpers read every patient" on app.patients
  for select to wardline_auth
  using (true);
