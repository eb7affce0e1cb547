-- Care teams. Admins read and change every row of the current clinic. A clinician reads the
-- care teams of the patients they can see (policies/patients.sql's rule), adds members to
-- those care teams, and removes only themselves; suspension is an admin's alone. Only active,
-- approved clinicians of the clinic become active members. Rows are never deleted: removal is status
-- 'inactive'. These rules hold even if a handler forgets them.

alter table app.care_team enable row level security;
alter table app.care_team force row level security;

create policy "admins read their clinic's care teams" on app.care_team
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "clinicians read the care teams of patients in their care" on app.care_team
  for select to app_user
  using (
    org_id = (select auth.org_id()) and (select auth.app_role()) = 'therapist'
    and (clinician_id = (select auth.uid())
         or ((select app.flag_on('allActivePatientsDashboard'))
             and patient_id not in (select app.my_patients('suspended')))
         or patient_id in (select app.my_patients()))
  );

create policy "admins and clinicians of the patient add care-team members" on app.care_team
  for insert to app_user
  with check (
    org_id = (select auth.org_id()) and status = 'active'
    and assigned_by = (select auth.uid()) and updated_by = (select auth.uid())
    and app.is_active_clinician(clinician_id)
    and ((select auth.is_admin())
         or ((select auth.app_role()) = 'therapist'
             and (((select app.flag_on('allActivePatientsDashboard'))
                      and patient_id not in (select app.my_patients('suspended')))
                  or patient_id in (select app.my_patients())
                  or app.created_in_this_request(patient_id))))
  );

create policy "admins change care-team members, clinicians leave or re-add colleagues" on app.care_team
  for update to app_user
  using (
    org_id = (select auth.org_id())
    and ((select auth.is_admin())
         or ((select auth.app_role()) = 'therapist' and status <> 'suspended'
             and (clinician_id = (select auth.uid())
                  or ((select app.flag_on('allActivePatientsDashboard'))
                      and patient_id not in (select app.my_patients('suspended')))
                  or patient_id in (select app.my_patients()))))
  )
  with check (
    org_id = (select auth.org_id()) and updated_by = (select auth.uid())
    and (status <> 'active' or app.is_active_clinician(clinician_id))
    and ((select auth.is_admin())
         or ((select auth.app_role()) = 'therapist'
             and ((clinician_id = (select auth.uid()) and status = 'inactive')
                  or (status = 'active'
                      and (((select app.flag_on('allActivePatientsDashboard'))
                               and patient_id not in (select app.my_patients('suspended')))
                           or patient_id in (select app.my_patients()))))))
  );

create policy "definer helpers read every care team" on app.care_team
  for select to wardline_auth
  using (true);

-- Invites: staff of the clinic create them; admins and their creator read them (never the
-- token's hash, which is not granted).
alter table app.patient_invites enable row level security;
alter table app.patient_invites force row level security;

create policy "staff invite patients to their current clinic" on app.patient_invites
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_staff())
              and created_by = (select auth.uid()));

create policy "admins and the inviter read invites" on app.patient_invites
  for select to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.is_admin()) or created_by = (select auth.uid())));

-- Outbox: requests queue messages for their own clinic and cannot read them back; only the
-- sender (app_service) reads and updates them.
alter table app.outbox enable row level security;
alter table app.outbox force row level security;

create policy "staff queue messages of their current clinic" on app.outbox
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_staff())
              and created_by = (select auth.uid()) and status = 'pending');

create policy "the sender reads every message" on app.outbox
  for select to app_service
  using (true);

create policy "the sender records deliveries" on app.outbox
  for update to app_service
  using (true) with check (true);
