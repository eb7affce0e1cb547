-- Scheduling: services and sessions. A clinician sees their own sessions and holds in the
-- current clinic, an admin the whole clinic, a patient their own sessions (never holds). Notes
-- and idempotency records live here too.

alter table app.services enable row level security;
alter table app.services force row level security;

create policy "members read their clinic's services" on app.services
  for select to app_user
  using (org_id = (select auth.org_id()));

create policy "admins add services to their clinic" on app.services
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "admins change their clinic's services" on app.services
  for update to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()))
  with check (org_id = (select auth.org_id()) and (select auth.is_admin()));

-- How each CPT code is counted: reference data, the same for every clinic (migration 0012).
alter table app.cpt_codes enable row level security;
alter table app.cpt_codes force row level security;

create policy "signed-in callers read how CPT codes are counted" on app.cpt_codes
  for select to app_user
  using (true);

alter table app.sessions enable row level security;
alter table app.sessions force row level security;

create policy "admins read their clinic's sessions" on app.sessions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "clinicians read their own sessions in the current clinic" on app.sessions
  for select to app_user
  using (org_id = (select auth.org_id()) and clinician_id = (select auth.uid())
         and (select auth.app_role()) = 'therapist');

create policy "patients read their own booked sessions and waitlist offers" on app.sessions
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (status in ('scheduled', 'completed', 'no_show', 'cancelled')
              or (status in ('held', 'released', 'expired') and waitlist_entry_id is not null)));

-- In the portal a patient confirms or cancels their own sessions, claims an offer (its hold
-- becomes a session) or turns it down (the hold is released).
create policy "patients confirm, cancel and claim their own sessions" on app.sessions
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()))
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and status in ('scheduled', 'cancelled', 'released'));

-- Staff write the sessions they may read: a clinician their own, an admin the clinic's. New
-- rows are holds, made by the caller.
create policy "clinicians hold their own time, admins anyone's" on app.sessions
  for insert to app_user
  with check (
    org_id = (select auth.org_id()) and status = 'held' and created_by = (select auth.uid())
    and ((select auth.is_admin())
         or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist'))
  );

create policy "clinicians update their own sessions, admins their clinic's" on app.sessions
  for update to app_user
  using (
    org_id = (select auth.org_id())
    and ((select auth.is_admin())
         or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist'))
  )
  with check (
    org_id = (select auth.org_id())
    and ((select auth.is_admin())
         or (clinician_id = (select auth.uid()) and (select auth.app_role()) = 'therapist'))
  );

-- The booking guard (app.slot_conflicts, as wardline_auth) must see time taken in any clinic;
-- it tells the caller only that and when, never what or whose.
create policy "the booking guard sees occupied time in every clinic" on app.sessions
  for select to wardline_auth
  using (status in ('held', 'scheduled'));

-- A waitlist offer (app.offer_freed_time, as wardline_auth) is a hold for the entry's patient.
create policy "the waitlist offers freed time as a hold" on app.sessions
  for insert to wardline_auth
  with check (status = 'held' and waitlist_entry_id is not null);

-- Stale holds of any clinic must be expirable by whoever needs the slot, and by the sweeper.
-- (An UPDATE's new row must pass the SELECT policy too, hence 'expired'.)
create policy "the hold expirer sees holds of every clinic" on app.sessions
  for select to wardline_auth, app_service
  using (status in ('held', 'expired'));

create policy "the hold expirer expires stale holds" on app.sessions
  for update to wardline_auth, app_service
  using (status = 'held' and hold_expires_at <= now())
  with check (status = 'expired');

-- Session notes: sealed text of a session, for the staff who manage that session only —
-- never patients, never another clinic.
alter table app.session_notes enable row level security;
alter table app.session_notes force row level security;

create policy "staff read notes of the sessions they manage" on app.session_notes
  for select to app_user
  using (org_id = (select auth.org_id()) and app.manages_session(session_id));

create policy "staff write notes of the sessions they manage" on app.session_notes
  for insert to app_user
  with check (org_id = (select auth.org_id()) and updated_by = (select auth.uid())
              and app.manages_session(session_id));

create policy "staff rewrite, sign and co-sign notes of the sessions they manage"
  on app.session_notes
  for update to app_user
  using (org_id = (select auth.org_id()) and app.manages_session(session_id))
  with check (org_id = (select auth.org_id())
              and (select auth.uid()) in (updated_by, signed_by, cosigned_by));

-- Addenda to signed notes: read by the staff who read the note, written as themselves;
-- never changed (app.reject_change).
alter table app.note_addenda enable row level security;
alter table app.note_addenda force row level security;

create policy "staff read addenda of the sessions they manage" on app.note_addenda
  for select to app_user
  using (org_id = (select auth.org_id()) and app.manages_session(session_id));

create policy "staff add addenda as themselves to the sessions they manage" on app.note_addenda
  for insert to app_user
  with check (org_id = (select auth.org_id()) and created_by = (select auth.uid())
              and app.manages_session(session_id));

-- Idempotency records: each caller's own, in the current clinic; the sweeper removes day-old
-- ones and sees nothing younger.
alter table app.idempotency_keys enable row level security;
alter table app.idempotency_keys force row level security;

create policy "callers use their own idempotency records" on app.idempotency_keys
  for all to app_user
  using (org_id = (select auth.org_id()) and caller_id = (select auth.uid()))
  with check (org_id = (select auth.org_id()) and caller_id = (select auth.uid()));

create policy "the sweeper sees day-old idempotency records" on app.idempotency_keys
  for select to app_service
  using (created_at < now() - interval '24 hours');

create policy "the sweeper deletes day-old idempotency records" on app.idempotency_keys
  for delete to app_service
  using (created_at < now() - interval '24 hours');

-- Lets the sweeper lock day-old records (FOR UPDATE SKIP LOCKED) but never change one.
create policy "the sweeper locks day-old idempotency records" on app.idempotency_keys
  for update to app_service
  using (created_at < now() - interval '24 hours')
  with check (false);
