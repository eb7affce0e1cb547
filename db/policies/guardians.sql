-- Guardianships (issue 20): who acts for whom in the portal. The care team (clinicians with an
-- active care-team row of the dependent, app.my_patients(), as for messages and documents) and
-- the clinic's admins read, add and end a patient's guardians; a guardian's account reads the
-- relationships it holds. Whether a token may act for a patient is asked by auth.may_act_for
-- (as wardline_auth), before the caller can read anything.

alter table app.guardianships enable row level security;
alter table app.guardianships force row level security;

create policy "the care team and admins read a patient's guardians" on app.guardianships
  for select to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.app_role()) = 'admin'
              or ((select auth.app_role()) = 'therapist'
                  and dependent_id in (select app.my_patients()))));

create policy "the care team and admins add guardians as themselves" on app.guardianships
  for insert to app_user
  with check (org_id = (select auth.org_id()) and created_by = (select auth.uid())
              and ended_at is null
              and ((select auth.app_role()) = 'admin'
                   or ((select auth.app_role()) = 'therapist'
                       and dependent_id in (select app.my_patients()))));

create policy "the care team and admins end guardianships as themselves" on app.guardianships
  for update to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.app_role()) = 'admin'
              or ((select auth.app_role()) = 'therapist'
                  and dependent_id in (select app.my_patients()))))
  with check (org_id = (select auth.org_id()) and ended_by = (select auth.uid())
              and ended_at is not null);

create policy "guardians read the relationships they hold" on app.guardianships
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_patient())
         and guardian_id = (select auth.uid()));

create policy "definer helpers read every guardianship" on app.guardianships
  for select to wardline_auth
  using (true);
