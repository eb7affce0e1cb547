-- Reschedule requests and the waitlist (issue 18). A patient reads and writes only their own;
-- an admin reads and decides the clinic's, a clinician those about their own sessions and
-- time. Offers are made and passed on by SECURITY DEFINER helpers (as wardline_auth).

alter table app.reschedule_requests enable row level security;
alter table app.reschedule_requests force row level security;

create policy "patients read their own reschedule requests" on app.reschedule_requests
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients ask to move their own sessions" on app.reschedule_requests
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and status = 'pending');

-- A newer request replaces the pending one.
create policy "patients withdraw their own pending requests" on app.reschedule_requests
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()) and status = 'pending')
  with check (status = 'withdrawn');

create policy "admins read their clinic's reschedule requests" on app.reschedule_requests
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "clinicians read requests about their own sessions" on app.reschedule_requests
  for select to app_user
  using (org_id = (select auth.org_id()) and clinician_id = (select auth.uid())
         and (select auth.app_role()) = 'therapist');

-- (USING admits decided rows too: a FOR UPDATE must see a request to say it is decided.)
create policy "staff decide the requests they read" on app.reschedule_requests
  for update to app_user
  using (org_id = (select auth.org_id())
         and ((select auth.is_admin())
              or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist')))
  with check (org_id = (select auth.org_id())
              and ((status in ('approved', 'declined') and decided_by = (select auth.uid()))
                   -- Answered by a move or a cancellation.
                   or status = 'withdrawn'));

alter table app.waitlist_entries enable row level security;
alter table app.waitlist_entries force row level security;

create policy "patients read their own waitlist entries" on app.waitlist_entries
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients join the waitlist" on app.waitlist_entries
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and status = 'waiting');

-- Leaving, claiming an offer (booked) or letting a lapsed one go (passed). USING admits every
-- own entry: the claim locks it FOR UPDATE to answer a second claim with the booking.
create policy "patients leave the waitlist and claim offers" on app.waitlist_entries
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()))
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and status in ('left', 'booked', 'passed'));

create policy "admins read their clinic's waitlist" on app.waitlist_entries
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "clinicians read who waits for their time" on app.waitlist_entries
  for select to app_user
  using (org_id = (select auth.org_id()) and clinician_id = (select auth.uid())
         and (select auth.app_role()) = 'therapist');

create policy "the offer maker reads every waitlist" on app.waitlist_entries
  for select to wardline_auth
  using (true);

create policy "the offer maker marks entries offered or passed" on app.waitlist_entries
  for update to wardline_auth
  using (status in ('waiting', 'offered'))
  with check (status in ('offered', 'passed'));
