-- Secure messaging (issue 19): threads between a patient and their care team, for the portal
-- (functions/portal) and the staff inbox (functions/inbox). Who reads which thread is RLS's
-- decision (db/policies/messaging.sql); the text is sealed by the function before it gets
-- here and opened there, so a message crosses SQL as `{keyId, nonce, ciphertext}` only.

-- A thread as the lists show it, with `unread`: the other side's messages the reader has not
-- read.
create or replace function app.thread_json(t app.threads, unread bigint, patient jsonb)
returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', t.id,
    'patientId', t.patient_id,
    'patient', patient,
    'status', t.status,
    'assignedTo', t.assigned_to,
    'lastMessageAt', app.iso(t.last_message_at),
    'lastSender', t.last_sender,
    'createdAt', app.iso(t.created_at),
    'unread', unread))
$$;
grant execute on function app.thread_json(app.threads, bigint, jsonb) to app_user;

-- A page of the threads RLS shows the caller, latest message first: a patient their own (any
-- status, by their own index: never a walk of the clinic's threads), staff those of `wanted`
-- status (and only those assigned to them with `mine`). `after` is the previous page's last
-- thread. One statement for the page and its unread counts: a patient's are the staff's
-- messages since their read marker, a clinician's the patient's since their own
-- (app.thread_reads).
create or replace function app.threads_page(
  wanted text, mine boolean, page_size integer, after uuid
) returns jsonb
language plpgsql stable
as $$
declare
  anchor timestamptz;
  patient_side boolean := auth.is_patient();
  ids uuid[];
begin
  if after is not null then
    select t.last_message_at into anchor from app.threads t where t.id = after;
    if not found then
      perform api.fail('invalid_input', 'Pass back the nextCursor of a page.', 'cursor');
    end if;
  end if;
  if patient_side then
    ids := array(
      select t.id from app.threads t
      where t.patient_id = (select auth.patient_id())
        and (after is null or (t.last_message_at, t.id) < (anchor, after))
      order by t.last_message_at desc, t.id desc
      limit page_size + 1);
  else
    ids := array(
      select t.id from app.threads t
      where t.org_id = (select auth.org_id())
        and (wanted is null or t.status = wanted)
        and (not mine or t.assigned_to = (select auth.uid()))
        and (after is null or (t.last_message_at, t.id) < (anchor, after))
      order by t.last_message_at desc, t.id desc
      limit page_size + 1);
  end if;
  return (
    with page as (
      select t, i.n from unnest(ids) with ordinality as i (id, n)
      join app.threads t on t.id = i.id
    ), shown as (
      select p.n, app.thread_json(p.t, u.unread,
               case when not patient_side and pt.id is not null
                    then jsonb_build_object('id', pt.id, 'firstName', pt.first_name,
                                            'lastName', pt.last_name) end) as body
      from page p
      left join app.thread_reads r
        on r.thread_id = (p.t).id and r.reader_id = (select auth.uid())
      left join app.patients pt on pt.id = (p.t).patient_id and not patient_side
      cross join lateral (
        select count(*) as unread from app.messages m
        where m.thread_id = (p.t).id
          and m.sender = case when patient_side then 'staff' else 'patient' end
          and m.created_at > coalesce(case when patient_side then (p.t).patient_read_at
                                           else r.last_read_at end, '-infinity')) u
      where p.n <= page_size
    )
    select jsonb_build_object(
      'threads', coalesce((select jsonb_agg(s.body order by s.n) from shown s), '[]'::jsonb),
      'nextCursor', (select (p.t).id from page p where p.n = page_size
                     and exists (select 1 from page q where q.n > page_size))));
end
$$;
grant execute on function app.threads_page(text, boolean, integer, uuid) to app_user;

-- The thread `thread` as RLS shows it to the caller, locked for a change; 404 naming `field`
-- otherwise.
create or replace function app.lock_thread(thread uuid, field text) returns app.threads
language plpgsql
as $$
declare
  found_row app.threads;
begin
  select * into found_row from app.threads t where t.id = thread for update;
  if not found then
    perform api.fail('thread_not_found', 'No thread with this id is visible to you.', field);
  end if;
  return found_row;
end
$$;
grant execute on function app.lock_thread(uuid, text) to app_user;

-- A message as both sides read it: sealed, for the function to open; the sender's name when
-- the reader may see it.
create or replace function app.message_json(m app.messages) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', m.id,
    'threadId', m.thread_id,
    'sender', m.sender,
    'senderId', m.sender_id,
    'senderName', case when m.sender = 'staff'
                       then (select c.first_name || ' ' || c.last_name from app.clinicians c
                             where c.id = m.sender_id) end,
    'createdAt', app.iso(m.created_at),
    'sealed', app.sealed_json(m.key_id, m.nonce, m.ciphertext)))
