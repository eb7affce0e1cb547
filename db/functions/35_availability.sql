-- Availability (the availability function, and the hours check of api.hold_sessions): a
-- clinician's weekly hours, date overrides and time off at the current clinic, read in the
-- clinic's time zone, and the free slots they leave beside the clinician's sessions in every
-- clinic. Local hours become instants with `at time zone`, so 09:00–17:00 stays 09:00–17:00
-- local across a DST change. Time is worked on as multiranges: range_agg merges, `-` removes.

-- When the clinician is open for sessions at the current clinic: each local date's ranges
-- (its overrides if it has any, else its weekday's hours) for the dates of [window_from,
-- window_to), minus this clinic's time off within that window. Whole ranges, not cut to the
-- window, so slots keep the grid of the hours; exact only within the window. PL/pgSQL: its
-- queries are planned once per connection.
create or replace function app.open_time(
  clinician uuid, window_from timestamptz, window_to timestamptz
) returns tstzmultirange
language plpgsql stable
as $$
declare
  org uuid := auth.org_id();
  zone text := (select c.time_zone from app.clinics c where c.id = org);
  working tstzmultirange;
  away tstzmultirange;
begin
  select coalesce(range_agg(tstzrange((d.day + r.starts) at time zone zone,
                                      (d.day + r.ends) at time zone zone)), '{}')
  into working
  from generate_series((window_from at time zone zone)::date::timestamp,
                       (window_to at time zone zone)::date::timestamp,
                       interval '1 day') as g (midnight)
  cross join lateral (select g.midnight::date as day) d
  cross join lateral (
    select o.starts, o.ends from app.availability_overrides o
    where o.org_id = org and o.clinician_id = clinician and o.day = d.day
    union all
    select h.starts, h.ends from app.availability_hours h
    where h.org_id = org and h.clinician_id = clinician
      and h.weekday = extract(isodow from d.day)::smallint
      and not exists (select 1 from app.availability_overrides o
                      where o.org_id = org and o.clinician_id = clinician and o.day = d.day)
  ) r
  -- A closed date's row has no times: it only keeps the weekday's hours out.
  where r.starts is not null;

  select coalesce(range_agg(tstzrange(t.starts_at, t.ends_at)), '{}') into away
  from app.time_off t
  where t.org_id = org and t.clinician_id = clinician
    and t.starts_at < window_to and t.ends_at > window_from;

  return working - away;
end
$$;

-- The time a clinician of the caller's clinic is taken within [window_from, window_to): live
-- holds and booked sessions in every clinic, merged, cut to the window — no ids, statuses or
-- clinics, and nothing at all for anyone but a clinician of the caller's clinic asked by its
-- staff. SECURITY DEFINER (as wardline_auth) because the sessions may be in a clinic the
-- caller cannot see, like app.slot_conflicts. Searches by start time, not `&&` (0011).
create or replace function app.busy_time(
  clinician uuid, window_from timestamptz, window_to timestamptz
) returns tstzmultirange
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
begin
  if not (auth.is_staff() and exists (
    select 1 from app.clinic_memberships m
    where m.org_id = auth.org_id() and m.clinician_id = clinician)) then
    return '{}'::tstzmultirange;
  end if;
  return (
    select coalesce(range_agg(tstzrange(s.starts_at, s.ends_at)), '{}')
           * tstzmultirange(tstzrange(window_from, window_to))
    from app.sessions s
    where s.clinician_id = clinician and s.status in ('held', 'scheduled')
      and s.starts_at > window_from - interval '12 hours'
      and s.starts_at < window_to and s.ends_at > window_from
      and (s.status = 'scheduled' or s.hold_expires_at > now()));
end
$$;

-- A clinician (therapist or prescriber) of the current clinic, else a 404 naming `field`:
-- one of another clinic answers like one that does not exist.
create or replace function app.require_clinician_here(clinician uuid, field text) returns void
language plpgsql stable
as $$
begin
  if not exists (
    select 1 from app.clinic_memberships m
    where m.org_id = (select auth.org_id()) and m.clinician_id = clinician
      and m.active and m.kind in ('therapist', 'prescriber')
  ) then
    perform api.fail('not_found', 'No clinician with this id works in this clinic.', field);
  end if;
end
$$;

-- Who changes a clinician's availability: the clinician, or an admin of the clinic (the
-- policies say the same).
create or replace function app.require_availability_editor(clinician uuid) returns void
language plpgsql stable
as $$
begin
  perform app.require_clinician_here(clinician, 'id');
  if clinician is distinct from (select auth.uid()) and not (select auth.is_admin()) then
    perform api.fail('forbidden',
      'A clinician changes only their own availability; an admin anyone''s.', 'id');
  end if;
end
$$;

-- The hours check of a hold: every slot inside the clinician's open time at the current
-- clinic, else a 422 `outside_hours` naming `field`. A clinician who published no weekly
-- hours here is not restricted. `override` is an admin's decision to hold outside the hours
-- anyway (a 403 for anyone else), audited when it was needed; it rolls back with the hold.
create or replace function app.require_within_hours(
  clinician uuid, slots tstzrange[], override boolean, field text
) returns void
language plpgsql
as $$
declare
  outside bigint;
