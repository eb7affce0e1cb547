-- Audit: events are appended only through audit.record or audit.record_in (running as
-- wardline_auth, with the actor taken from the claims and the clinic from the claims or the
-- caller's set); admins read their clinic's events. No policy allows
-- UPDATE or DELETE, and triggers reject them for every role.

alter table audit.events enable row level security;
alter table audit.events force row level security;

create policy "audit.record appends events of the current request" on audit.events
  for insert to wardline_auth
  with check (
    (org_id is not distinct from (select auth.org_id())
     -- audit.record_in, for a cross-clinic request: a clinic of the caller's set.
     or ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[]))
     or (org_id is not null and (select auth.is_super_admin()))
     -- A scheduled job acts on rows of every clinic and records in the row's clinic.
     or (org_id is not null and (select auth.is_service())))
    and actor_id is not distinct from (select auth.uid())
  );

create policy "admins read their clinic's events" on audit.events
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "the chain verifier reads every event" on audit.events
  for select to wardline_auth
  using (true);

alter table audit.chain_heads enable row level security;
alter table audit.chain_heads force row level security;

create policy "the chaining trigger keeps the heads" on audit.chain_heads
  for all to wardline_auth
  using (true) with check (true);

-- Anchoring (migration 0030): the audit-anchor job reads every chain's head and remembers the
-- last head it wrote to S3. Chain keys and hashes only; no request role but the job's reads
-- either.
create policy "the anchor job reads every chain's head" on audit.chain_heads
  for select to app_service
  using ((select auth.is_service()));

alter table audit.anchors enable row level security;
alter table audit.anchors force row level security;

create policy "the anchor job reads the anchors" on audit.anchors
  for select to app_service
  using ((select auth.is_service()));

create policy "the anchor job records anchors" on audit.anchors
  for insert to app_service
  with check ((select auth.is_service()));

create policy "the anchor job moves anchors forward" on audit.anchors
  for update to app_service
  using ((select auth.is_service()))
  with check ((select auth.is_service()));
