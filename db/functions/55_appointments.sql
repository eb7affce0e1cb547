-- Appointments from both sides (issue 18): a patient confirms, cancels (until the clinic's
-- late-cancellation window), asks to reschedule and waits for freed time; staff move
-- sessions, decide requests and record attendance. Every move goes through the calendar
-- locks and the exclusion constraints of booking (30_booking.sql).

-- A session as the portal shows it to its patient: no notes, no billing. cancellableUntil is
-- when the portal stops taking a cancellation (the clinic's late-cancellation window).
create or replace function app.portal_appointment_json(
  s app.sessions, c app.clinicians, sv app.services, late_cancel_hours integer
) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', s.id,
    'status', s.status,
    'startTime', app.iso(s.starts_at),
    'endTime', app.iso(s.ends_at),
    'confirmedAt', app.iso(s.confirmed_at),
    'cancellableUntil', case when s.status = 'scheduled'
                             then app.iso(s.starts_at - make_interval(hours => late_cancel_hours))
                        end,
    'clinician', jsonb_build_object('id', s.clinician_id, 'firstName', c.first_name,
                                    'lastName', c.last_name),
    'service', case when sv.id is not null then jsonb_build_object('id', sv.id, 'name', sv.name)
               end))
$$;
grant execute on function
  app.portal_appointment_json(app.sessions, app.clinicians, app.services, integer) to app_user;

-- One of the signed-in patient's sessions as the portal shows it.
create or replace function app.portal_appointment(session uuid) returns jsonb
language sql stable
as $$
  select app.portal_appointment_json(s, c, sv, k.late_cancel_hours)
  from app.sessions s
  join app.clinics k on k.id = s.org_id
  left join app.clinicians c on c.id = s.clinician_id
  left join app.services sv on sv.id = s.service_id
  where s.id = session
$$;
grant execute on function app.portal_appointment(uuid) to app_user;

-- The signed-in patient's session `session`, locked for a change; 404 naming `id` when it is
-- not theirs (RLS shows a patient only their own).
create or replace function app.portal_lock_session(session uuid) returns app.sessions
language plpgsql
as $$
declare
  found_row app.sessions;
begin
  select * into found_row from app.sessions s
  where s.id = session and s.status in ('scheduled', 'completed', 'no_show', 'cancelled')
  for update;
  if not found then
    perform api.fail('session_not_found', 'No appointment with this id is yours.', 'id');
  end if;
  return found_row;
end
$$;
grant execute on function app.portal_lock_session(uuid) to app_user;

-- Offers time of `clinician` freed in clinic `org` (a cancellation, a move) to the oldest
-- waiting waitlist entry whose window holds it and whose patient is free then: a hold for
-- that patient lasting the clinic's offer time, and never past the slot's start. Nothing is
-- offered that starts within the clinic's minimum notice or falls in the clinician's time off
-- there. Entries are taken one at a time, locked `SKIP LOCKED`, so two slots freed at once go
-- to two entries. The constraints decide: an entry whose patient is busy is passed over; if
-- the clinician's time was taken meanwhile, nobody gets it. Returns the offer's session id,
-- or null. SECURITY DEFINER (as wardline_auth): the caller (a patient cancelling, a
-- clinician, the sweep) cannot read other patients' entries or insert holds for them; it acts
-- only for the request's own clinic or for a job.
create or replace function app.offer_freed_time(
  org uuid, clinician uuid, freed tstzrange, service uuid
) returns uuid
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  entry record;
  tried uuid[] := '{}'::uuid[];
  offer uuid;
  rules record;
  violated text;
