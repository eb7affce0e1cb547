-- Booking: holds, confirmations, cancellations, notes and the hold sweep (sessions-hold,
-- confirm-booking, schedule, hold-cleanup), with the helpers they share: calendar locks, the
-- cross-clinic conflict check, idempotency. Each entry point is one statement: begin the
-- request, check, write, audit.

-- Expires the stale holds standing in the way of new rows for this clinician or patient, so a
-- hold past its expiry never blocks anyone. SECURITY DEFINER (as wardline_auth) because the
-- stale hold may belong to another clinic the caller cannot see; it changes nothing but the
-- status of holds already past their expiry. Returns how many it expired.
create or replace function app.expire_holds_in_the_way(
  clinician uuid, patient uuid, ranges tstzrange[]
) returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  expired integer;
begin
  with gone as (
    update app.sessions s set status = 'expired', updated_at = now()
    where s.status = 'held' and s.hold_expires_at <= now()
      and (s.clinician_id = clinician or s.patient_id = patient)
      and exists (select 1 from unnest(ranges) r
                  where s.starts_at < upper(r) and s.ends_at > lower(r))
    returning 1
  )
  select count(*)::integer into expired from gone;
  return expired;
end
$$;
grant execute on function app.expire_holds_in_the_way(uuid, uuid, tstzrange[]) to app_user;

-- Whether the caller manages this session: its clinician, or an admin of its clinic. The
-- notes policies' one test. Super admins are left out on purpose: platform staff do not
-- read clinical notes.
create or replace function app.manages_session(session uuid) returns boolean
language plpgsql stable
as $$
begin
  -- PL/pgSQL: the notes policies call it per row, and its query is planned once per
  -- connection.
  return coalesce(auth.app_role() in ('therapist', 'admin'), false) and exists (
    select 1 from app.sessions s
    where s.id = session and s.org_id = auth.org_id()
      and (auth.app_role() = 'admin' or s.clinician_id = auth.uid()));
end
$$;
grant execute on function app.manages_session(uuid) to app_user;

-- ISO 8601 in UTC. Declared STABLE, as its body is (to_char), so the planner inlines it
-- instead of running it as a statement of its own for every row.
create or replace function app.iso(t timestamptz) returns text
language sql stable
as $$ select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

-- A value sealed at rest (notes, messages) as the functions open it (shared::sealed::Sealed):
-- {keyId, nonce, ciphertext}, base64 without line breaks.
create or replace function app.sealed_json(key_id text, nonce bytea, ciphertext bytea)
returns jsonb
language sql immutable
as $$
  select jsonb_build_object('keyId', key_id, 'nonce', encode(nonce, 'base64'),
                            'ciphertext', translate(encode(ciphertext, 'base64'), E'\n', ''))
$$;

