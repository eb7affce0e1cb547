-- The audit chain: the insert trigger that links every event to its clinic's previous one,
-- the append-only guard, the chain's verification, and audit.record, the only way to write.

-- Rows that are history (consents, addenda): never changed, never removed, whoever asks.
create or replace function app.reject_change() returns trigger
language plpgsql
as $$
begin
  raise exception using errcode = '42501', message = format('%s is append-only', tg_table_name);
end
$$;

create or replace function audit.event_digest(e audit.events) returns bytea
language sql immutable
as $$
  -- The patient is the array's last element when set; events without one hash as they did
  -- before the column existed (migration 0029).
  select sha256(e.prev_hash || convert_to((jsonb_build_array(
    e.org_id, e.chain_seq, e.actor_id, e.actor_role, e.action, e.target_type, e.target_id,
    e.outcome, e.request_id, to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
    e.detail) || case when e.patient_id is null then '[]'::jsonb
                      else jsonb_build_array(e.patient_id) end)::text, 'UTF8'))
$$;

create or replace function audit.genesis(chain_key uuid) returns bytea
language sql immutable
as $$ select sha256(convert_to('wardline-audit:' || chain_key::text, 'UTF8')) $$;

create or replace function audit.chain_event() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  key uuid := coalesce(new.org_id, '00000000-0000-0000-0000-000000000000');
  head audit.chain_heads;
begin
  -- Lock the chain's head; only a chain's first event makes it (and hashes its genesis).
  select * into head from audit.chain_heads h where h.chain_key = key for update;
  if not found then
    insert into audit.chain_heads (chain_key, last_seq, last_hash)
    values (key, 0, audit.genesis(key))
    on conflict (chain_key) do nothing;
    select * into head from audit.chain_heads h where h.chain_key = key for update;
  end if;
  new.occurred_at := statement_timestamp();
  new.chain_seq := head.last_seq + 1;
  new.prev_hash := head.last_hash;
  new.hash := audit.event_digest(new);
  update audit.chain_heads set last_seq = new.chain_seq, last_hash = new.hash
  where chain_key = key;
  return new;
end
$$;

create or replace function audit.reject_change() returns trigger
language plpgsql
as $$
begin
  raise exception using errcode = '42501', message = 'audit.events is append-only';
end
$$;

create trigger events_chain before insert on audit.events
  for each row execute function audit.chain_event();
create trigger events_append_only before update or delete on audit.events
  for each row execute function audit.reject_change();
create trigger events_no_truncate before truncate on audit.events
  for each statement execute function audit.reject_change();

-- The first chain_seq of a clinic's chain whose hash or link does not verify, or that is
-- missing (including a removed tail, found against audit.chain_heads); NULL when intact.
create or replace function audit.first_broken_link(chain_org uuid) returns bigint
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  with key as (
    select coalesce(chain_org, '00000000-0000-0000-0000-000000000000'::uuid) as k
  ), links as (
    select e.chain_seq, e.hash, e.prev_hash,
           audit.event_digest(e) as recomputed,
           coalesce(lag(e.hash) over (order by e.chain_seq), audit.genesis((select k from key)))
             as expected_prev,
           lag(e.chain_seq, 1, 0::bigint) over (order by e.chain_seq) as prev_seq
    from audit.events e
    where coalesce(e.org_id, '00000000-0000-0000-0000-000000000000') = (select k from key)
  ), tail as (
    select max(chain_seq) as last_seq,
           (array_agg(hash order by chain_seq desc))[1] as last_hash
    from links
  )
  select min(seq) from (
    select c.chain_seq as seq from links c
    where c.hash <> c.recomputed or c.prev_hash <> c.expected_prev
       or c.chain_seq <> c.prev_seq + 1
    union all
    select coalesce(t.last_seq, 0) + 1 from audit.chain_heads h, tail t
    where h.chain_key = (select k from key)
      and (h.last_seq <> coalesce(t.last_seq, 0) or h.last_hash <> coalesce(t.last_hash, audit.genesis(h.chain_key)))
  ) broken
$$;

-- The only way to write an event: actor, role and request id come from the request's claims,
-- never from the caller, and the trigger stamps time and chain. `org` names the clinic's
-- chain: cross-clinic requests write to the clinic of the item acted on, and the insert policy
-- admits only a clinic of the caller's set (or any, for a super admin).
create or replace function audit.record_in(
  org uuid, action text, target_type text default null, target_id text default null,
  outcome text default 'success', detail jsonb default '{}', patient uuid default null
) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- PL/pgSQL, so the insert is planned once per connection, not on every event.
  insert into audit.events (org_id, actor_id, actor_role, action, target_type, target_id,
                            outcome, request_id, detail, patient_id, prev_hash, hash, chain_seq)
  values (org, auth.uid(), auth.app_role(), action, target_type, target_id,
          outcome, auth.request_id(), detail, patient, '', '', 0);
end
$$;
grant execute on function audit.record_in(uuid, text, text, text, text, jsonb, uuid) to app_user;

-- An event in the chain of the request's own clinic.
create or replace function audit.record(
  action text, target_type text default null, target_id text default null,
  outcome text default 'success', detail jsonb default '{}', patient uuid default null
) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform audit.record_in(auth.org_id(), action, target_type, target_id, outcome, detail,
                          patient);
end
$$;
grant execute on function audit.record(text, text, text, text, jsonb, uuid)
  to app_anon, app_user, app_service;
grant execute on function audit.first_broken_link(uuid) to app_service;
grant execute on function audit.event_digest(audit.events), audit.genesis(uuid) to wardline_auth;

-- Anchoring (issue 22, functions/audit-anchor): the heads of the chains that changed since
-- their last anchor, as {heads: [{chainKey, seq, hash (hex), anchoredSeq}]} (anchoredSeq: the
-- last anchored sequence number, null for none). The job writes each to S3, then records it
-- with api.audit_anchored. Chain keys and hashes only, never an event's content.
create or replace function api.audit_heads(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  heads jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  select coalesce(jsonb_agg(jsonb_build_object(
           'chainKey', h.chain_key, 'seq', h.last_seq, 'hash', encode(h.last_hash, 'hex'),
           'anchoredSeq', a.seq)
           order by h.chain_key), '[]')
    into heads
  from audit.chain_heads h
  left join audit.anchors a on a.chain_key = h.chain_key
  where h.last_seq > 0
    and (a.chain_key is null or a.seq <> h.last_seq or a.hash <> h.last_hash);
  return jsonb_build_object('heads', heads);
end
$$;

-- Records heads the job wrote to S3: input {anchors: [{chainKey, seq, hash (hex)}]}. A chain's
-- row is the last head written, even one behind the previous (a head moved back, which the
-- verifier reports against the earlier anchor), so an unchanged head is written once.
-- → {recorded: n}.
create or replace function api.audit_anchored(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  recorded integer;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  with written as (
    select (a ->> 'chainKey')::uuid as chain_key, (a ->> 'seq')::bigint as seq,
           decode(a ->> 'hash', 'hex') as hash
    from jsonb_array_elements(input -> 'anchors') a
  ), saved as (
    insert into audit.anchors (chain_key, seq, hash, anchored_at)
    select w.chain_key, w.seq, w.hash, now() from written w
    on conflict (chain_key) do update
      set seq = excluded.seq, hash = excluded.hash, anchored_at = excluded.anchored_at
    returning 1
  )
  select count(*)::integer into recorded from saved;
  return jsonb_build_object('recorded', recorded);
end
$$;

grant execute on function api.audit_heads(jsonb, jsonb), api.audit_anchored(jsonb, jsonb)
  to wardline_authenticator;