begin
  if org is distinct from auth.org_id() and not auth.is_service() then
    return null;
  end if;
  select c.waitlist_offer_minutes, c.min_notice_minutes into rules
  from app.clinics c where c.id = org;
  if lower(freed) <= now() + make_interval(mins => rules.min_notice_minutes)
     or exists (select 1 from app.time_off o
                where o.org_id = org and o.clinician_id = clinician
                  and o.starts_at < upper(freed) and o.ends_at > lower(freed)) then
    return null;
  end if;
  loop
    -- One entry per query: a FOR loop would fetch, and lock, ten at a time.
    select w.id, w.patient_id into entry
    from app.waitlist_entries w
    join app.patients p on p.id = w.patient_id and p.deleted_at is null
    where w.clinician_id = clinician and w.status = 'waiting' and w.org_id = org
      and w.earliest <= lower(freed) and w.latest >= upper(freed)
      and w.id <> all (tried)
    order by w.created_at, w.id
    limit 1
    for update of w skip locked;
    if not found then
      return null;
    end if;
    tried := tried || entry.id;
    begin
      insert into app.sessions (org_id, clinician_id, patient_id, status, during, hold_key,
                                hold_group, hold_expires_at, occurrence, service_id,
                                waitlist_entry_id, created_by)
      values (org, clinician, entry.patient_id, 'held', freed, gen_random_uuid(),
              gen_random_uuid(),
              least(now() + make_interval(mins => rules.waitlist_offer_minutes), lower(freed)),
              1, service, entry.id, coalesce(auth.uid(), clinician))
      returning id into offer;
    exception when exclusion_violation then
      get stacked diagnostics violated = constraint_name;
      if violated = 'sessions_clinician_busy' then
        return null;
      end if;
      continue;
    end;
    update app.waitlist_entries w set status = 'offered', updated_at = now()
    where w.id = entry.id;
    perform app.queue_session_notice('waitlist.offer', org, entry.patient_id, offer, lower(freed));
    perform audit.record_in(org, 'waitlist.offer', 'waitlist_entry', entry.id::text, 'success',
      jsonb_build_object('sessionId', offer));
    return offer;
  end loop;
end
$$;
grant execute on function app.offer_freed_time(uuid, uuid, tstzrange, uuid) to app_user,
  app_service;
grant execute on function audit.record_in(uuid, text, text, text, text, jsonb, uuid) to wardline_auth;

-- 409 naming `field` when any of `sessions` is a waitlist offer: it is the patient's to claim
-- or turn down (the portal), not staff's to confirm or release, which would leave its entry
-- waiting on an offer that is gone.
create or replace function app.refuse_waitlist_offers(sessions uuid[], field text) returns void
language plpgsql stable
as $$
begin
  if exists (select 1 from app.sessions s
             where s.id = any (sessions) and s.waitlist_entry_id is not null) then
    perform api.fail('waitlist_offer',
      'This hold is a waitlist offer: the patient claims or turns it down in the portal.', field);
  end if;
end
$$;
grant execute on function app.refuse_waitlist_offers(uuid[], text) to app_user;

-- A patient may only confirm or cancel their own booked session, or claim or turn down their
-- own waitlist offer: never move a session, recode it, or revive one that has ended. Whatever
-- a portal function does, the row says no (42501). Policies cannot compare old and new rows;
-- this trigger can.
create or replace function app.sessions_patient_guard() returns trigger
language plpgsql
as $$
begin
  if not ((old.status = 'scheduled' and new.status in ('scheduled', 'cancelled')
           and new.service_id is not distinct from old.service_id
           and new.cpt_code is not distinct from old.cpt_code
           and new.cpt_units is not distinct from old.cpt_units)
          or (old.status = 'held' and old.waitlist_entry_id is not null
              and new.status in ('scheduled', 'released')
              and new.service_id is not distinct from old.service_id))
     or new.during <> old.during then
    raise exception using errcode = '42501',
      message = 'a patient only confirms, cancels, claims or turns down their own appointments';
  end if;
  return new;
end
$$;
create trigger sessions_patient_guard before update on app.sessions
  for each row when (auth.is_patient()) execute function app.sessions_patient_guard();

-- hold-cleanup: entries whose offer lapsed (its hold expired, by the sweep or by a booking
-- over it) are passed, and the time goes to the next entry when it is still free. Returns
-- how many offers were passed on. SECURITY DEFINER (as wardline_auth), for the sweep only.
create or replace function app.pass_lapsed_offers(batch integer) returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  lapsed record;
  passed integer := 0;
