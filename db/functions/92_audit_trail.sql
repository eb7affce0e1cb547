-- Reading the audit trail (issue 22, part 3): a clinic's admins page through their clinic's
-- events and export a range with what its verification needs; a patient sees which of their
-- clinic's staff opened their record. Events hold ids, actions and outcomes only, never PHI.

-- An event as the admins' pages show it.
create or replace function app.audit_event_json(e audit.events) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'seq', e.chain_seq, 'occurredAt', app.iso(e.occurred_at), 'actorId', e.actor_id,
    'actorRole', e.actor_role, 'action', e.action, 'targetType', e.target_type,
    'targetId', e.target_id, 'patientId', e.patient_id, 'outcome', e.outcome,
    'requestId', e.request_id, 'detail', e.detail))
$$;
grant execute on function app.audit_event_json(audit.events) to app_user;

-- An event as the export writes it: every member the digest covers, as the digest reads it
-- (the time to the microsecond, nulls kept), and both hashes in hex, so the chain can be
-- recomputed from the file alone (shared::audit_chain).
create or replace function app.audit_export_json(e audit.events) returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'clinicId', e.org_id, 'seq', e.chain_seq, 'actorId', e.actor_id, 'actorRole', e.actor_role,
    'action', e.action, 'targetType', e.target_type, 'targetId', e.target_id,
    'outcome', e.outcome, 'requestId', e.request_id,
    'occurredAt', to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    'detail', e.detail, 'patientId', e.patient_id,
    'prevHash', encode(e.prev_hash, 'hex'), 'hash', encode(e.hash, 'hex'))
$$;
grant execute on function app.audit_export_json(audit.events) to app_user;

