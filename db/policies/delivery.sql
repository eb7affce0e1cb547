-- Delivery: suppressed addresses and applied provider events. The sender and the verified
-- provider webhooks (both app_service) read and record them for every clinic; a clinic's
-- admins read its suppressed addresses.

alter table app.email_suppressions enable row level security;
alter table app.email_suppressions force row level security;

create policy "the sender and the webhooks keep every clinic's suppressions"
  on app.email_suppressions
  for all to app_service
  using (true) with check (true);

create policy "admins read their clinic's suppressions" on app.email_suppressions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

alter table app.provider_events enable row level security;
alter table app.provider_events force row level security;

create policy "the webhooks record provider events of every clinic" on app.provider_events
  for all to app_service
  using (true) with check (true);