-- The CPT code and units a session on a service with CPT code `service_code` is billed as,
-- from the whole minutes of its real (UTC) duration and how app.cpt_codes says the code is
-- counted: 15-minute units by the 8-minute rule (8–22 minutes is 1 unit, 23–37 is 2, …;
-- under 8 is none); one unit of the code of its time-range family the minutes fit (a
-- 50-minute session on 90837 is 1 unit of 90834; under the family's lowest range, 0 units of
-- the service's code); one unit per session; or, for a code not listed, the code without
-- units.
create or replace function app.cpt_coding(service_code text, during tstzrange)
returns table (code text, units integer)
language sql stable
as $$
  select coalesce(fit.code, service_code),
         case c.billed
           when 'per_15_minutes' then (m.minutes + 7) / 15
           when 'by_time_range' then case when fit.code is null then 0 else 1 end
           when 'per_session' then 1
         end
  from (select floor(extract(epoch from upper(during) - lower(during)) / 60)::integer)
         as m (minutes)
  left join app.cpt_codes c on c.code = service_code
  left join app.cpt_codes fit
    on c.billed = 'by_time_range' and fit.billed = 'by_time_range' and fit.family = c.family
       and m.minutes >= fit.min_minutes
       and (fit.max_minutes is null or m.minutes <= fit.max_minutes)
$$;

grant execute on function app.iso(timestamptz) to app_user, app_service, wardline_auth;
grant execute on function app.cpt_coding(text, tstzrange) to app_user;
grant execute on function app.sealed_json(text, bytea, bytea) to app_user;
-- The portal's pre-login calls (app_anon) format times too.
grant execute on function app.iso(timestamptz) to app_anon;

-- Every occurrence in `slots` that a live hold or a booked session of this clinician (in any
-- clinic) or this patient overlaps, with the reason. retryAfter is given only when every
-- blocker is a hold of the caller's own clinic: another clinic's rows reveal nothing.
-- SECURITY DEFINER (as wardline_auth) because the blocker may be in a clinic the caller
-- cannot see; it answers only for a clinician and a patient of the caller's own clinic, so it
-- cannot be used to probe anyone else's calendar. `ignoring` is a session being moved: its
-- own time never blocks it.
create or replace function app.slot_conflicts(
  clinician uuid, patient uuid, slots tstzrange[], ignoring uuid default null
) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  -- PL/pgSQL with a generic plan: planned once per connection, not on every hold.
  return (
  with slot as (
    select during, n from unnest(slots) with ordinality as t (during, n)
  ), blocker as (
    -- One index search per slot and reason: by start time, not `&&`, which RLS keeps out of
    -- index searches (migration 0011), in a lateral subquery kept apart (offset 0) so the
    -- planner cannot trade the searches for one read of the whole calendar.
    select slot.n, slot.during, true as by_clinician, s.status, s.org_id, s.hold_expires_at
    from slot cross join lateral (
      select s.status, s.org_id, s.hold_expires_at from app.sessions s
      where s.clinician_id = clinician and s.status in ('held', 'scheduled')
        and s.starts_at > lower(slot.during) - interval '12 hours'
        and s.starts_at < upper(slot.during) and s.ends_at > lower(slot.during)
        and (s.status = 'scheduled' or s.hold_expires_at > now())
        and (ignoring is null or s.id <> ignoring)
      offset 0) s
    where exists (select 1 from app.clinic_memberships m
                  where m.org_id = auth.org_id() and m.clinician_id = clinician)
    union all
    select slot.n, slot.during, false, s.status, s.org_id, s.hold_expires_at
    from slot cross join lateral (
      select s.status, s.org_id, s.hold_expires_at from app.sessions s
      where s.patient_id = patient and s.status in ('held', 'scheduled')
        and s.starts_at > lower(slot.during) - interval '12 hours'
        and s.starts_at < upper(slot.during) and s.ends_at > lower(slot.during)
        and (s.status = 'scheduled' or s.hold_expires_at > now())
        and (ignoring is null or s.id <> ignoring)
      offset 0) s
    where exists (select 1 from app.patients p where p.org_id = auth.org_id() and p.id = patient)
  ), conflict as (
    select b.n, jsonb_strip_nulls(jsonb_build_object(
             'occurrence', b.n,
             'startTime', app.iso(lower(b.during)),
             'endTime', app.iso(upper(b.during)),
             'reason', case when bool_or(b.by_clinician) then 'clinician_busy'
                            else 'patient_busy' end,
             'retryAfter', case when bool_and(b.status = 'held' and b.org_id = auth.org_id())
                                then app.iso(max(b.hold_expires_at)) end)) as body
    from blocker b
    group by b.n, b.during
  )
  select coalesce(jsonb_agg(c.body order by c.n), '[]'::jsonb) from conflict c);
end
$$;
grant execute on function app.slot_conflicts(uuid, uuid, tstzrange[], uuid) to app_user;

-- 409 naming every conflicting occurrence, when there is one. Retry-After (seconds) is set
-- only when every conflict is a hold that will expire. `ignoring` as in app.slot_conflicts.
create or replace function app.fail_if_taken(
  clinician uuid, patient uuid, slots tstzrange[], ignoring uuid default null
) returns void
language plpgsql
as $$
declare
  conflicts jsonb := app.slot_conflicts(clinician, patient, slots, ignoring);
  extensions jsonb;
begin
  if jsonb_array_length(conflicts) = 0 then
    return;
  end if;
  extensions := jsonb_build_object('conflicts', conflicts);
  if not exists (select 1 from jsonb_array_elements(conflicts) c where not c ? 'retryAfter') then
    extensions := extensions || jsonb_build_object('retryAfterSeconds', (
      select ceil(extract(epoch from max((c ->> 'retryAfter')::timestamptz) - now()))::integer
      from jsonb_array_elements(conflicts) c));
  end if;
  perform api.fail_with('slot_unavailable', format(
    '%s of the requested occurrences overlap a hold or a booked session; nothing was held.',
    jsonb_array_length(conflicts)), extensions);
end
$$;

-- The clinician must work here and the patient be a live patient of this clinic; a
-- clinician books for themselves, an admin for anyone of the clinic.
create or replace function app.require_bookable(
  clinician uuid, patient uuid, clinician_field text, patient_field text
) returns void
language plpgsql stable
as $$
begin
  if clinician is distinct from (select auth.uid()) and not (select auth.is_admin()) then
    perform api.fail('forbidden',
      'A clinician books only for themselves; an admin books for any clinician.', clinician_field);
  end if;
  if not exists (
    select 1 from app.clinic_memberships m
    where m.org_id = (select auth.org_id()) and m.clinician_id = clinician
      and m.active and m.approved and m.kind in ('therapist', 'prescriber')
  ) then
    perform api.fail('clinician_inactive',
      'The clinician is not an active clinician of this clinic.', clinician_field);
  end if;
  if not exists (
    select 1 from app.patients p
    where p.org_id = (select auth.org_id()) and p.id = patient and p.deleted_at is null
  ) then
    perform api.fail('patient_not_active',
      'The patient is not an active patient of this clinic.', patient_field);
  end if;
end
$$;

-- Serialises writers of one clinician's and one patient's calendar for the rest of the
-- transaction, always locking the smaller key first.
create or replace function app.lock_calendars(clinician uuid, patient uuid) returns void
language plpgsql
as $$
declare
  a bigint := hashtextextended('wardline.calendar:' || clinician::text, 0);
  b bigint := hashtextextended('wardline.calendar:' || patient::text, 0);
begin
  perform pg_advisory_xact_lock(least(a, b));
  perform pg_advisory_xact_lock(greatest(a, b));
end
$$;
grant execute on function app.lock_calendars(uuid, uuid) to app_user;

-- Idempotency, first half: claims the key for this request, or returns the stored response of
-- the request that already used it. A request still in flight with the key holds its row
-- lock, so the insert waits for it: replayed if it committed, claimed anew if it rolled back.
create or replace function app.idempotency_replay(route text, input jsonb) returns jsonb
language plpgsql
as $$
declare
  request_key text := input ->> 'idempotencyKey';
  hash bytea := sha256(convert_to((input - 'idempotencyKey')::text, 'UTF8'));
  stored app.idempotency_keys;
begin
  insert into app.idempotency_keys (org_id, caller_id, route, key, request_hash)
  values ((select auth.org_id()), (select auth.uid()), route, request_key, hash)
  on conflict do nothing;
  if found then
    return null;
  end if;
  select * into stored from app.idempotency_keys k
  where k.org_id = (select auth.org_id()) and k.caller_id = (select auth.uid())
    and k.route = idempotency_replay.route and k.key = request_key;
  if stored.request_hash is distinct from hash then
    perform api.fail('idempotency_key_reused',
      'This Idempotency-Key was used with a different request body.', 'Idempotency-Key');
  end if;
  if stored.response is null then
    perform api.fail('idempotency_key_in_flight',
      'A request with this Idempotency-Key is still being processed. Retry shortly.',
      'Idempotency-Key');
  end if;
  return stored.response;
end
$$;

-- Idempotency, second half: stores the response to replay.
create or replace function app.idempotency_store(route text, input jsonb, response jsonb)
returns void
language plpgsql
as $$
begin
  update app.idempotency_keys k set response = idempotency_store.response
  where k.org_id = auth.org_id() and k.caller_id = auth.uid()
    and k.route = idempotency_store.route and k.key = input ->> 'idempotencyKey';
end
$$;

grant execute on function app.fail_if_taken(uuid, uuid, tstzrange[], uuid),
  app.require_bookable(uuid, uuid, text, text), app.idempotency_replay(text, jsonb),
  app.idempotency_store(text, jsonb, jsonb) to app_user;

-- A session as the API shows it. Hold details only while it is a hold.
create or replace function app.session_json(s app.sessions) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', s.id,
    'status', s.status,
    'clinicianId', s.clinician_id,
    'patientId', s.patient_id,
    'startTime', app.iso(lower(s.during)),
    'endTime', app.iso(upper(s.during)),
    'occurrence', s.occurrence,
    'holdKey', case when s.status = 'held' then s.hold_key end,
    'holdGroup', case when s.status = 'held' then s.hold_group end,
    'holdExpiresAt', case when s.status = 'held' then app.iso(s.hold_expires_at) end,
    'serviceId', s.service_id,
    'cptCode', s.cpt_code,
    'cptUnits', s.cpt_units,
    'cancelReason', s.cancel_reason,
    'confirmedAt', app.iso(s.confirmed_at)))