$$;
grant execute on function app.message_json(app.messages) to app_user;

-- A page of the messages of `thread` (visible to the caller), newest first; 404 naming `id`
-- when the thread is not.
create or replace function app.messages_page(thread uuid, page_size integer, after uuid)
returns jsonb
language plpgsql stable
as $$
declare
  anchor timestamptz;
begin
  if not exists (select 1 from app.threads t where t.id = thread) then
    perform api.fail('thread_not_found', 'No thread with this id is visible to you.', 'id');
  end if;
  if after is not null then
    select m.created_at into anchor from app.messages m where m.id = after and m.thread_id = thread;
    if not found then
      perform api.fail('invalid_input', 'Pass back the nextCursor of a page.', 'cursor');
    end if;
  end if;
  return (
    with page as (
      select m, row_number() over (order by m.created_at desc, m.id desc) as n
      from app.messages m
      where m.thread_id = thread
        and (after is null or (m.created_at, m.id) < (anchor, after))
      order by m.created_at desc, m.id desc
      limit page_size + 1
    )
    select jsonb_build_object(
      'messages', coalesce((select jsonb_agg(app.message_json(p.m) order by p.n)
                            from page p where p.n <= page_size), '[]'::jsonb),
      'nextCursor', (select (p.m).id from page p where p.n = page_size
                     and exists (select 1 from page q where q.n > page_size))));
end
$$;
grant execute on function app.messages_page(uuid, integer, uuid) to app_user;

-- Writes message `input.messageId` (sealed by the function: input.sealed) into `thread`,
-- locked by the caller, as the caller's side; moves the thread's last message, and queues the
-- other side's new-message notice unless an earlier one is still unread and younger than the
-- clinic's quiet period (for the team, on any thread of the patient: a patient writing many
-- threads does not flood them). A patient hears by their channels, the team by e-mail (see
-- app.queue_staff_notice). Audited without the text. A closed thread takes no message (409).
create or replace function app.post_message(thread app.threads, input jsonb) returns jsonb
language plpgsql
as $$
declare
  side text := case when auth.is_patient() then 'patient' else 'staff' end;
  quiet interval;
  sealed jsonb := input -> 'sealed';
  posted app.messages;