begin
  if override and not (select auth.is_admin()) then
    perform api.fail('forbidden', 'Only an admin may hold outside published hours.');
  end if;
  if not exists (select 1 from app.availability_hours h
                 where h.org_id = (select auth.org_id()) and h.clinician_id = clinician) then
    return;
  end if;
  select s.n into outside
  from unnest(slots) with ordinality as s (during, n)
  where not app.open_time(clinician, lower(s.during), upper(s.during)) @> s.during
  order by s.n
  limit 1;
  if not found then
    return;
  end if;
  if override then
    perform audit.record('session.hold.outside_hours', 'clinician', clinician::text, 'success',
      jsonb_build_object('occurrence', outside));
    return;
  end if;
  perform api.fail('outside_hours', format(
    'Occurrence %s is outside the clinician''s published hours or in their time off; an admin may hold it with outside_hours.',
    outside), field);
end
$$;

grant execute on function app.open_time(uuid, timestamptz, timestamptz),
  app.busy_time(uuid, timestamptz, timestamptz), app.require_clinician_here(uuid, text),
  app.require_availability_editor(uuid), app.require_within_hours(uuid, tstzrange[], boolean, text)
  to app_user;

-- A clinician's availability at the current clinic as the API shows it: the clinic's zone
-- and booking rules, weekly hours, date overrides (no ranges: closed) and time off not yet
-- over.
create or replace function app.availability_json(clinician uuid) returns jsonb
language plpgsql stable
as $$
declare
  org uuid := auth.org_id();
begin
  return (
    select jsonb_build_object(
      'clinicianId', clinician,
      'timeZone', c.time_zone,
      'bufferMinutes', c.buffer_minutes,
      'minimumNoticeMinutes', c.min_notice_minutes,
      'slotStepMinutes', c.slot_step_minutes,
      'weeklyHours', coalesce((
        select jsonb_agg(jsonb_build_object(
                 'weekday', h.weekday,
                 'start', to_char(h.starts, 'HH24:MI'),
                 'end', to_char(h.ends, 'HH24:MI')) order by h.weekday, h.starts)
        from app.availability_hours h
        where h.org_id = org and h.clinician_id = clinician), '[]'::jsonb),
      'overrides', coalesce((
        select jsonb_agg(jsonb_build_object('date', o.day, 'ranges', o.ranges) order by o.day)
        from (
          select o.day, coalesce(jsonb_agg(jsonb_build_object(
                   'start', to_char(o.starts, 'HH24:MI'),
                   'end', to_char(o.ends, 'HH24:MI')) order by o.starts)
                   filter (where o.starts is not null), '[]'::jsonb) as ranges
          from app.availability_overrides o
          where o.org_id = org and o.clinician_id = clinician
          group by o.day
        ) o), '[]'::jsonb),
      'timeOff', coalesce((
        select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                 'id', t.id,
                 'startTime', app.iso(t.starts_at),
                 'endTime', app.iso(t.ends_at),
                 'reason', t.reason)) order by t.starts_at, t.id)
        from app.time_off t
        where t.org_id = org and t.clinician_id = clinician and t.ends_at > now()), '[]'::jsonb))
    from app.clinics c where c.id = org);
end
$$;
grant execute on function app.availability_json(uuid) to app_user;