$$;
grant execute on function app.session_json(app.sessions) to app_user;

-- POST /sessions-hold. input: {idempotencyKey, clinicianId, patientId, sessionId?, holdSeconds,
-- occurrences: [{start, end}]} with instants already resolved and validated by the function.
create or replace function api.hold_sessions(claims jsonb, input jsonb) returns jsonb
language plpgsql
-- Every lookup here is an index search whatever the values, so one generic plan per
-- connection serves every request; custom plans would be planned anew on each.
set plan_cache_mode = force_generic_plan
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
  patient uuid := (input ->> 'patientId')::uuid;
  expires timestamptz := now() + make_interval(secs => (input ->> 'holdSeconds')::integer);
  group_key uuid := gen_random_uuid();
  slots tstzrange[];
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := app.idempotency_replay('POST /sessions-hold', input);
  if result is not null then
    return result;
  end if;
  perform app.require_bookable(clinician, patient, 'therapist_id', 'client_id');

  select array_agg(tstzrange((o ->> 'start')::timestamptz, (o ->> 'end')::timestamptz, '[)')
                   order by n)
  into slots
  from jsonb_array_elements(input -> 'occurrences') with ordinality as t (o, n);

  if coalesce(cardinality(slots), 0) = 0 then
    perform api.fail('invalid_input', 'Nothing to hold.', 'start_time');
  end if;
  perform app.require_within_hours(clinician, slots,
                                   coalesce((input ->> 'outsideHours')::boolean, false),
                                   'start_time');
  -- Hold requests for one clinician or one patient take turns (locks taken in one order, so
  -- they never deadlock): the check below then sees every earlier winner, and the exclusion
  -- constraints never have to wait on each other's uncommitted rows.
  perform app.lock_calendars(clinician, patient);
  -- A stale hold never blocks: expire those in the way, then look for live blockers.
  perform app.expire_holds_in_the_way(clinician, patient, slots);
  perform app.fail_if_taken(clinician, patient, slots);
  begin
    with held as (
      insert into app.sessions (id, org_id, clinician_id, patient_id, status, during, hold_key,
                                hold_group, hold_expires_at, occurrence, created_by)
      select case when slot.n = 1 then coalesce((input ->> 'sessionId')::uuid, gen_random_uuid())
                  else gen_random_uuid() end,
             (select auth.org_id()), clinician, patient, 'held', slot.during, gen_random_uuid(),
             group_key, expires, slot.n, (select auth.uid())
      from unnest(slots) with ordinality as slot (during, n)
      returning *
    )
    select jsonb_build_object(
             'holdKey', group_key,
             'expiresAt', app.iso(expires),
             'holds', jsonb_agg(jsonb_build_object(
               'holdKey', h.hold_key,
               'sessionId', h.id,
               'occurrence', h.occurrence,
               'startTime', app.iso(lower(h.during)),
               'endTime', app.iso(upper(h.during)),
               'expiresAt', app.iso(expires)) order by h.occurrence))
    into result
    from held h;
  exception when exclusion_violation then
    -- Only a writer outside these locks (none today) could win after our check: name it.
    perform app.fail_if_taken(clinician, patient, slots);
    raise;
  end;

  perform app.idempotency_store('POST /sessions-hold', input, result);
  -- The audit append last: it locks the clinic's chain head until commit, and every booking
  -- of the clinic waits for that lock.
  perform audit.record('session.hold', 'hold', group_key::text, 'success',
    jsonb_build_object('clinicianId', clinician, 'patientId', patient,
                       'occurrences', cardinality(slots)));
  return result;