begin
  if not auth.is_service() then
    return 0;
  end if;
  for lapsed in
    select w.id, s.org_id, s.clinician_id, s.during, s.service_id from app.waitlist_entries w
    join app.sessions s on s.waitlist_entry_id = w.id
    where w.status = 'offered'
      and (s.status = 'expired' or (s.status = 'held' and s.hold_expires_at <= now()))
    order by w.updated_at
    limit batch
    for update of w skip locked
  loop
    update app.sessions s set status = 'expired', updated_at = now()
    where s.waitlist_entry_id = lapsed.id and s.status = 'held';
    update app.waitlist_entries w set status = 'passed', updated_at = now()
    where w.id = lapsed.id;
    perform app.offer_freed_time(lapsed.org_id, lapsed.clinician_id, lapsed.during,
                                 lapsed.service_id);
    perform audit.record_in(lapsed.org_id, 'waitlist.offer.lapse', 'waitlist_entry',
      lapsed.id::text, 'success', '{}'::jsonb);
    passed := passed + 1;
  end loop;
  return passed;
end
$$;
grant execute on function app.pass_lapsed_offers(integer) to app_service;

-- Moves booked session `session` (locked by the caller) to `new_time`, keeping its id, its
-- patient and clinician, and its history: inside the clinician's published hours (a 422
-- naming `field`, unless an admin overrides), calendar locks in booking's order, stale holds
-- in the way expired, a 409 slot_unavailable when the time is taken (in any
-- clinic, told as booking tells it), the CPT coding redone for the new length, the patient's
-- confirmation cleared. The time it leaves is offered to the waitlist. Returns the session as
-- the API shows it.
create or replace function app.move_session(
  session uuid, new_time tstzrange, outside_hours boolean, field text
) returns jsonb
language plpgsql
as $$
declare
  target app.sessions;
  moved app.sessions;
  slots tstzrange[] := array[new_time];
begin
  select * into strict target from app.sessions s where s.id = session;
  perform app.require_within_hours(target.clinician_id, slots, outside_hours, field);
  perform app.lock_calendars(target.clinician_id, target.patient_id);
  perform app.expire_holds_in_the_way(target.clinician_id, target.patient_id, slots);
  perform app.fail_if_taken(target.clinician_id, target.patient_id, slots, target.id);
  begin
    update app.sessions s
    set during = new_time, confirmed_at = null, updated_at = now(),
        (cpt_code, cpt_units) = (select c.code, c.units
                                 from app.services sv, app.cpt_coding(sv.cpt_code, new_time) c
                                 where sv.id = s.service_id)
    where s.id = target.id
    returning * into moved;
  exception when exclusion_violation then
    perform app.fail_if_taken(target.clinician_id, target.patient_id, slots, target.id);
    raise;
  end;
  -- The new time gets its own reminders.
  perform app.forget_reminders(target.id);
  perform app.queue_session_notice('session.changed', target.org_id, target.patient_id, target.id,
                                   lower(new_time));
  if not target.during && new_time then
    perform app.offer_freed_time(target.org_id, target.clinician_id, target.during,
                                 target.service_id);
  end if;
  -- Last: the audit append locks the clinic's chain head until commit.
  perform audit.record('session.reschedule', 'session', target.id::text, 'success',
    jsonb_build_object('from', jsonb_build_object('startTime', app.iso(target.starts_at),
                                                  'endTime', app.iso(target.ends_at)),
                       'to', jsonb_build_object('startTime', app.iso(lower(new_time)),
                                                'endTime', app.iso(upper(new_time)))));
  return app.session_json(moved);
end
$$;
grant execute on function app.move_session(uuid, tstzrange, boolean, text) to app_user;

