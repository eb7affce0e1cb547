-- Documents (issue 20). A patient reads and uploads their own, and reads the care team's only
-- once shared with them; the care team (clinicians with an active care-team row,
-- app.my_patients(), as for messages) and the clinic's admins read every document of the
-- patient and upload and share for them.

alter table app.documents enable row level security;
alter table app.documents force row level security;

create policy "patients read their own uploads and what is shared with them" on app.documents
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (uploader = 'patient' or shared_with_patient));

create policy "patients upload their own documents" on app.documents
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and uploader = 'patient'
              and uploaded_by = (select auth.patient_id()) and not shared_with_patient);

create policy "patients complete their own uploads" on app.documents
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()) and uploader = 'patient')
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and uploader = 'patient' and not shared_with_patient);

create policy "admins read their clinic's documents" on app.documents
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "care-team clinicians read their patients' documents" on app.documents
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'therapist'
         and patient_id in (select app.my_patients()));

create policy "the care team and admins upload as themselves" on app.documents
  for insert to app_user
  with check (org_id = (select auth.org_id()) and uploader = 'staff'
              and uploaded_by = (select auth.uid())
              and ((select auth.app_role()) = 'admin'
                   or ((select auth.app_role()) = 'therapist'
                       and patient_id in (select app.my_patients()))));

create policy "the care team and admins complete and share staff documents" on app.documents
  for update to app_user
  using (org_id = (select auth.org_id()) and uploader = 'staff'
         and ((select auth.app_role()) = 'admin'
              or ((select auth.app_role()) = 'therapist'
                  and patient_id in (select app.my_patients()))))
  with check (org_id = (select auth.org_id()) and uploader = 'staff');