begin
  if thread.status = 'closed' then
    perform api.fail('thread_closed', case side
      when 'patient' then 'This conversation is closed; start a new one.'
      else 'This conversation is closed; reopen it first.' end, 'id');
  end if;
  insert into app.messages (id, org_id, thread_id, patient_id, sender, sender_id, key_id, nonce,
                            ciphertext)
  values ((input ->> 'messageId')::uuid, thread.org_id, thread.id, thread.patient_id, side,
          case side when 'patient' then auth.patient_id() else auth.uid() end,
          sealed ->> 'keyId', decode(sealed ->> 'nonce', 'base64'),
          decode(sealed ->> 'ciphertext', 'base64'))
  returning * into posted;
  select make_interval(mins => c.message_notice_quiet_minutes) into quiet
  from app.clinics c where c.id = thread.org_id;
  if side = 'patient' then
    update app.threads t
    set last_message_at = posted.created_at, last_sender = side, updated_at = now(),
        patient_read_at = posted.created_at
    where t.id = thread.id;
    -- (Nested ifs: SQL does not promise to evaluate an AND's operands in order.)
    if not exists (select 1 from app.threads t
                   where t.patient_id = thread.patient_id
                     and t.staff_notified_at > now() - quiet
                     and t.staff_notified_at > coalesce(t.staff_read_at, '-infinity')) then
      if app.queue_staff_notice(thread.org_id, thread.patient_id, thread.assigned_to,
                                thread.id) > 0 then
        update app.threads t set staff_notified_at = now() where t.id = thread.id;
      end if;
    end if;
  else
    update app.threads t
    set last_message_at = posted.created_at, last_sender = side, updated_at = now(),
        staff_read_at = posted.created_at
    where t.id = thread.id;
    insert into app.thread_reads as r (thread_id, reader_id, org_id, last_read_at)
    values (thread.id, auth.uid(), thread.org_id, posted.created_at)
    on conflict (thread_id, reader_id) do update set last_read_at = excluded.last_read_at;
    if thread.patient_notified_at is null or thread.patient_notified_at <= now() - quiet
       or thread.patient_notified_at <= coalesce(thread.patient_read_at, '-infinity') then
      if app.queue_patient_notice('message.new', thread.org_id, thread.patient_id,
                                  jsonb_build_object('threadId', thread.id)) > 0 then
        update app.threads t set patient_notified_at = now() where t.id = thread.id;
      end if;
    end if;
  end if;
  perform audit.record('message.post', 'thread', thread.id::text, 'success',
    jsonb_build_object('messageId', posted.id, 'sender', side));
  return app.message_json(posted);
end
$$;
grant execute on function app.post_message(app.threads, jsonb) to app_user;

-- Starts thread `input.threadId` with `patient` and writes its first message (see
-- app.post_message). Audited.
create or replace function app.start_thread(patient uuid, input jsonb) returns jsonb
language plpgsql
as $$
declare
  started app.threads;
  first_message jsonb;
begin
  insert into app.threads (id, org_id, patient_id, created_by, last_sender)
  values ((input ->> 'threadId')::uuid, (select auth.org_id()), patient, (select auth.uid()),
          case when auth.is_patient() then 'patient' else 'staff' end)
  returning * into started;
  perform audit.record('thread.start', 'thread', started.id::text, 'success',
    jsonb_build_object('patientId', patient));
  first_message := app.post_message(started, input);
  return jsonb_build_object(
    'thread', (select app.thread_json(t, 0, null) from app.threads t where t.id = started.id),
    'message', first_message);
end
$$;
grant execute on function app.start_thread(uuid, jsonb) to app_user;

-- GET /api/portal/threads. input: {host, limit, after}.
create or replace function api.portal_threads(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.threads_page(null, false, (input ->> 'limit')::integer, (input ->> 'after')::uuid);
end
$$;

-- POST /api/portal/threads. input: {host, threadId, messageId, sealed}: the patient writes to
-- their care team.
create or replace function api.portal_start_thread(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  if (select count(*) from app.threads t
      where t.patient_id = (select auth.patient_id()) and t.status = 'open') >= 20 then
    perform api.fail('too_many_threads',
      'You have 20 open conversations; write in one of them instead.');
  end if;
  return app.start_thread((select auth.patient_id()), input);
end
$$;

-- GET /api/portal/threads/{id}/messages. input: {host, threadId, limit, after}.
create or replace function api.portal_messages(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.messages_page((input ->> 'threadId')::uuid, (input ->> 'limit')::integer,
                           (input ->> 'after')::uuid);
end
$$;

-- POST /api/portal/threads/{id}/messages. input: {host, threadId, messageId, sealed}.
create or replace function api.portal_post_message(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.post_message(app.lock_thread((input ->> 'threadId')::uuid, 'id'), input);
end
$$;

-- POST /api/portal/threads/{id}/read. input: {host, threadId}: read up to now.
create or replace function api.portal_read_thread(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  thread record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  thread := app.lock_thread((input ->> 'threadId')::uuid, 'id');
  update app.threads t set patient_read_at = now() where t.id = thread.id;
  return jsonb_build_object('threadId', thread.id, 'readAt', app.iso(now()));
end
$$;

-- GET /inbox. input: {status, mine, limit, after}: the threads of the patients the caller
-- may see (RLS), one statement per page; the read audited.
create or replace function api.inbox(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := app.threads_page(input ->> 'status', (input ->> 'mine')::boolean,
                             (input ->> 'limit')::integer, (input ->> 'after')::uuid);
  perform audit.record('inbox.read', null, null, 'success',
                       jsonb_build_object('status', input ->> 'status'));
  return result;
end
$$;

-- POST /threads. input: {patientId, threadId, messageId, sealed}: a clinician of the patient's
-- care team or an admin writes first. 404 for a patient the caller cannot see, 403 for one
-- outside their care.
create or replace function api.start_thread(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  if not exists (select 1 from app.patients p where p.id = patient) then
    perform api.fail('patient_not_found', 'No patient with this id is visible to you.',
                     'patientId');
  end if;
  if auth.app_role() is distinct from 'admin'
     and patient not in (select app.my_patients()) then
    perform api.fail('forbidden',
      'Only the patient''s care team and the clinic''s admins write to a patient.', 'patientId');
  end if;
  return app.start_thread(patient, input);
end
$$;

-- GET /threads/{id}/messages. input: {threadId, limit, after}. The read audited.
create or replace function api.thread_messages(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  thread uuid := (input ->> 'threadId')::uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := app.messages_page(thread, (input ->> 'limit')::integer, (input ->> 'after')::uuid);
  perform audit.record('thread.read', 'thread', thread::text, 'success', '{}',
                       (select t.patient_id from app.threads t where t.id = thread));
  return result;
end
$$;

-- POST /threads/{id}/messages. input: {threadId, messageId, sealed}.
create or replace function api.post_message(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.post_message(app.lock_thread((input ->> 'threadId')::uuid, 'id'), input);
end
$$;

-- POST /threads/{id}/read. input: {threadId}: the caller has read it up to now.
create or replace function api.read_thread(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  thread record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select t.id, t.org_id into thread from app.threads t
  where t.id = (input ->> 'threadId')::uuid;
  if not found then
    perform api.fail('thread_not_found', 'No thread with this id is visible to you.', 'id');
  end if;
  insert into app.thread_reads as r (thread_id, reader_id, org_id, last_read_at)
  values (thread.id, (select auth.uid()), thread.org_id, now())
  on conflict (thread_id, reader_id) do update set last_read_at = excluded.last_read_at;
  update app.threads t set staff_read_at = now() where t.id = thread.id;
  return jsonb_build_object('threadId', thread.id, 'readAt', app.iso(now()));
end
$$;

-- POST /threads/{id}/close and /reopen. input: {threadId, status}. Audited when it changes.
create or replace function api.set_thread_status(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  thread record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  thread := app.lock_thread((input ->> 'threadId')::uuid, 'id');
  if thread.status <> input ->> 'status' then
    update app.threads t set status = input ->> 'status', updated_at = now()
    where t.id = thread.id;
    perform audit.record(case input ->> 'status' when 'closed' then 'thread.close'
                                                 else 'thread.reopen' end,
                         'thread', thread.id::text);
  end if;
  return (select app.thread_json(t, null, null) from app.threads t where t.id = thread.id);
end
$$;

-- PUT /threads/{id}/assignee. input: {threadId, clinicianId | null}: hands the thread to a
-- clinician in the patient's active care team (422 otherwise), or back to the whole team.
create or replace function api.assign_thread(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  thread record;
  assignee uuid := (input ->> 'clinicianId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  thread := app.lock_thread((input ->> 'threadId')::uuid, 'id');
  if assignee is not null and not exists (
    select 1 from app.care_team ct
    join app.clinic_memberships m
      on m.org_id = ct.org_id and m.clinician_id = ct.clinician_id and m.active
    where ct.org_id = thread.org_id and ct.patient_id = thread.patient_id
      and ct.clinician_id = assignee and ct.status = 'active')
  then
    perform api.fail('not_on_care_team',
      'Threads go to a clinician in the patient''s active care team.', 'clinicianId');
  end if;
  if thread.assigned_to is distinct from assignee then
    update app.threads t set assigned_to = assignee, updated_at = now() where t.id = thread.id;
    perform audit.record('thread.assign', 'thread', thread.id::text, 'success',
      jsonb_build_object('assignedTo', assignee));
  end if;
  return (select app.thread_json(t, null, null) from app.threads t where t.id = thread.id);
end
$$;

grant execute on function api.portal_threads(jsonb, jsonb), api.portal_start_thread(jsonb, jsonb),
  api.portal_messages(jsonb, jsonb), api.portal_post_message(jsonb, jsonb),
  api.portal_read_thread(jsonb, jsonb), api.inbox(jsonb, jsonb), api.start_thread(jsonb, jsonb),
  api.thread_messages(jsonb, jsonb), api.post_message(jsonb, jsonb),
  api.read_thread(jsonb, jsonb), api.set_thread_status(jsonb, jsonb),
  api.assign_thread(jsonb, jsonb)
  to wardline_authenticator;