-- POST /api/portal/appointments/{id}/confirm. input: {host, sessionId}. The patient says
-- they will come; confirming again changes nothing.
create or replace function api.portal_confirm_appointment(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
declare
  target record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  select s.id, s.status, s.starts_at, s.confirmed_at into target
  from app.portal_lock_session((input ->> 'sessionId')::uuid) s;
  if target.status <> 'scheduled' or target.starts_at <= now() then
    perform api.fail('not_confirmable',
      'Only an appointment that is booked and has not started can be confirmed.', 'id');
  end if;
  if target.confirmed_at is null then
    update app.sessions s set confirmed_at = now(), updated_at = now() where s.id = target.id;
    perform audit.record('session.patient_confirm', 'session', target.id::text);
  end if;
  return app.portal_appointment(target.id);
end
$$;

-- POST /api/portal/appointments/{id}/cancel. input: {host, sessionId, reason?}. Until the
-- clinic's late-cancellation window opens; inside it, 409 late_cancellation with the
-- deadline (staff may still cancel). Cancelling again returns the cancelled appointment. The
-- freed time is offered to the waitlist.
create or replace function api.portal_cancel_appointment(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
declare
  target record;
  deadline timestamptz;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  target := app.portal_lock_session((input ->> 'sessionId')::uuid);
  if target.status = 'cancelled' then
    return app.portal_appointment(target.id);
  end if;
  if target.status <> 'scheduled' then
    perform api.fail('not_cancellable', format(
      'A %s appointment cannot be cancelled.', replace(target.status, '_', '-')), 'id');
  end if;
  select target.starts_at - make_interval(hours => c.late_cancel_hours) into deadline
  from app.clinics c where c.id = target.org_id;
  if now() >= deadline then
    perform api.fail_with('late_cancellation', format(
      'Appointments can be cancelled in the portal until %s; please call the clinic.',
      app.iso(deadline)), jsonb_build_object('deadline', app.iso(deadline)));
  end if;
  update app.sessions s
  set status = 'cancelled', updated_at = now(),
      cancel_reason = coalesce(input ->> 'reason', 'Cancelled by the patient in the portal.')
  where s.id = target.id;
  update app.reschedule_requests r set status = 'withdrawn'
  where r.session_id = target.id and r.status = 'pending';
  perform app.queue_session_notice('session.cancelled', target.org_id, target.patient_id,
                                   target.id, target.starts_at);
  perform app.offer_freed_time(target.org_id, target.clinician_id, target.during,
                               target.service_id);
  perform audit.record('session.patient_cancel', 'session', target.id::text);
  return app.portal_appointment(target.id);
end
$$;

-- A reschedule request as both sides see it.
create or replace function app.reschedule_request_json(r app.reschedule_requests) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', r.id,
    'sessionId', r.session_id,
    'patientId', r.patient_id,
    'clinicianId', r.clinician_id,
    'status', r.status,
    'proposedStartTimes', (select jsonb_agg(app.iso(t) order by n)
                           from unnest(r.proposed) with ordinality as p (t, n)),
    'note', r.note,
    'chosenStartTime', app.iso(r.chosen),
    'declineReason', r.decline_reason,
    'decidedAt', app.iso(r.decided_at),
    'createdAt', app.iso(r.created_at)))
$$;
grant execute on function app.reschedule_request_json(app.reschedule_requests) to app_user;

-- POST /api/portal/appointments/{id}/reschedule-request. input: {host, sessionId, startTimes
-- (1–5 future instants, checked by the function), note?}. Replaces a pending request of the
-- same session.
create or replace function api.portal_request_reschedule(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
declare
  target record;
  created record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  target := app.portal_lock_session((input ->> 'sessionId')::uuid);
  if target.status <> 'scheduled' or target.starts_at <= now() then
    perform api.fail('not_reschedulable',
      'Only an appointment that is booked and has not started can be moved.', 'id');
  end if;
  update app.reschedule_requests r set status = 'withdrawn'
  where r.session_id = target.id and r.status = 'pending';
  insert into app.reschedule_requests (org_id, session_id, patient_id, clinician_id, proposed,
                                       note)
  values (target.org_id, target.id, target.patient_id, target.clinician_id,
          array(select t::timestamptz from jsonb_array_elements_text(input -> 'startTimes') t),
          input ->> 'note')
  returning * into created;
  perform audit.record('session.reschedule_request', 'reschedule_request', created.id::text,
    'success', jsonb_build_object('sessionId', target.id,
                                  'proposals', cardinality(created.proposed)));
  return (select app.reschedule_request_json(r) from app.reschedule_requests r
          where r.id = created.id);
end
$$;

-- A waitlist entry as its patient sees it, with its live offer.
create or replace function app.waitlist_entry_json(w app.waitlist_entries) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', w.id,
    'clinicianId', w.clinician_id,
    'earliest', app.iso(w.earliest),
    'latest', app.iso(w.latest),
    'status', w.status,
    'createdAt', app.iso(w.created_at),
    'offer', (select jsonb_build_object('sessionId', s.id, 'startTime', app.iso(s.starts_at),
                                        'endTime', app.iso(s.ends_at),
                                        'expiresAt', app.iso(s.hold_expires_at))
              from app.sessions s
              where s.waitlist_entry_id = w.id and s.status = 'held'
                and s.hold_expires_at > now()),
    'sessionId', (select s.id from app.sessions s
                  where s.waitlist_entry_id = w.id and s.status <> 'held'
                    and w.status = 'booked')))
