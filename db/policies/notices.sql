-- Session notices and reminders. They are queued by SECURITY DEFINER helpers (as
-- wardline_auth; db/functions/70_notices.sql), so staff, patients in the portal and the
-- reminder job queue them alike without any of them reading other patients' addresses or
-- writing other clinics' records. Staff read which reminders their clinic's sessions got.

alter table app.session_reminders enable row level security;
alter table app.session_reminders force row level security;

create policy "staff read their clinic's reminder records" on app.session_reminders
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "the reminder job reads every reminder record" on app.session_reminders
  for select to wardline_auth
  using (true);

create policy "the reminder job records reminders of every clinic" on app.session_reminders
  for insert to wardline_auth
  with check (true);

create policy "definer helpers read every preference" on app.patient_preferences
  for select to wardline_auth
  using (true);

create policy "definer helpers queue session, message and task notices" on app.outbox
  for insert to wardline_auth
  with check (kind in ('session.booked', 'session.changed', 'session.cancelled',
                       'session.reminder', 'waitlist.offer', 'message.new',
                       'message.new.staff', 'task.assigned')
              and status = 'pending');

create policy "the reminder forgetter forgets a moved session's reminders" on app.session_reminders
  for delete to wardline_auth
  using (org_id = (select auth.org_id()));
