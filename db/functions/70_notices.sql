-- Session notices and reminders: what a patient hears about their sessions (booked, changed,
-- cancelled, a reminder, a waitlist offer), queued into the outbox in the transaction of the
-- change. A payload holds only the session's id and start: message-sender renders the clinic's
-- name, the date and time in the clinic's zone and a link to the portal, and nothing else
-- (functions/message-sender/src/templates.rs), so no name, service or note reaches a provider.

-- Queues the notice `kind` with `payload` to `patient` of `org`: one outbox message per
-- channel the patient has an address for and has not turned off in their preferences (no
-- preferences row: all on). Returns the messages queued; 0 for anyone but a live patient of
-- `org`. Callers queue for their own clinic only, the scheduled jobs for any; another clinic is
-- refused (42501), as is an unknown kind. The payload is the caller's, and must be PHI-free
-- (ids and instants): message-sender renders the rest. SECURITY DEFINER (as wardline_auth):
-- staff, a patient in the portal and the jobs queue alike, though none of them may read the
-- patient's preferences or address, or write the outbox, on their own.
create or replace function app.queue_patient_notice(
  kind text, org uuid, patient uuid, payload jsonb
) returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  queued integer;
begin
  if kind is null or kind not in ('session.booked', 'session.changed', 'session.cancelled',
                                  'session.reminder', 'waitlist.offer', 'message.new',
                                  'task.assigned') then
    raise exception using errcode = '22023', message = format('no notice kind %L', kind);
  end if;
  if org is distinct from auth.org_id() and not auth.is_service() then
    raise exception using errcode = '42501',
      message = 'notices are queued for the request''s own clinic';
  end if;
  insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
  select org, kind, c.channel, c.recipient, jsonb_strip_nulls(payload), auth.uid()
  from app.patients p
  left join app.patient_preferences pref on pref.patient_id = p.id
  cross join lateral (values ('email', p.email, coalesce(pref.email, true)),
                             ('sms', p.phone, coalesce(pref.sms, true)))
    as c (channel, recipient, wanted)
  where p.id = patient and p.org_id = org and p.deleted_at is null
    and c.recipient is not null and c.wanted;
  get diagnostics queued = row_count;
  return queued;
end
$$;
grant execute on function app.queue_patient_notice(text, uuid, uuid, jsonb)
  to app_user, app_service;

-- Queues the notice `kind` about `session`, starting at `starts_at`, to `patient` of `org`
-- (see app.queue_patient_notice). The session and its start are the caller's word, used only
-- in the payload.
create or replace function app.queue_session_notice(
  kind text, org uuid, patient uuid, session uuid, starts_at timestamptz
) returns integer
language plpgsql
as $$
begin
  if starts_at is null then
    raise exception using errcode = '22004', message = 'a notice needs the session''s start';
  end if;
  return app.queue_patient_notice(kind, org, patient,
    jsonb_build_object('sessionId', session, 'startsAt', app.iso(starts_at)));
end
$$;
-- (wardline_auth too: the waitlist's offer maker queues its offers.)
grant execute on function app.queue_session_notice(text, uuid, uuid, uuid, timestamptz)
  to app_user, app_service, wardline_auth;

-- Forgets which reminders `session` of the current clinic has had, when it moves: the new time
-- gets its own. SECURITY DEFINER (as wardline_auth): staff only read reminder records.
create or replace function app.forget_reminders(session uuid) returns void
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from app.session_reminders r where r.session_id = session and r.org_id = auth.org_id();
end
$$;
grant execute on function app.forget_reminders(uuid) to app_user;

-- Queues `message.new.staff` (an e-mail: a patient wrote; no name, no text) about `thread` of
-- `org`: to the colleague it is assigned to while they are in the patient's active care team,
-- or else to that care team, or, with no team, to the clinic's admins; active members of `org`
-- only. Returns the messages queued. For the request's own clinic only. SECURITY DEFINER (as
-- wardline_auth): a patient may read neither their care team's rows nor its addresses, nor
-- write the outbox.
create or replace function app.queue_staff_notice(
  org uuid, patient uuid, assigned uuid, thread uuid
) returns integer
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  team uuid[];
  queued integer;