-- The head of the current clinic's chain (its length and last hash), for its admins: an export
-- that reaches the end checks that nothing after it was removed. SECURITY DEFINER (as
-- wardline_auth, which keeps the heads).
create or replace function app.audit_chain_head(out seq bigint, out hash text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not auth.is_admin() or auth.org_id() is null then
    perform api.fail('forbidden', 'Only a clinic''s admins read its chain.');
  end if;
  select h.last_seq, encode(h.last_hash, 'hex') into seq, hash
  from audit.chain_heads h where h.chain_key = auth.org_id();
  if not found then
    seq := 0;
    hash := encode(audit.genesis(auth.org_id()), 'hex');
  end if;
end
$$;
grant execute on function app.audit_chain_head() to app_user;

-- GET /api/admin/audit (admins; a super admin names the clinic). input: {clinicId?, actorId?,
-- patientId?, action?, from?, to?, limit, before?}: the clinic's events, newest first, a page
-- at a time; nextCursor is the seq to pass back as `before`. Planned for each call's values
-- (force_custom_plan), so a filter by patient or actor searches its own index.
create or replace function api.audit_events(claims jsonb, input jsonb) returns jsonb
language plpgsql
set plan_cache_mode = force_custom_plan
as $$
declare
  actor uuid := (input ->> 'actorId')::uuid;
  patient uuid := (input ->> 'patientId')::uuid;
  wanted text := input ->> 'action';
  since timestamptz := (input ->> 'from')::timestamptz;
  until timestamptz := (input ->> 'to')::timestamptz;
  page_size integer := (input ->> 'limit')::integer;
  before bigint := (input ->> 'before')::bigint;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  perform api.use_clinic((input ->> 'clinicId')::uuid);
  return (
    with page as (
      select e, row_number() over (order by e.chain_seq desc) as n
      from audit.events e
      where e.org_id = (select auth.org_id())
        and (actor is null or e.actor_id = actor)
        and (patient is null or e.patient_id = patient)
        and (wanted is null or e.action = wanted)
        and (since is null or e.occurred_at >= since)
        and (until is null or e.occurred_at < until)
        and (before is null or e.chain_seq < before)
      order by e.chain_seq desc
      limit page_size + 1
    )
    select jsonb_build_object(
      'clinicId', auth.org_id(),
      'events', coalesce(jsonb_agg(app.audit_event_json(p.e) order by p.n)
                           filter (where p.n <= page_size), '[]'::jsonb),
      'nextCursor', case when count(*) > page_size
                         then ((array_agg((p.e).chain_seq order by p.n))[page_size])::text end)
    from page p);
end
$$;

-- GET /api/admin/audit/export (admins; a super admin names the clinic). input: {clinicId?,
-- from?, to?, afterSeq?, limit}: the unbroken run of the clinic's chain from its first event at
-- or after `from` (or the event after `afterSeq`, to go on) to its last before `to`, at most
-- `limit` events, oldest first, with the chain's head. Every event in the run is included
-- whatever its time, so the run verifies on its own (functions/audit-trail recomputes it);
-- `next` is the afterSeq of the rest. The export itself is audited.
create or replace function api.audit_export(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  since timestamptz := (input ->> 'from')::timestamptz;
  until timestamptz := (input ->> 'to')::timestamptz;
  after_seq bigint := (input ->> 'afterSeq')::bigint;
  page_size integer := (input ->> 'limit')::integer;
  org uuid;
  first_seq bigint;
  last_seq bigint;
  head record;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  perform api.use_clinic((input ->> 'clinicId')::uuid);
  org := auth.org_id();
  select * into head from app.audit_chain_head();
  first_seq := coalesce(after_seq + 1, (
    select e.chain_seq from audit.events e
    where e.org_id = org and e.occurred_at >= since
    order by e.occurred_at, e.chain_seq limit 1), case when since is null then 1 end);
  last_seq := coalesce((
    select e.chain_seq from audit.events e
    where e.org_id = org and e.occurred_at < until
    order by e.occurred_at desc, e.chain_seq desc limit 1),
    case when until is null then head.seq end);
  select jsonb_build_object(
    'clinicId', org,
    'head', jsonb_build_object('seq', head.seq, 'hash', head.hash),
    'events', coalesce(jsonb_agg(app.audit_export_json(e) order by e.chain_seq), '[]'::jsonb),
    -- More to come only when the page is full: a run that ends early (events removed) is
    -- the chain's end as the database has it, which the head then judges.
    'next', case when count(*) = page_size and max(e.chain_seq) < last_seq
                 then max(e.chain_seq) end)
  into result
  from (select * from audit.events x
        where x.org_id = org and x.chain_seq >= first_seq and x.chain_seq <= last_seq
        order by x.chain_seq limit page_size) e;
  perform audit.record('audit.export', null, null, 'success',
    jsonb_strip_nulls(jsonb_build_object('fromSeq', first_seq, 'toSeq', last_seq,
                                         'limit', page_size)));
  return result;
end
$$;

-- What the access log calls each kind of read.
create or replace function app.access_kind(action text) returns text
language sql immutable
as $$
  select case
    when action in ('patient.record.read', 'patient.read', 'guardians.list') then 'record'
    when action = 'session.notes.read' then 'notes'
    when action in ('documents.list', 'document.read') then 'documents'
    when action = 'thread.read' then 'messages'
    when action in ('tasks.list', 'task.submission.read') then 'forms'
    else 'other'
  end
$$;
grant execute on function app.access_kind(text) to wardline_auth;

-- The staff of `org` who read `patient`'s record, newest first: who (name and role), when and
-- what kind of record, before event `before` (a cursor). Nothing else of the events (no ids,
-- no requests), and only the patient's own. SECURITY DEFINER (as wardline_auth): patients read
-- neither the trail nor the clinic's staff list.
create or replace function app.access_log(org uuid, patient uuid, page_size integer,
                                          before bigint) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (
    with page as (
      select e.chain_seq, e.occurred_at, e.actor_role, e.action,
             c.first_name || ' ' || c.last_name as staff_name,
             row_number() over (order by e.chain_seq desc) as n
      from audit.events e
      join app.clinicians c on c.id = e.actor_id
      where e.org_id = org and e.patient_id = patient
        and e.actor_role in ('therapist', 'admin', 'super_admin')
        and (before is null or e.chain_seq < before)
      order by e.chain_seq desc
      limit page_size + 1
    )
    select jsonb_build_object(
      'accesses', coalesce(jsonb_agg(jsonb_build_object(
                    'at', app.iso(p.occurred_at), 'staffName', p.staff_name,
                    'role', p.actor_role, 'kind', app.access_kind(p.action)) order by p.n)
                    filter (where p.n <= page_size), '[]'::jsonb),
      'nextCursor', case when count(*) > page_size
                         then ((array_agg(p.chain_seq order by p.n))[page_size])::text end)
    from page p);
end
$$;

-- GET /api/portal/access-log. input: {host, limit, before?}: who of the clinic's staff read
-- the record of the patient the token acts for.
create or replace function api.portal_access_log(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.access_log(auth.org_id(), auth.patient_id(), (input ->> 'limit')::integer,
                        (input ->> 'before')::bigint);
end
$$;

grant execute on function app.access_log(uuid, uuid, integer, bigint) to app_user;
grant execute on function api.audit_events(jsonb, jsonb), api.audit_export(jsonb, jsonb),
  api.portal_access_log(jsonb, jsonb) to wardline_authenticator;
