-- Secure messaging (issue 19). A thread is between a patient and their care team: the patient,
-- the clinicians with an active care-team row (app.my_patients(), the same test as the patients
-- policy, without the all-patients flag: a clinician outside the team reads no thread), and the
-- clinic's admins (not super admins: platform staff do not read clinical messages). Messages
-- carry their thread's patient, so every policy compares plain columns.

alter table app.threads enable row level security;
alter table app.threads force row level security;

create policy "patients read their own threads" on app.threads
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients start threads with their care team" on app.threads
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and created_by = (select auth.uid()));

create policy "patients mark their own threads read and written" on app.threads
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()))
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "admins read their clinic's threads" on app.threads
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "care-team clinicians read their patients' threads" on app.threads
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'therapist'
         and patient_id in (select app.my_patients()));

create policy "the care team and admins start threads" on app.threads
  for insert to app_user
  with check (org_id = (select auth.org_id()) and created_by = (select auth.uid())
              and ((select auth.app_role()) = 'admin'
                   or ((select auth.app_role()) = 'therapist'
                       and patient_id in (select app.my_patients()))));

create policy "the care team and admins keep the threads they read" on app.threads
  for update to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.app_role()) = 'admin'
              or ((select auth.app_role()) = 'therapist'
                  and patient_id in (select app.my_patients()))))
  with check (org_id = (select auth.org_id()));

alter table app.messages enable row level security;
alter table app.messages force row level security;

create policy "patients read the messages of their own threads" on app.messages
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients write in their own threads as themselves" on app.messages
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and sender = 'patient'
              and sender_id = (select auth.patient_id()));

create policy "admins read their clinic's messages" on app.messages
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "care-team clinicians read their patients' messages" on app.messages
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'therapist'
         and patient_id in (select app.my_patients()));

create policy "the care team and admins write as themselves" on app.messages
  for insert to app_user
  with check (org_id = (select auth.org_id()) and sender = 'staff'
              and sender_id = (select auth.uid())
              and ((select auth.app_role()) = 'admin'
                   or ((select auth.app_role()) = 'therapist'
                       and patient_id in (select app.my_patients()))));

alter table app.thread_reads enable row level security;
alter table app.thread_reads force row level security;

create policy "staff keep their own read markers" on app.thread_reads
  for all to app_user
  using (org_id = (select auth.org_id()) and reader_id = (select auth.uid())
         and (select auth.is_staff()))
  with check (org_id = (select auth.org_id()) and reader_id = (select auth.uid())
              and (select auth.is_staff()));
