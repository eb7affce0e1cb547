-- The patient's own record in the portal (issue 20): feedback on completed sessions (and the
-- admins' report of it), and the timeline of what happened, newest first.

-- POST /api/portal/appointments/{id}/feedback. input: {host, sessionId, nps?, csat?, comment?}.
-- Once per session, and only for a session that took place.
create or replace function api.portal_give_feedback(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target record;
  given record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  target := app.portal_lock_session((input ->> 'sessionId')::uuid);
  if target.status <> 'completed' then
    perform api.fail('not_rateable', 'Feedback is for sessions that took place.', 'id');
  end if;
  insert into app.session_feedback (session_id, org_id, patient_id, clinician_id, nps, csat,
                                    comment)
  values (target.id, target.org_id, target.patient_id, target.clinician_id,
          (input ->> 'nps')::integer, (input ->> 'csat')::integer, input ->> 'comment')
  on conflict (session_id) do nothing
  returning session_id, nps, csat, comment, created_at into given;
  if given.session_id is null then
    perform api.fail('feedback_given', 'This session has its feedback already.', 'id');
  end if;
  perform audit.record('session.feedback', 'session', target.id::text, 'success',
    jsonb_strip_nulls(jsonb_build_object('nps', given.nps, 'csat', given.csat)));
  return jsonb_strip_nulls(jsonb_build_object(
    'sessionId', given.session_id, 'nps', given.nps, 'csat', given.csat,
    'comment', given.comment, 'createdAt', app.iso(given.created_at)));
end
$$;

-- GET /feedback/report. input: {from, to}: the clinic's feedback given in [from, to): NPS
-- (promoters 9–10, passives 7–8, detractors 0–6; score = % promoters − % detractors), CSAT
-- (average, and the share of 4s and 5s), overall and per clinician. Admins only.
create or replace function api.feedback_report(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return (
    with given as (
      select f.* from app.session_feedback f
      where f.org_id = (select auth.org_id())
        and f.created_at >= (input ->> 'from')::timestamptz
        and f.created_at < (input ->> 'to')::timestamptz
    ), scored as (
      select g.clinician_id, jsonb_build_object(
               'responses', count(*),
               'nps', jsonb_build_object(
                 'responses', count(g.nps),
                 'promoters', count(*) filter (where g.nps >= 9),
                 'passives', count(*) filter (where g.nps between 7 and 8),
                 'detractors', count(*) filter (where g.nps <= 6),
                 'score', round(100.0 * (count(*) filter (where g.nps >= 9)
                                         - count(*) filter (where g.nps <= 6))
                                / nullif(count(g.nps), 0))),
               'csat', jsonb_build_object(
                 'responses', count(g.csat),
                 'average', round(avg(g.csat), 2),
                 'satisfied', count(*) filter (where g.csat >= 4))) as body,
             grouping(g.clinician_id) = 1 as overall
      from given g
      group by grouping sets ((), (g.clinician_id))
    )
    select jsonb_build_object(
      'from', app.iso((input ->> 'from')::timestamptz),
      'to', app.iso((input ->> 'to')::timestamptz),
      'overall', (select s.body from scored s where s.overall),
      'byClinician', coalesce((
        select jsonb_agg(s.body || jsonb_build_object(
                 'clinician', jsonb_build_object('id', c.id, 'firstName', c.first_name,
                                                 'lastName', c.last_name))
                 order by c.last_name, c.first_name, c.id)
        from scored s join app.clinicians c on c.id = s.clinician_id
        where not s.overall), '[]'::jsonb)));
end
$$;

-- GET /api/portal/timeline. input: {host, limit, afterKind, afterId}: the patient's sessions
-- (at their start), messages, consent decisions, documents (RLS: their uploads and those
-- shared with them), feedback, tasks (when assigned) and what they handed in for them (with
-- its review, never the answers), newest first, a page at a time, in one statement. The cursor names the page's last event by kind and id; no time or text is
-- in it.
create or replace function api.portal_timeline(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  page_size integer := (input ->> 'limit')::integer;
  after_kind text := input ->> 'afterKind';
  after_id text := input ->> 'afterId';
  patient uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  patient := auth.patient_id();
  return (
    with events as (
      select s.starts_at as at, 'session' as kind, s.id::text as id,
             jsonb_build_object('sessionId', s.id, 'status', s.status,
                                'endTime', app.iso(s.ends_at)) as detail
      from app.sessions s
      where s.patient_id = patient
        and s.status in ('scheduled', 'completed', 'no_show', 'cancelled')
      union all
      select m.created_at, 'message', m.id::text,
             jsonb_build_object('threadId', m.thread_id, 'sender', m.sender)
      from app.messages m where m.patient_id = patient
      union all
      select c.recorded_at, 'consent', c.id::text,
             jsonb_build_object('type', c.consent_type, 'version', c.version,
                                'granted', c.granted)
      from app.portal_consents c where c.patient_id = patient
      union all
      select d.created_at, 'document', d.id::text,
             jsonb_build_object('documentId', d.id, 'status', d.status, 'uploader', d.uploader)
      from app.documents d where d.patient_id = patient
      union all
      select f.created_at, 'feedback', f.session_id::text,
             jsonb_strip_nulls(jsonb_build_object('sessionId', f.session_id, 'nps', f.nps,
                                                  'csat', f.csat))
      from app.session_feedback f where f.patient_id = patient
      union all
      select t.assigned_at, 'task', t.id::text,
             jsonb_strip_nulls(jsonb_build_object('taskId', t.id, 'taskKind', t.kind,
                                                  'status', t.status, 'dueOn', t.due_on))
      from app.patient_tasks t where t.patient_id = patient
      union all
      select s.submitted_at, 'submission', s.id::text,
             jsonb_strip_nulls(jsonb_build_object('taskId', s.task_id, 'submissionId', s.id,
                                                  'review', s.review))
      from app.task_submissions s where s.patient_id = patient
    ), anchor as (
      select e.at, e.kind, e.id from events e where e.kind = after_kind and e.id = after_id
    ), page as (
      select e.*, row_number() over (order by e.at desc, e.kind desc, e.id desc) as n
      from events e
      where after_kind is null
         or (e.at, e.kind, e.id) < (select a.at, a.kind, a.id from anchor a)
      order by e.at desc, e.kind desc, e.id desc
      limit page_size + 1
    )
    select case
      when after_kind is not null and not exists (select 1 from anchor) then
        api.fail_json('invalid_input', 'Pass back the nextCursor of a page.', 'cursor')
      else jsonb_build_object(
        'events', coalesce((select jsonb_agg(jsonb_build_object(
                                'kind', p.kind, 'at', app.iso(p.at)) || p.detail order by p.n)
                            from page p where p.n <= page_size), '[]'::jsonb),
        'nextCursor', (select p.kind || ':' || p.id from page p where p.n = page_size
                       and exists (select 1 from page q where q.n > page_size)))
    end);
end
$$;

grant execute on function api.portal_give_feedback(jsonb, jsonb),
  api.feedback_report(jsonb, jsonb), api.portal_timeline(jsonb, jsonb)
  to wardline_authenticator;