$$;
grant execute on function app.waitlist_entry_json(app.waitlist_entries) to app_user;

create or replace function app.waitlist_entry(entry uuid) returns jsonb
language sql stable
as $$ select app.waitlist_entry_json(w) from app.waitlist_entries w where w.id = entry $$;
grant execute on function app.waitlist_entry(uuid) to app_user;

-- Whether `clinician` is an active, approved clinician of the current clinic, for a patient
-- (who reads no memberships). SECURITY DEFINER (as wardline_auth); says nothing about other
-- clinics.
create or replace function app.clinician_takes_patients_here(clinician uuid) returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return exists (
    select 1 from app.clinic_memberships m
    where m.org_id = auth.org_id() and m.clinician_id = clinician
      and m.active and m.approved and m.kind in ('therapist', 'prescriber'));
end
$$;
grant execute on function app.clinician_takes_patients_here(uuid) to app_user;

-- POST /api/portal/waitlist. input: {host, clinicianId, earliest, latest}. Joining again for
-- the same clinician and window returns the entry already waiting.
create or replace function api.portal_join_waitlist(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'clinicianId')::uuid;
  entry uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  if (select count(*) from app.waitlist_entries w
      where w.patient_id = (select auth.patient_id()) and w.status in ('waiting', 'offered'))
     >= 10 then
    perform api.fail('waitlist_full',
      'You are waiting in 10 places already; leave one to join another.', 'clinicianId');
  end if;
  if not app.clinician_takes_patients_here(clinician) then
    perform api.fail('clinician_inactive',
      'The clinician is not an active clinician of this clinic.', 'clinicianId');
  end if;
  insert into app.waitlist_entries (org_id, patient_id, clinician_id, earliest, latest)
  values ((select auth.org_id()), (select auth.patient_id()), clinician,
          (input ->> 'earliest')::timestamptz, (input ->> 'latest')::timestamptz)
  on conflict (patient_id, clinician_id, earliest, latest)
    where status in ('waiting', 'offered') do nothing
  returning id into entry;
  if entry is null then
    select w.id into entry from app.waitlist_entries w
    where w.patient_id = (select auth.patient_id()) and w.clinician_id = clinician
      and w.earliest = (input ->> 'earliest')::timestamptz
      and w.latest = (input ->> 'latest')::timestamptz and w.status in ('waiting', 'offered');
  else
    perform audit.record('waitlist.join', 'waitlist_entry', entry::text, 'success',
      jsonb_build_object('clinicianId', clinician));
  end if;
  return app.waitlist_entry(entry);
end
$$;

