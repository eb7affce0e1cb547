-- Session feedback: a patient gives it for their own sessions and reads what they gave; admins
-- read their clinic's (the report). Clinicians do not read ratings of themselves.

alter table app.session_feedback enable row level security;
alter table app.session_feedback force row level security;

create policy "patients rate their own sessions" on app.session_feedback
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()));

create policy "patients read the feedback they gave" on app.session_feedback
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "admins read their clinic's feedback" on app.session_feedback
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');
