-- Audit: events are appended only through audit.record (running as wardline_auth, with actor
-- and clinic taken from the claims); admins read their clinic's events. No policy allows
-- UPDATE or DELETE, and triggers reject them for every role.

alter table audit.events enable row level security;
alter table audit.events force row level security;

drop policy if exists "audit.record appends events of the current request" on audit.events;
create policy "audit.record appends events of the current request" on audit.events
  for insert to wardline_auth
  with check (
    org_id is not distinct from (select auth.org_id())
    and actor_id is not distinct from (select auth.uid())
  );

drop policy if exists "admins read their clinic's events" on audit.events;
create policy "admins read their clinic's events" on audit.events
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

drop policy if exists "the chain verifier reads every event" on audit.events;
create policy "the chain verifier reads every event" on audit.events
  for select to wardline_auth
  using (true);


alter table audit.chain_heads enable row level security;
alter table audit.chain_heads force row level security;

drop policy if exists "the chaining trigger keeps the heads" on audit.chain_heads;
create policy "the chaining trigger keeps the heads" on audit.chain_heads
  for all to wardline_auth
  using (true) with check (true);