begin
  if org is distinct from auth.org_id() then
    raise exception using errcode = '42501',
      message = 'notices are queued for the request''s own clinic';
  end if;
  team := array(select t.clinician_id from app.care_team t
                where t.org_id = org and t.patient_id = patient and t.status = 'active');
  insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
  select org, 'message.new.staff', 'email', c.email, jsonb_build_object('threadId', thread),
         auth.uid()
  from app.clinicians c
  join app.clinic_memberships m on m.clinician_id = c.id and m.org_id = org and m.active
  where case when assigned = any (team) then c.id = assigned
             when cardinality(team) > 0 then c.id = any (team)
             else m.is_admin end;
  get diagnostics queued = row_count;
  return queued;
end
$$;
grant execute on function app.queue_staff_notice(uuid, uuid, uuid, uuid) to app_user;

-- One batch of the reminder job: for up to `batch` booked sessions not yet started (earliest
-- first), the reminder due now — the smallest of the clinic's reminder_hours that the start is
-- within — recorded and queued, unless it was queued before. Only that nearest offset is sent:
-- a session booked 10 hours ahead gets its 24-hour reminder, never the 72-hour one as well
-- (left unrecorded: it was not sent). The record's primary key decides between two runs at
-- once: the insert that lands queues; the other waits for it, then does nothing (both walk in
-- the same order, so neither waits on the other in turn). → the sessions looked at (a full
-- batch: there may be more), the reminders recorded and the messages queued.
-- SECURITY DEFINER (as wardline_auth): it reads booked sessions of every clinic (the booking
-- guard's policy) and writes the records, which the job's own role cannot.
create or replace function app.queue_due_reminders(batch integer)
returns table (sessions integer, reminders integer, messages integer)
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  -- No session further ahead than the largest offset of any clinic is due.
  horizon integer;
begin
  if not auth.is_service() then
    raise exception using errcode = '42501', message = 'reminders are the reminder job''s';
  end if;
  select coalesce(max(x), 0) into horizon from app.clinics c, unnest(c.reminder_hours) x;
  return query
  with due as materialized (
    select s.id, s.org_id, s.patient_id, s.starts_at, h.hours
    from app.sessions s
    join app.clinics c on c.id = s.org_id
    cross join lateral (
      select min(x) as hours from unnest(c.reminder_hours) x
      where s.starts_at <= now() + make_interval(hours => x)) h
    where s.status = 'scheduled' and s.starts_at > now()
      and s.starts_at <= now() + make_interval(hours => horizon)
      and h.hours is not null
      and not exists (select 1 from app.session_reminders r
                      where r.session_id = s.id and r.hours = h.hours)
    order by s.starts_at, s.id
    limit batch
  ), recorded as (
    insert into app.session_reminders (session_id, org_id, hours)
    select d.id, d.org_id, d.hours from due d
    order by d.starts_at, d.id
    on conflict (session_id, hours) do nothing
    returning session_id, hours
  )
  select (select count(*) from due)::integer, count(r.session_id)::integer,
         coalesce(sum(app.queue_session_notice('session.reminder', d.org_id, d.patient_id,
                                               d.id, d.starts_at)), 0)::integer
  from recorded r join due d on d.id = r.session_id and d.hours = r.hours;
end
$$;
grant execute on function app.queue_due_reminders(integer) to app_service;

-- session-reminders, one batch (see app.queue_due_reminders). input: {batchSize}. → {sessions,
-- reminders, messages}; a batch that queued something is audited with its counts.
create or replace function api.queue_reminders(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  done record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  select * into done from app.queue_due_reminders((input ->> 'batchSize')::integer);
  if done.reminders > 0 then
    perform audit.record('reminders.queue', null, null, 'success',
      jsonb_build_object('reminders', done.reminders, 'messages', done.messages));
  end if;
  return jsonb_build_object('sessions', done.sessions, 'reminders', done.reminders,
                            'messages', done.messages);
end
$$;
grant execute on function api.queue_reminders(jsonb, jsonb) to wardline_authenticator;
