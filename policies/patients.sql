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

drop policy if exists "definer helpers read every patient" on app.patients;
create policy "definer helpers read every patient" on app.patients
  for select to wardline_auth
  using (true);
