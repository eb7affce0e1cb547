-- Intake (issue 20, part 1). Forms are the clinic's: its staff read them, its admins create,
-- version and archive them. A patient reads only the form versions their own tasks pin. Tasks
-- and submissions are the patient's record, seen as documents and messages are: the patient
-- their own, the care team (clinicians with an active care-team row, app.my_patients()) and
-- the clinic's admins all of the patient's; the same people assign, review and cancel. A
-- patient changes a task only from open (or returned) to handed in, as themselves.

alter table app.forms enable row level security;
alter table app.forms force row level security;

create policy "staff read their clinic's forms" on app.forms
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "admins create their clinic's forms" on app.forms
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and created_by = (select auth.uid()));

create policy "admins archive their clinic's forms" on app.forms
  for update to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()))
  with check (org_id = (select auth.org_id()));

alter table app.form_versions enable row level security;
alter table app.form_versions force row level security;

create policy "staff read their clinic's form versions" on app.form_versions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "patients read the form versions their tasks pin" on app.form_versions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_patient())
         and id in (select t.form_version_id from app.patient_tasks t
                    where t.patient_id = (select auth.patient_id())));

create policy "admins publish form versions" on app.form_versions
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and created_by = (select auth.uid()));

alter table app.patient_tasks enable row level security;
alter table app.patient_tasks force row level security;

create policy "patients read their own tasks" on app.patient_tasks
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients hand in their own open tasks" on app.patient_tasks
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()) and status in ('open', 'returned'))
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and updated_by = (select auth.uid())
              and ((status = 'submitted' and kind in ('form', 'upload'))
                   or (status = 'completed' and kind = 'consent')));

create policy "admins read their clinic's tasks" on app.patient_tasks
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "care-team clinicians read their patients' tasks" on app.patient_tasks
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'therapist'
         and patient_id in (select app.my_patients()));

create policy "the care team and admins assign tasks" on app.patient_tasks
  for insert to app_user
  with check (org_id = (select auth.org_id()) and status = 'open'
              and assigned_by = (select auth.uid()) and updated_by = (select auth.uid())
              and ((select auth.app_role()) = 'admin'
                   or ((select auth.app_role()) = 'therapist'
                       and patient_id in (select app.my_patients()))));

create policy "the care team and admins review and cancel tasks" on app.patient_tasks
  for update to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.app_role()) = 'admin'
              or ((select auth.app_role()) = 'therapist'
                  and patient_id in (select app.my_patients()))))
  with check (org_id = (select auth.org_id()) and updated_by = (select auth.uid())
              and status in ('accepted', 'returned', 'cancelled'));

alter table app.task_submissions enable row level security;
alter table app.task_submissions force row level security;

create policy "patients read their own submissions" on app.task_submissions
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients submit for their own tasks" on app.task_submissions
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and review is null);

create policy "admins read their clinic's submissions" on app.task_submissions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "care-team clinicians read their patients' submissions" on app.task_submissions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'therapist'
         and patient_id in (select app.my_patients()));

create policy "the care team and admins review submissions" on app.task_submissions
  for update to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.app_role()) = 'admin'
              or ((select auth.app_role()) = 'therapist'
                  and patient_id in (select app.my_patients()))))
  with check (org_id = (select auth.org_id()) and reviewed_by = (select auth.uid()));