end
$$;

-- DELETE /sessions-hold/{holdKey}: releases a request's holds (group key) or one occurrence's.
-- Idempotent: releasing again reports nothing left to release. 404 when the caller can see
-- no such hold.
create or replace function api.release_hold(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target uuid := (input ->> 'holdKey')::uuid;
  released integer;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  if not exists (select 1 from app.sessions s where s.hold_key = target)
     and not exists (select 1 from app.sessions s where s.hold_group = target)
  then
    perform api.fail('hold_not_found', 'No hold with this key is visible to you.', 'holdKey');
  end if;
  perform app.refuse_waitlist_offers(array(select k.id from app.sessions_of_key(target) k),
                                     'holdKey');
  with done as (
    update app.sessions s set status = 'released', updated_at = now()
    where s.id in (select k.id from app.sessions_of_key(target) k) and s.status = 'held'
    returning 1
  )
  select count(*)::integer into released from done;
  if released > 0 then
    perform audit.record('session.hold.release', 'hold', target::text, 'success',
      jsonb_build_object('released', released));
  end if;
  return jsonb_build_object('holdKey', target, 'released', released);
end
$$;

-- The sessions a hold key names: its occurrence's (exact), or its group's still held. Two
-- index probes, never an OR, which under RLS the planner answers with a scan of every session
-- (the cost would grow with the calendar). Callers pass a plain value, not an expression of
-- another row: RLS keeps a non-leakproof expression (->>, a cast) out of index searches.
create or replace function app.sessions_of_key(hold uuid)
returns table (id uuid, exact boolean, occurrence integer)
language sql stable
as $$
  select s.id, true, s.occurrence from app.sessions s where s.hold_key = hold
  union all
  select s.id, false, s.occurrence from app.sessions s
  where s.hold_group = hold and s.status = 'held'
$$;
grant execute on function app.sessions_of_key(uuid) to app_user;

-- The sessions a confirmation is about: one occurrence's hold key names its session; a group
-- key names the group's sessions still held (so releasing or confirming one occurrence
-- leaves the rest confirmable). The most specific item wins for a session named twice.
create or replace function app.confirm_targets(keys uuid[], services uuid[], fields text[])
returns table (session_id uuid, service_id uuid, field text)
language sql stable
as $$
  select distinct on (s.id) s.id, i.service, i.field
  from unnest(keys, services, fields) with ordinality as i (hold, service, field, n)
  cross join lateral app.sessions_of_key(i.hold) s
  order by s.id, s.exact desc, i.n desc
