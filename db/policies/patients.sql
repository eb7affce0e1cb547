-- Patients: who sees which patient (issue 4). An admin sees every live patient of the current
-- clinic; a clinician the live patients whose care team they are active in, or all of them
-- when the clinic has allActivePatientsDashboard (except those they are suspended from); a
-- patient only themselves. Suspended and inactive care-team rows give nothing. Archived
-- (soft-deleted) rows are gone for everyone; only the archiver below, a definer acting for
-- the clinic's admins, reaches them.

alter table app.patients enable row level security;
alter table app.patients force row level security;

create policy "admins read their clinic's live patients" on app.patients
  for select to app_user
  using (org_id = (select auth.org_id()) and deleted_at is null and (select auth.is_admin()));

create policy "clinicians read the live patients in their care" on app.patients
  for select to app_user
  using (
    org_id = (select auth.org_id()) and deleted_at is null
    and (select auth.app_role()) = 'therapist'
    and (((select app.flag_on('allActivePatientsDashboard'))
             and id not in (select app.my_patients('suspended')))
         or id in (select app.my_patients()))
  );

create policy "patients read themselves" on app.patients
  for select to app_user
  using (org_id = (select auth.org_id()) and deleted_at is null
         and id = (select auth.patient_id()));

-- Cross-clinic requests (auth.my_org_ids() is empty elsewhere): the patients whose invoices,
-- refills or orders a prescriber works on; a super admin's all-clinics request: the patients
-- of the items they read.
create policy "prescribers and all-clinics super admins read the patients of queue items"
  on app.patients
  for select to app_user
  using (
    (((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[]))
     or (select auth.all_clinics()))
    and deleted_at is null
    and (exists (select 1 from app.orders o where o.patient_id = patients.id)
         or exists (select 1 from app.refills r where r.patient_id = patients.id)
         or exists (select 1 from app.invoices i where i.patient_id = patients.id))
  );

create policy "staff add patients to their current clinic" on app.patients
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_staff())
              and created_by = (select auth.uid()) and deleted_at is null);

-- The directory's PATCH /patients/{id}: the clinic's admins change its live patients, as
-- themselves. Archiving is not an update here: the archived row would fail the policies above.
create policy "admins change their clinic's live patients" on app.patients
  for update to app_user
  using (org_id = (select auth.org_id()) and deleted_at is null and (select auth.is_admin()))
  with check (org_id = (select auth.org_id()) and deleted_at is null
              and (select auth.is_admin()) and updated_by = (select auth.uid()));

-- app.set_patient_archived (SECURITY DEFINER): archives and restores, for an admin of the
-- patient's clinic only (the claims are still the caller's).
create policy "the archiver archives and restores for the clinic's admins" on app.patients
  for update to wardline_auth
  using (org_id = (select auth.org_id()) and (select auth.is_admin()))
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and updated_by = (select auth.uid()));

create policy "definer helpers read every patient" on app.patients
  for select to wardline_auth
  using (true);