-- GET /api/portal/waitlist. input: {host}. The patient's entries still waiting or offered,
-- and those of the last 30 days that ended, newest first.
create or replace function api.portal_waitlist(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return jsonb_build_object('entries', coalesce((
    select jsonb_agg(app.waitlist_entry_json(w) order by w.created_at desc, w.id)
    from app.waitlist_entries w
    where w.patient_id = (select auth.patient_id())
      and (w.status in ('waiting', 'offered') or w.updated_at > now() - interval '30 days')),
    '[]'::jsonb));
end
$$;

-- The signed-in patient's entry `entry`, locked; 404 naming `id` when it is not theirs.
create or replace function app.portal_lock_entry(entry uuid) returns app.waitlist_entries
language plpgsql
as $$
declare
  found_row app.waitlist_entries;
begin
  select * into found_row from app.waitlist_entries w where w.id = entry for update;
  if not found then
    perform api.fail('waitlist_entry_not_found', 'No waitlist entry with this id is yours.',
                     'id');
  end if;
  return found_row;
end
$$;
grant execute on function app.portal_lock_entry(uuid) to app_user;

-- DELETE /api/portal/waitlist/{id}. input: {host, entryId}. Leaves the waitlist; a live offer
-- is turned down and its time goes to the next entry. Leaving again changes nothing.
create or replace function api.portal_leave_waitlist(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  entry record;
  offer record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  entry := app.portal_lock_entry((input ->> 'entryId')::uuid);
  if entry.status in ('waiting', 'offered') then
    update app.waitlist_entries w set status = 'left', updated_at = now() where w.id = entry.id;
    perform audit.record('waitlist.leave', 'waitlist_entry', entry.id::text);
    -- Live or lapsed but not yet swept: either way the time passes on.
    update app.sessions s set status = 'released', updated_at = now()
    where s.waitlist_entry_id = entry.id and s.status = 'held'
    returning s.org_id, s.clinician_id, s.during, s.service_id into offer;
    if found then
      perform app.offer_freed_time(offer.org_id, offer.clinician_id, offer.during,
                                   offer.service_id);
    end if;
  end if;
  return app.waitlist_entry(entry.id);
end
$$;

-- POST /api/portal/waitlist/{id}/claim. input: {host, entryId}. Books the entry's live offer:
-- its hold becomes a session. The entry's row lock makes concurrent claims take turns; a
-- second claim of a booked entry returns the booked session. 409 no_offer when the entry has
-- no offer, offer_expired when it lapsed.
create or replace function api.portal_claim_offer(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  entry record;
  offer record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  entry := app.portal_lock_entry((input ->> 'entryId')::uuid);
  select s.id, s.status, s.hold_expires_at, s.org_id, s.patient_id, s.starts_at into offer
  from app.sessions s where s.waitlist_entry_id = entry.id for update;
  if entry.status = 'booked' then
    return app.portal_appointment(offer.id);
  end if;
  if entry.status <> 'offered' or not found then
    perform api.fail('no_offer', 'This waitlist entry has no offer to claim.', 'id');
  end if;
  if offer.status <> 'held' or offer.hold_expires_at <= now() or offer.starts_at <= now() then
    perform api.fail('offer_expired',
      'This offer has lapsed and passes to the next patient waiting.', 'id');
  end if;
  update app.sessions s
  set status = 'scheduled', updated_at = now(), confirmed_at = now(),
      (cpt_code, cpt_units) = (select c.code, c.units
                               from app.services sv, app.cpt_coding(sv.cpt_code, s.during) c
                               where sv.id = s.service_id)
  where s.id = offer.id;
  update app.waitlist_entries w set status = 'booked', updated_at = now() where w.id = entry.id;
  perform app.queue_session_notice('session.booked', offer.org_id, offer.patient_id, offer.id,
                                   offer.starts_at);
  perform audit.record('waitlist.claim', 'session', offer.id::text, 'success',
    jsonb_build_object('waitlistEntryId', entry.id));
  return app.portal_appointment(offer.id);
end
$$;

-- POST /sessions/{id}/reschedule. input: {sessionId, start, end, outsideHours}. Staff move a
-- booked session (see app.move_session).
create or replace function api.reschedule_session(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target record;
  moved jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select s.id, s.status into target from app.sessions s
  where s.id = (input ->> 'sessionId')::uuid
  for update;
  if not found then
    perform api.fail('session_not_found', 'No session with this id is visible to you.', 'id');
  end if;
  if target.status <> 'scheduled' then
    perform api.fail('not_reschedulable', format(
      'A %s session cannot be moved.', replace(target.status, '_', '-')), 'id');
  end if;
  moved := app.move_session(target.id, tstzrange((input ->> 'start')::timestamptz,
                                                 (input ->> 'end')::timestamptz, '[)'),
                            coalesce((input ->> 'outsideHours')::boolean, false), 'start_time');
  -- The patient's pending request is answered by the move.
  update app.reschedule_requests r set status = 'withdrawn'
  where r.session_id = target.id and r.status = 'pending';
  return moved;
end
$$;

-- The staff's view of a reschedule request: the request, its session, its patient's name
-- (when the caller can see the patient).
create or replace function app.staff_request_json(r app.reschedule_requests) returns jsonb
language sql stable
as $$
  select app.reschedule_request_json(r) || jsonb_build_object(
    'session', (select app.session_json(s) from app.sessions s where s.id = r.session_id),
    'patient', (select jsonb_build_object('id', p.id, 'firstName', p.first_name,
                                          'lastName', p.last_name)
                from app.patients p where p.id = r.patient_id))
$$;
grant execute on function app.staff_request_json(app.reschedule_requests) to app_user;

create or replace function app.staff_request(request uuid) returns jsonb
language sql stable
as $$ select app.staff_request_json(r) from app.reschedule_requests r where r.id = request $$;
grant execute on function app.staff_request(uuid) to app_user;

-- GET /reschedule-requests. input: {status, limit, after}. What RLS shows the caller (an
-- admin the clinic's, a clinician those about their own sessions), oldest first, a page at
-- a time; nextCursor is the id of the page's last request. The read audited.
create or replace function api.reschedule_requests(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  wanted text := input ->> 'status';
  page_size integer := (input ->> 'limit')::integer;
  after uuid := (input ->> 'after')::uuid;
  after_created timestamptz;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  if after is not null then
    select r.created_at into after_created from app.reschedule_requests r where r.id = after;
    if not found then
      perform api.fail('invalid_input', 'Pass back the nextCursor of a page.', 'cursor');
    end if;
  end if;
  perform audit.record('reschedule_requests.list', null, null, 'success',
                       jsonb_build_object('status', wanted));
  return (
    with page as (
      select r, row_number() over (order by r.created_at, r.id) as n
      from app.reschedule_requests r
      where r.org_id = (select auth.org_id()) and r.status = wanted
        and (after is null or (r.created_at, r.id) > (after_created, after))
      order by r.created_at, r.id
      limit page_size + 1
    )
    select jsonb_build_object(
      'requests', coalesce(jsonb_agg(app.staff_request_json(p.r) order by p.n)
                             filter (where p.n <= page_size), '[]'::jsonb),
      'nextCursor', case when count(*) > page_size
                         then (array_agg((p.r).id order by p.n))[page_size] end)
    from page p);
end
$$;

-- The request `request` the caller may decide, locked; 404 when RLS hides it, 409 when it is
-- decided already.
create or replace function app.lock_pending_request(request uuid) returns app.reschedule_requests
language plpgsql
as $$
declare
  found_row app.reschedule_requests;
begin
  select * into found_row from app.reschedule_requests r where r.id = request for update;
  if not found then
    perform api.fail('reschedule_request_not_found',
      'No reschedule request with this id is visible to you.', 'id');
  end if;
  if found_row.status <> 'pending' then
    perform api.fail('request_decided', format('This request is %s already.', found_row.status),
                     'id');
  end if;
  return found_row;
end
$$;
grant execute on function app.lock_pending_request(uuid) to app_user;

-- POST /reschedule-requests/{id}/approve. input: {requestId, startTime}: one of the proposed
-- times. Moves the session there (app.move_session: a 409 when the time was taken meanwhile,
-- and the request stays pending) and marks the request approved, in one transaction.
create or replace function api.approve_reschedule(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  request record;
  target record;
  chosen_start timestamptz := (input ->> 'startTime')::timestamptz;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  -- The session first, then the request: the order the portal's request takes them in.
  perform 1 from app.sessions s
  where s.id = (select r.session_id from app.reschedule_requests r
                where r.id = (input ->> 'requestId')::uuid)
  for update;
  request := app.lock_pending_request((input ->> 'requestId')::uuid);
  if not chosen_start = any (request.proposed) then
    perform api.fail('not_proposed', 'Choose one of the proposed start times.', 'startTime');
  end if;
  if chosen_start <= now() then
    perform api.fail('not_reschedulable', 'That proposed time has passed.', 'startTime');
  end if;
  select s.id, s.status, s.starts_at, s.ends_at into target
  from app.sessions s where s.id = request.session_id for update;
  if not found or target.status <> 'scheduled' then
    perform api.fail('not_reschedulable',
      'The session is no longer booked, or not one you manage.', 'id');
  end if;
  perform app.move_session(target.id,
    tstzrange(chosen_start, chosen_start + (target.ends_at - target.starts_at), '[)'), false,
    'startTime');
  update app.reschedule_requests r
  set status = 'approved', chosen = chosen_start, decided_by = (select auth.uid()),
      decided_at = now()
  where r.id = request.id;
  perform audit.record('session.reschedule_request.approve', 'reschedule_request',
                       request.id::text);
  return app.staff_request(request.id);
end
$$;

-- POST /reschedule-requests/{id}/decline. input: {requestId, reason}.
create or replace function api.decline_reschedule(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  request record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  request := app.lock_pending_request((input ->> 'requestId')::uuid);
  update app.reschedule_requests r
  set status = 'declined', decline_reason = input ->> 'reason', decided_by = (select auth.uid()),
      decided_at = now()
  where r.id = request.id;
  perform audit.record('session.reschedule_request.decline', 'reschedule_request',
                       request.id::text);
  return app.staff_request(request.id);
end
$$;

-- POST /sessions/{id}/complete and /no-show. input: {sessionId, outcome: 'completed' |
-- 'no_show'}. Attendance of a booked session that has started; marking it again the same
-- way changes nothing, the other way corrects it.
create or replace function api.mark_attendance(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  outcome text := input ->> 'outcome';
  target record;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select * into target from app.sessions s
  where s.id = (input ->> 'sessionId')::uuid
  for update;
  if not found then
    perform api.fail('session_not_found', 'No session with this id is visible to you.', 'id');
  end if;
  if target.status = outcome then
    return (select app.session_json(s) from app.sessions s where s.id = target.id);
  end if;
  if target.status not in ('scheduled', 'completed', 'no_show') then
    perform api.fail('not_attendable', format(
      'Attendance is recorded for booked sessions, not for a %s one.', target.status), 'id');
  end if;
  if target.starts_at > now() then
    perform api.fail('not_started', format(
      'The session starts at %s; attendance is recorded after that.', app.iso(target.starts_at)),
      'id');
  end if;
  update app.sessions s set status = outcome, updated_at = now()
  where s.id = target.id
  returning app.session_json(s) into result;
  perform audit.record(case outcome when 'completed' then 'session.complete'
                                    else 'session.no_show' end,
                       'session', target.id::text, 'success',
                       jsonb_build_object('previous', target.status));
  return result;
end
$$;

-- GET /clients/{clientId}. input: {patientId}. One patient and their sessions as RLS shows
-- them to the caller (a clinician their own sessions with the patient, an admin all): the
-- latest 200, newest first. 404 when the caller may not see the patient. The read audited.
create or replace function api.client(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select jsonb_build_object(
           'client', jsonb_strip_nulls(jsonb_build_object(
             'id', p.id, 'firstName', p.first_name, 'lastName', p.last_name, 'email', p.email,
             'phone', p.phone, 'dateOfBirth', p.date_of_birth,
             'createdAt', app.iso(p.created_at))),
           'sessions', coalesce((
             select jsonb_agg(app.session_json(s) order by s.starts_at desc, s.id)
             from (select * from app.sessions s
                   where s.patient_id = p.id
                     and (s.status in ('scheduled', 'completed', 'no_show', 'cancelled')
                          or (s.status = 'held' and s.hold_expires_at > now()))
                   order by s.starts_at desc, s.id
                   limit 200) s), '[]'::jsonb))
  into result
  from app.patients p where p.id = patient;
  if result is null then
    perform api.fail('patient_not_found', 'No patient with this id is visible to you.',
                     'clientId');
  end if;
  perform audit.record('patient.record.read', 'patient', patient::text, 'success', '{}',
                       patient);
  return result;
end
$$;

grant execute on function api.portal_confirm_appointment(jsonb, jsonb),
  api.portal_cancel_appointment(jsonb, jsonb), api.portal_request_reschedule(jsonb, jsonb),
  api.portal_join_waitlist(jsonb, jsonb), api.portal_waitlist(jsonb, jsonb),
  api.portal_leave_waitlist(jsonb, jsonb), api.portal_claim_offer(jsonb, jsonb),
  api.reschedule_session(jsonb, jsonb), api.reschedule_requests(jsonb, jsonb),
  api.approve_reschedule(jsonb, jsonb), api.decline_reschedule(jsonb, jsonb),
  api.mark_attendance(jsonb, jsonb), api.client(jsonb, jsonb)
  to wardline_authenticator;