-- GET /availability (staff). input: {clinicianId, from, to, duration (minutes)}, checked by the
-- function (window at most 31 days). Slots of `duration` on the clinic's grid from the start
-- of each open range, inside [from, to), no sooner than the minimum notice, and clear of the
-- clinician's holds and sessions in every clinic widened by the clinic's buffer. A clinician
-- with no hours here has no slots.
create or replace function api.availability(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
  window_from timestamptz := (input ->> 'from')::timestamptz;
  window_to timestamptz := (input ->> 'to')::timestamptz;
  duration interval := make_interval(mins => (input ->> 'duration')::integer);
  clinic record;
  open tstzmultirange;
  busy tstzmultirange;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_clinician_here(clinician, 'clinicianId');
  select c.time_zone, make_interval(mins => c.buffer_minutes) as buffer,
         now() + make_interval(mins => c.min_notice_minutes) as earliest,
         make_interval(mins => c.slot_step_minutes) as step
  into clinic
  from app.clinics c where c.id = (select auth.org_id());

  open := app.open_time(clinician, window_from, window_to);
  select coalesce(range_agg(tstzrange(lower(b) - clinic.buffer, upper(b) + clinic.buffer)), '{}')
  into busy
  from unnest(app.busy_time(clinician, window_from - clinic.buffer, window_to + clinic.buffer)) b;

  return jsonb_build_object(
    'clinicianId', clinician,
    'timeZone', clinic.time_zone,
    'duration', (input ->> 'duration')::integer,
    'slots', coalesce((
      select jsonb_agg(jsonb_build_object('startTime', app.iso(t), 'endTime', app.iso(t + duration))
                       order by t)
      from unnest(open) r
      cross join lateral generate_series(lower(r), upper(r) - duration, clinic.step) t
      where t >= window_from and t + duration <= window_to and t >= clinic.earliest
        and not busy && tstzrange(t, t + duration)), '[]'::jsonb));
end
$$;

-- GET /clinicians/{id}/availability (staff of the clinic). input: {clinicianId}.
create or replace function api.clinician_availability(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_clinician_here(clinician, 'id');
  return app.availability_json(clinician);
end
$$;

-- PUT /clinicians/{id}/availability: replaces the weekly hours and date overrides, together.
-- input: {clinicianId, weeklyHours: [{weekday, start, end}], overrides: [{date, ranges:
-- [{start, end}]}]}, checked by the function (an override without ranges closes its date).
-- Overlaps the function missed are refused by the exclusion constraints (409).
create or replace function api.set_availability(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
  org uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_availability_editor(clinician);
  org := auth.org_id();
  delete from app.availability_hours h where h.org_id = org and h.clinician_id = clinician;
  delete from app.availability_overrides o where o.org_id = org and o.clinician_id = clinician;
  insert into app.availability_hours (org_id, clinician_id, weekday, starts, ends)
  select org, clinician, (h ->> 'weekday')::smallint, (h ->> 'start')::time, (h ->> 'end')::time
  from jsonb_array_elements(input -> 'weeklyHours') h;
  insert into app.availability_overrides (org_id, clinician_id, day, starts, ends)
  select org, clinician, (o ->> 'date')::date, (r ->> 'start')::time, (r ->> 'end')::time
  from jsonb_array_elements(input -> 'overrides') o
  -- No ranges: one row without times, closing the date.
  left join lateral jsonb_array_elements(o -> 'ranges') r on true;
  perform audit.record('availability.update', 'clinician', clinician::text, 'success',
    jsonb_build_object('weeklyHours', jsonb_array_length(input -> 'weeklyHours'),
                       'overrides', jsonb_array_length(input -> 'overrides')));
  return app.availability_json(clinician);
end
$$;

-- POST /clinicians/{id}/time-off. input: {clinicianId, start, end, reason?}. The audit event
-- leaves the reason out.
create or replace function api.add_time_off(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
  added record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_availability_editor(clinician);
  insert into app.time_off (org_id, clinician_id, starts_at, ends_at, reason, created_by)
  values ((select auth.org_id()), clinician, (input ->> 'start')::timestamptz,
          (input ->> 'end')::timestamptz, input ->> 'reason', (select auth.uid()))
  returning id, starts_at, ends_at, reason into added;
  perform audit.record('availability.time_off.add', 'time_off', added.id::text, 'success',
    jsonb_build_object('clinicianId', clinician));
  return jsonb_strip_nulls(jsonb_build_object(
    'id', added.id, 'clinicianId', clinician, 'startTime', app.iso(added.starts_at),
    'endTime', app.iso(added.ends_at), 'reason', added.reason));
end
$$;

-- DELETE /clinicians/{id}/time-off/{timeOffId}. input: {clinicianId, timeOffId}.
create or replace function api.remove_time_off(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
  target uuid := (input ->> 'timeOffId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_availability_editor(clinician);
  delete from app.time_off t where t.id = target and t.clinician_id = clinician;
  if not found then
    perform api.fail('not_found', 'No time off with this id for this clinician.', 'timeOffId');
  end if;
  perform audit.record('availability.time_off.remove', 'time_off', target::text, 'success',
    jsonb_build_object('clinicianId', clinician));
  return jsonb_build_object('id', target, 'removed', true);
end
$$;

-- PUT /availability/settings (admins): the clinic's buffer, minimum notice and slot grid.
-- input: {bufferMinutes, minimumNoticeMinutes, slotStepMinutes}, checked by the function.
create or replace function api.set_availability_settings(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
declare
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  update app.clinics c
  set buffer_minutes = (input ->> 'bufferMinutes')::integer,
      min_notice_minutes = (input ->> 'minimumNoticeMinutes')::integer,
      slot_step_minutes = (input ->> 'slotStepMinutes')::integer
  where c.id = (select auth.org_id())
  returning jsonb_build_object(
    'timeZone', c.time_zone, 'bufferMinutes', c.buffer_minutes,
    'minimumNoticeMinutes', c.min_notice_minutes, 'slotStepMinutes', c.slot_step_minutes)
  into result;
  perform audit.record('availability.settings.update', 'clinic', (select auth.org_id())::text,
    'success', result - 'timeZone');
  return result;
end
$$;

grant execute on function api.availability(jsonb, jsonb),
  api.clinician_availability(jsonb, jsonb), api.set_availability(jsonb, jsonb),
  api.add_time_off(jsonb, jsonb), api.remove_time_off(jsonb, jsonb),
  api.set_availability_settings(jsonb, jsonb)
  to wardline_authenticator;