$$;
grant execute on function app.confirm_targets(uuid[], uuid[], text[]) to app_user;

-- POST /sessions-confirm. input: {idempotencyKey, items: [{holdKey, serviceId, field}]}, one
-- item for the top-level holdKey and one per occurrence (field is where it came from, e.g.
-- 'occurrences[0]'); an occurrence's own key overrides its group's session details. Every
-- hold must still be live, or nothing is booked.
create or replace function api.confirm_booking(claims jsonb, input jsonb) returns jsonb
language plpgsql
-- As api.hold_sessions: generic plans, planned once per connection.
set plan_cache_mode = force_generic_plan
as $$
declare
  items jsonb := input -> 'items';
  -- The items as plain arrays, so every lookup below is an index search (see
  -- app.sessions_of_key).
  keys uuid[] := array(select (i ->> 'holdKey')::uuid from jsonb_array_elements(items) i);
  services uuid[] := array(select (i ->> 'serviceId')::uuid from jsonb_array_elements(items) i);
  fields text[] := array(select i ->> 'field' from jsonb_array_elements(items) i);
  bad text;
  pair record;
  target_ids uuid[];
  target_services uuid[];
  target_fields text[];
  booked uuid[];
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := app.idempotency_replay('POST /sessions-confirm', input);
  if result is not null then
    return result;
  end if;

  -- Lock every hold concerned first, so the checks below see what the update will change.
  perform 1 from app.sessions s
  where s.id in (select x.id from app.sessions x where x.hold_key = any (keys)
                 union all
                 select x.id from app.sessions x where x.hold_group = any (keys))
  order by s.id
  for update;

  select concat_ws('.', nullif(k.field, ''), 'holdKey') into bad
  from unnest(keys, fields) with ordinality as k (hold, field, n)
  where not exists (select 1 from app.sessions s where s.hold_key = k.hold)
    and not exists (select 1 from app.sessions s where s.hold_group = k.hold)
  order by k.n limit 1;
  if found then
    perform api.fail('hold_not_found', 'No hold with this key is visible to you.', bad);
  end if;

  -- The sessions concerned, worked out once (see app.confirm_targets).
  select array_agg(t.session_id), array_agg(t.service_id), array_agg(t.field)
  into target_ids, target_services, target_fields
  from app.confirm_targets(keys, services, fields) t;
  perform app.refuse_waitlist_offers(target_ids, 'holdKey');

  -- A group key whose holds are all gone, or a hold no longer live.
  select concat_ws('.', nullif(k.field, ''), 'holdKey') into bad
  from unnest(keys, fields) with ordinality as k (hold, field, n)
  where not exists (select 1 from app.sessions_of_key(k.hold))
  order by k.n limit 1;
  if not found then
    select concat_ws('.', nullif(t.field, ''), 'holdKey') into bad
    from unnest(target_ids, target_fields) as t (session_id, field)
    join app.sessions s on s.id = t.session_id
    where s.status <> 'held' or s.hold_expires_at <= now()
    limit 1;
  end if;
  if found then
    perform api.fail('hold_expired',
      'A hold has expired, was released or is already confirmed; nothing was booked. Hold the slot again.',
      bad);
  end if;

  -- What each item restates of its hold (the seed client's session row, in UTC) must be what
  -- is held: a 422 naming the first member that differs. A group key's row restates the
  -- group's first occurrence still held.
  select concat_ws('.', nullif(d.field, ''), d.member) into bad
  from (
    select i.n, i.item ->> 'field' as field,
           case
             when (r.v ->> 'sessionId')::uuid <> s.id then 'session.id'
             when (r.v ->> 'clinicianId')::uuid <> s.clinician_id then 'session.therapist_id'
             when (r.v ->> 'patientId')::uuid <> s.patient_id then 'session.client_id'
             when (r.v ->> 'start')::timestamptz <> lower(s.during) then 'session.start_time'
             when (r.v ->> 'end')::timestamptz <> upper(s.during) then 'session.end_time'
           end as member
    from jsonb_array_elements(items) with ordinality as i (item, n)
    join unnest(keys) with ordinality as h (hold, n) on h.n = i.n
    cross join lateral (select coalesce(i.item -> 'restates', '{}'::jsonb)) as r (v)
    cross join lateral (
      select s.id, s.clinician_id, s.patient_id, s.during
      from app.sessions_of_key(h.hold) k
      join app.sessions s on s.id = k.id
      order by k.exact desc, k.occurrence
      limit 1) s
  ) d
  where d.member is not null
  order by d.n limit 1;
  if found then
    perform api.fail('contradicts_hold', 'Differs from what was held; nothing was booked.', bad);
  end if;

  select concat_ws('.', nullif(t.field, ''), 'session.serviceId') into bad
  from unnest(target_services, target_fields) as t (service_id, field)
  where not exists (select 1 from app.services sv where sv.id = t.service_id and sv.active)
  limit 1;
  if found then
    perform api.fail('service_not_available',
      'The service is not an active service of this clinic.', bad);
  end if;

  for pair in
    select distinct s.clinician_id, s.patient_id
    from app.sessions s where s.id = any (target_ids)
  loop
    perform app.require_bookable(pair.clinician_id, pair.patient_id, 'holdKey', 'holdKey');
  end loop;

  with done as (
    update app.sessions s
    set status = 'scheduled', service_id = t.service_id,
        (cpt_code, cpt_units) = (select c.code, c.units from app.cpt_coding(sv.cpt_code, s.during) c),
        updated_at = now()
    from unnest(target_ids, target_services) as t (session_id, service_id)
    join app.services sv on sv.id = t.service_id
    where s.id = t.session_id
    returning s
  )
  select jsonb_build_object('sessions',
           jsonb_agg(app.session_json(d.s) order by lower((d.s).during), (d.s).id)),
         array_agg((d.s).id)
  into result, booked
  from done d;

  perform app.idempotency_store('POST /sessions-confirm', input, result);
  -- One notice per patient, naming their first booked occurrence (a series is one notice).
  perform app.queue_session_notice('session.booked', s.org_id, s.patient_id, s.id, s.starts_at)
  from (select distinct on (x.patient_id) x.org_id, x.patient_id, x.id, x.starts_at
        from app.sessions x where x.id = any (booked)
        order by x.patient_id, x.starts_at) s;
  -- Last, as in api.hold_sessions: the chain head stays locked until commit.
  perform audit.record('session.confirm', 'session', b::text, 'success', '{}')
  from unnest(booked) b;
  return result;
end
$$;

-- GET /schedule (staff; patients read theirs through api.portal_appointments). input: {from,
-- to, therapistId?}. What a caller sees is RLS's decision: a clinician their own sessions and
-- holds in the current clinic, an admin the whole clinic. Notes come sealed (by RLS, to those
-- who manage the session) for the function to open. Holds past their expiry are left out:
-- they block nobody. The read audited (the window and clinician asked for, never whose
-- sessions were shown).
create or replace function api.schedule(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  window_range tstzrange := tstzrange((input ->> 'from')::timestamptz, (input ->> 'to')::timestamptz);
  therapist uuid := (input ->> 'therapistId')::uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := jsonb_build_object('sessions', coalesce((
    select jsonb_agg(app.session_json(s) || case when n.session_id is null then '{}'::jsonb
             else jsonb_build_object('sealedNotes',
               app.sealed_json(n.key_id, n.nonce, n.ciphertext)
               || jsonb_build_object('updatedAt', app.iso(n.updated_at))) end
           order by lower(s.during), s.id)
    from app.sessions s
    left join app.session_notes n on n.session_id = s.id
    where s.starts_at > lower(window_range) - interval '12 hours'
      and s.starts_at < upper(window_range) and s.ends_at > lower(window_range)
      and (therapist is null or s.clinician_id = therapist)
      and (s.status in ('scheduled', 'completed', 'no_show', 'cancelled')
           or (s.status = 'held' and s.hold_expires_at > now()))
  ), '[]'::jsonb));
  perform audit.record('schedule.read', 'clinician', therapist::text, 'success',
                       jsonb_build_object('from', input ->> 'from', 'to', input ->> 'to'));
  return result;
end
$$;

-- POST /sessions/{id}/cancel. input: {sessionId, reason}. Cancelling a cancelled session
-- returns it unchanged; holds are released, not cancelled. Staff may cancel inside the
-- portal's late-cancellation window. The freed time is offered to the waitlist. (Entry points declare no app.*
-- row types: they are resolved before begin_request, as the login role, which has none.)
create or replace function api.cancel_session(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target record;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select s.id, s.status, s.org_id, s.clinician_id, s.patient_id, s.during, s.starts_at,
         s.service_id, app.session_json(s) as shown into target
  from app.sessions s where s.id = (input ->> 'sessionId')::uuid
  for update;
  if not found then
    perform api.fail('session_not_found', 'No session with this id is visible to you.', 'id');
  end if;
  if target.status = 'cancelled' then
    return target.shown;
  end if;
  if target.status <> 'scheduled' then
    perform api.fail('not_cancellable', format(
      'A %s session cannot be cancelled (release a hold instead).', target.status), 'id');
  end if;
  update app.sessions s
  set status = 'cancelled', cancel_reason = input ->> 'reason', updated_at = now()
  where s.id = target.id
  returning app.session_json(s) into result;
  update app.reschedule_requests r set status = 'withdrawn'
  where r.session_id = target.id and r.status = 'pending';
  perform app.queue_session_notice('session.cancelled', target.org_id, target.patient_id,
                                   target.id, target.starts_at);
  perform app.offer_freed_time(target.org_id, target.clinician_id, target.during,
                               target.service_id);
  -- Last: the audit append locks the clinic's chain head until commit.
  perform audit.record('session.cancel', 'session', target.id::text, 'success', '{}');
  return result;
end
$$;

-- PUT /sessions/{id}/notes. input: {sessionId, keyId, nonce, ciphertext} (base64), sealed by
-- the function. The audit event says who and when, never what.
create or replace function api.save_session_notes(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target record;
  saved record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select s.id, s.org_id, s.status into target
  from app.sessions s where s.id = (input ->> 'sessionId')::uuid;
  if not found then
    perform api.fail('session_not_found', 'No session with this id is visible to you.', 'id');
  end if;
  if target.status not in ('scheduled', 'completed', 'cancelled') then
    perform api.fail('not_a_session', 'Notes belong to booked sessions, not to holds.', 'id');
  end if;
  insert into app.session_notes (session_id, org_id, key_id, nonce, ciphertext, updated_by)
  values (target.id, target.org_id, input ->> 'keyId', decode(input ->> 'nonce', 'base64'),
          decode(input ->> 'ciphertext', 'base64'), (select auth.uid()))
  on conflict (session_id) do update
    set key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext,
        updated_by = excluded.updated_by, updated_at = now()
  returning session_id, key_id, updated_at, updated_by into saved;
  perform audit.record('session.notes.update', 'session', target.id::text, 'success',
    jsonb_build_object('keyId', saved.key_id));
  return jsonb_build_object('sessionId', saved.session_id, 'status', 'draft',
                            'updatedAt', app.iso(saved.updated_at),
                            'updatedBy', saved.updated_by);
end
$$;

-- The caller's clinic time zone, for sessions-hold, which must read local times before it can
-- build the request. Staff only, like every booking entry point.
create or replace function api.clinic_time_zone(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return jsonb_build_object('timeZone',
    (select c.time_zone from app.clinics c where c.id = (select auth.org_id())));
end
$$;

-- hold-cleanup, one batch: expires holds past their expiry, passes lapsed waitlist offers on
-- and deletes idempotency records older than 24 hours, skipping rows another sweeper (or a request) has locked, so two sweeps
-- at once neither wait for nor double-count each other. input: {batchSize}.
create or replace function api.sweep(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  batch integer := (input ->> 'batchSize')::integer;
  expired integer;
  deleted integer;
  passed integer;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  with stale as (
    select s.id from app.sessions s
    where s.status = 'held' and s.hold_expires_at <= now()
    order by s.hold_expires_at
    limit batch
    for update skip locked
  ), done as (
    update app.sessions s set status = 'expired', updated_at = now()
    from stale where s.id = stale.id
    returning 1
  )
  select count(*)::integer into expired from done;
  with old as (
    select k.org_id, k.caller_id, k.route, k.key from app.idempotency_keys k
    where k.created_at < now() - interval '24 hours'
    order by k.created_at
    limit batch
    for update skip locked
  ), gone as (
    delete from app.idempotency_keys k using old
    where (k.org_id, k.caller_id, k.route, k.key) = (old.org_id, old.caller_id, old.route, old.key)
    returning 1
  )
  select count(*)::integer into deleted from gone;
  -- Waitlist offers whose hold just expired (or was expired by a booking over it) pass on.
  passed := app.pass_lapsed_offers(batch);
  if expired + deleted + passed > 0 then
    perform audit.record('holds.sweep', null, null, 'success',
      jsonb_build_object('holdsExpired', expired, 'idempotencyKeysDeleted', deleted,
                         'offersPassed', passed));
  end if;
  return jsonb_build_object('holdsExpired', expired, 'idempotencyKeysDeleted', deleted,
                            'offersPassed', passed);
end
$$;

grant execute on function api.hold_sessions(jsonb, jsonb), api.release_hold(jsonb, jsonb),
  api.confirm_booking(jsonb, jsonb), api.schedule(jsonb, jsonb), api.cancel_session(jsonb, jsonb),
  api.save_session_notes(jsonb, jsonb), api.clinic_time_zone(jsonb, jsonb), api.sweep(jsonb, jsonb)
  to wardline_authenticator;
