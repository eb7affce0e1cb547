-- Intake (issue 20, part 1): forms in immutable versions, tasks assigned to a patient, what
-- the patient hands in, and its review; for the portal (functions/portal, tasks.rs) and the
-- staff (functions/intake). Rust checks a form's schema (a valid Draft 2020-12 schema with no
-- outside references) and a patient's answers against the version they were shown, and seals
-- the answers; SQL keeps the record and holds the version to the task's. Who sees which task
-- or submission is RLS's decision (db/policies/intake.sql): anything hidden is a 404.

-- A form version; with its schema for whoever fills it in or reads answers against it.
create or replace function app.form_version_json(v app.form_versions, with_schema boolean)
returns jsonb
language sql stable
as $$
  -- (Not through jsonb_strip_nulls: a schema may hold nulls, `"const": null`.)
  select jsonb_build_object('id', v.id, 'formId', v.form_id, 'version', v.version,
                            'createdAt', app.iso(v.created_at))
         || case when with_schema then jsonb_build_object('schema', v.schema)
                 else '{}'::jsonb end
$$;
grant execute on function app.form_version_json(app.form_versions, boolean) to app_user;

-- A form with its latest version (without the schema).
create or replace function app.form_json(f app.forms) returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'id', f.id, 'name', f.name, 'archived', f.archived, 'createdAt', app.iso(f.created_at),
    'latestVersion', (select app.form_version_json(v, false) from app.form_versions v
                      where v.form_id = f.id order by v.version desc limit 1))
$$;
grant execute on function app.form_json(app.forms) to app_user;

-- The form `form` of the caller's clinic, locked for a change; 404 naming `id` otherwise.
create or replace function app.lock_form(form uuid) returns app.forms
language plpgsql
as $$
declare
  found_row app.forms;
begin
  select * into found_row from app.forms f where f.id = form for update;
  if not found then
    perform api.fail('form_not_found', 'No form with this id is visible to you.', 'id');
  end if;
  return found_row;
end
$$;
grant execute on function app.lock_form(uuid) to app_user;

-- Publishes `schema` (checked in Rust) as the next version of `form`, locked by the caller,
-- so two publications take turns; an archived form takes none (409 `form_archived`). The
-- stored text is bounded (its size as PostgreSQL writes it out, which Rust cannot know
-- exactly): a 400 naming `schema` past it. Audited.
create or replace function app.publish_version(form app.forms, schema jsonb)
returns app.form_versions
language plpgsql
as $$
declare
  published app.form_versions;
begin
  if form.archived then
    perform api.fail('form_archived', 'This form is archived; create a new one.', 'id');
  end if;
  if octet_length(schema::text) > 32768 then
    perform api.fail('invalid_input', 'A form''s schema is at most 32768 bytes of JSON.',
                     'schema');
  end if;
  insert into app.form_versions (org_id, form_id, version, schema, created_by)
  values (form.org_id, form.id,
          coalesce((select max(v.version) from app.form_versions v where v.form_id = form.id), 0)
            + 1,
          schema, auth.uid())
  returning * into published;
  perform audit.record('form.version.publish', 'form', form.id::text, 'success',
    jsonb_build_object('formVersionId', published.id, 'version', published.version));
  return published;
end
$$;
grant execute on function app.publish_version(app.forms, jsonb) to app_user;

-- A submission as the task lists show it; with its sealed answers (`{keyId, nonce,
-- ciphertext}`, for the function to open) when `with_answers`.
create or replace function app.submission_json(s app.task_submissions, with_answers boolean)
returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', s.id,
    'taskId', s.task_id,
    'formVersionId', s.form_version_id,
    'documentId', s.document_id,
    'submittedAt', app.iso(s.submitted_at),
    'review', s.review,
    'reviewComment', s.review_comment,
    'reviewedBy', s.reviewed_by,
    'reviewedAt', app.iso(s.reviewed_at),
    'sealed', case when with_answers and s.ciphertext is not null then jsonb_build_object(
                'keyId', s.key_id, 'nonce', encode(s.nonce, 'base64'),
                'ciphertext', translate(encode(s.ciphertext, 'base64'), E'\n', '')) end))
$$;
grant execute on function app.submission_json(app.task_submissions, boolean) to app_user;

-- A task with its latest submission (what was handed in last, and its review), never the
-- answers.
create or replace function app.task_json(t app.patient_tasks) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', t.id,
    'patientId', t.patient_id,
    'kind', t.kind,
    'title', t.title,
    'dueOn', t.due_on,
    'status', t.status,
    'formVersionId', t.form_version_id,
    'consentType', t.consent_type,
    'consentVersion', t.consent_version,
    'assignedBy', t.assigned_by,
    'assignedAt', app.iso(t.assigned_at),
    'updatedAt', app.iso(t.updated_at),
    'latestSubmission', (select app.submission_json(s, false) from app.task_submissions s
                         where s.task_id = t.id
                         order by s.submitted_at desc, s.id desc limit 1)))
$$;
grant execute on function app.task_json(app.patient_tasks) to app_user;

-- The task `task` visible to the caller: `{task, form?, submission?}`, the form version it
-- pins (with its schema) and its latest submission with the sealed answers. 404 naming `id`.
create or replace function app.task_detail(task uuid) returns jsonb
language plpgsql stable
as $$
declare
  t app.patient_tasks;
  latest app.task_submissions;
  detail jsonb;
begin
  select * into t from app.patient_tasks pt where pt.id = task;
  if not found then
    perform api.fail('task_not_found', 'No task with this id is visible to you.', 'id');
  end if;
  detail := jsonb_build_object('task', app.task_json(t));
  if t.form_version_id is not null then
    detail := detail || jsonb_build_object('form',
      (select app.form_version_json(v, true) from app.form_versions v
       where v.id = t.form_version_id));
  end if;
  select * into latest from app.task_submissions s
  where s.task_id = t.id order by s.submitted_at desc, s.id desc limit 1;
  if found then
    detail := detail || jsonb_build_object('submission', app.submission_json(latest, true));
  end if;
  return detail;
end
$$;
grant execute on function app.task_detail(uuid) to app_user;

-- The task `task` visible to the caller, locked when the caller may change it. A patient may
-- change only an open or returned task (the policy): any other comes back unlocked, and the
-- caller's status check refuses it. 404 naming `id` when it is not visible.
create or replace function app.lock_task(task uuid) returns app.patient_tasks
language plpgsql
as $$
declare
  found_row app.patient_tasks;
begin
  select * into found_row from app.patient_tasks t where t.id = task for update;
  if found then
    return found_row;
  end if;
  select * into found_row from app.patient_tasks t where t.id = task;
  if not found then
    perform api.fail('task_not_found', 'No task with this id is visible to you.', 'id');
  end if;
  return found_row;
end
$$;
grant execute on function app.lock_task(uuid) to app_user;

-- GET /api/portal/tasks. input: {host}: the patient's tasks still to do or under review, and
-- those closed in the last 90 days; what is to do first (by due date), then newest first.
create or replace function api.portal_tasks(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return (
    select jsonb_build_object('tasks', coalesce(jsonb_agg(app.task_json(t)
             order by t.status in ('open', 'returned') desc, t.due_on nulls last,
                      t.assigned_at desc, t.id desc), '[]'::jsonb))
    from app.patient_tasks t
    where t.patient_id = (select auth.patient_id())
      and (t.status in ('open', 'returned', 'submitted')
           or t.updated_at > now() - interval '90 days'));
end
$$;

-- GET /api/portal/tasks/{id}. input: {host, taskId}: the task, its form (schema) and what the
-- patient handed in last (answers opened by the function).
create or replace function api.portal_task(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.task_detail((input ->> 'taskId')::uuid);
end
$$;

-- The schema of form version input.formVersionId, for the function to check answers against
-- when it has not compiled it yet: a patient reads only versions their tasks pin. 404 naming
-- `formVersionId` otherwise. input: {host, formVersionId}.
create or replace function api.portal_form_version(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  shown jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  select app.form_version_json(v, true) into shown from app.form_versions v
  where v.id = (input ->> 'formVersionId')::uuid;
  if shown is null then
    perform api.fail('form_not_found', 'No form version with this id is visible to you.',
                     'formVersionId');
  end if;
  return shown;
end
$$;

-- Keeps what the patient hands in for task input.taskId (input: {taskId, submissionId, and
-- either formVersionId and sealed (answers Rust checked against that version and sealed) or
-- documentId}). The task must be open or returned, its kind what was sent, a form task's
-- version the one sent (409 `form_version_mismatch`), an upload task's document an available
-- upload of the patient's. Marks the task submitted; audited.
create or replace function app.submit_task(input jsonb) returns jsonb
language plpgsql
as $$
declare
  task app.patient_tasks := app.lock_task((input ->> 'taskId')::uuid);
  sealed jsonb := input -> 'sealed';
  document uuid := (input ->> 'documentId')::uuid;
  submission uuid := (input ->> 'submissionId')::uuid;
begin
  if task.status not in ('open', 'returned') then
    perform api.fail('task_not_open', case task.status
      when 'submitted' then 'This task was handed in and awaits review.'
      when 'cancelled' then 'This task was cancelled.'
      else 'This task is done.' end, 'id');
  end if;
  if task.kind = 'consent' then
    perform api.fail('task_kind_mismatch',
      'A consent task is done by recording the consent (PUT /api/portal/consent).', 'id');
  elsif task.kind = 'form' and sealed is null then
    perform api.fail('task_kind_mismatch', 'This task asks for a form''s answers.',
                     'documentId');
  elsif task.kind = 'upload' and document is null then
    perform api.fail('task_kind_mismatch', 'This task asks for a document.', 'answers');
  end if;
  if task.kind = 'form' then
    if (input ->> 'formVersionId')::uuid is distinct from task.form_version_id then
      perform api.fail('form_version_mismatch',
        'This task asks for another version of the form: read the task again.',
        'formVersionId');
    end if;
    insert into app.task_submissions (id, org_id, task_id, patient_id, form_version_id, key_id,
                                      nonce, ciphertext)
    values (submission, task.org_id, task.id, task.patient_id, task.form_version_id,
            sealed ->> 'keyId', decode(sealed ->> 'nonce', 'base64'),
            decode(sealed ->> 'ciphertext', 'base64'));
  else
    if not exists (select 1 from app.documents d
                   where d.id = document and d.patient_id = task.patient_id
                     and d.uploader = 'patient' and d.status = 'available') then
      perform api.fail('document_not_found', 'No available document you uploaded has this id.',
                       'documentId');
    end if;
    insert into app.task_submissions (id, org_id, task_id, patient_id, document_id)
    values (submission, task.org_id, task.id, task.patient_id, document);
  end if;
  update app.patient_tasks t
  set status = 'submitted', updated_by = auth.uid(), updated_at = now()
  where t.id = task.id
  returning * into task;
  perform audit.record('task.submit', 'task', task.id::text, 'success',
    jsonb_strip_nulls(jsonb_build_object('submissionId', submission,
                                         'formVersionId', task.form_version_id,
                                         'documentId', document)));
  return app.task_json(task);
end
$$;
grant execute on function app.submit_task(jsonb) to app_user;

-- POST /api/portal/tasks/{id}/submission. input: {host, taskId, submissionId, formVersionId
-- and sealed, or documentId} (see app.submit_task).
create or replace function api.portal_submit_task(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.submit_task(input);
end
$$;

-- Completes the caller's open consent tasks that the granted consent `recorded` (just
-- recorded, theirs) answers: its type, and its version where a task names one. Audited; →
-- their ids.
create or replace function app.complete_consent_tasks(recorded bigint) returns jsonb
language plpgsql
as $$
declare
  consent app.portal_consents;
  done uuid;
  ids jsonb := '[]'::jsonb;
begin
  select * into consent from app.portal_consents c where c.id = recorded;
  for done in
    update app.patient_tasks t
    set status = 'completed', consent_id = consent.id, updated_by = auth.uid(),
        updated_at = now()
    where t.patient_id = consent.patient_id and t.kind = 'consent' and t.status = 'open'
      and t.consent_type = consent.consent_type
      and (t.consent_version is null or t.consent_version = consent.version)
    returning t.id
  loop
    perform audit.record('task.complete', 'task', done::text, 'success',
      jsonb_build_object('consentType', consent.consent_type));
    ids := ids || to_jsonb(done);
  end loop;
  return ids;
end
$$;
grant execute on function app.complete_consent_tasks(bigint) to app_user;

-- GET /forms. input: {}: the clinic's forms by name, each with its latest version.
create or replace function api.forms(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return (
    select jsonb_build_object('forms', coalesce(jsonb_agg(app.form_json(f)
                                                 order by f.name, f.id), '[]'::jsonb))
    from app.forms f where f.org_id = (select auth.org_id()));
end
$$;

-- GET /forms/{id}. input: {formId}: the form and every version, newest first, with schemas.
create or replace function api.form(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  shown jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  select app.form_json(f) || jsonb_build_object('versions', (
           select jsonb_agg(app.form_version_json(v, true) order by v.version desc)
           from app.form_versions v where v.form_id = f.id))
  into shown
  from app.forms f where f.id = (input ->> 'formId')::uuid;
  if shown is null then
    perform api.fail('form_not_found', 'No form with this id is visible to you.', 'id');
  end if;
  return shown;
end
$$;

-- A new form of the caller's clinic named `name`, with `schema` as its version 1: `{form,
-- version}`. Audited.
create or replace function app.create_form(name text, schema jsonb) returns jsonb
language plpgsql
as $$
declare
  created app.forms;
  published app.form_versions;
begin
  insert into app.forms (org_id, name, created_by)
  values ((select auth.org_id()), name, (select auth.uid()))
  returning * into created;
  perform audit.record('form.create', 'form', created.id::text);
  published := app.publish_version(created, schema);
  return jsonb_build_object('form', app.form_json(created),
                            'version', app.form_version_json(published, true));
end
$$;
grant execute on function app.create_form(text, jsonb) to app_user;

-- POST /forms. input: {name, schema}: a form and its version 1. Admins.
create or replace function api.create_form(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.create_form(input ->> 'name', input -> 'schema');
end
$$;

-- POST /forms/{id}/versions. input: {formId, schema}: the next version of an unarchived form
-- (409 `form_archived`). Admins; audited.
create or replace function api.publish_form_version(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.form_version_json(
    app.publish_version(app.lock_form((input ->> 'formId')::uuid), input -> 'schema'), true);
end
$$;

-- Archives form `form` (visible to the caller) unless it is: no new tasks of it, those
-- assigned stay. Audited when it changes.
create or replace function app.archive_form(form uuid) returns jsonb
language plpgsql
as $$
declare
  found_row app.forms := app.lock_form(form);
begin
  if not found_row.archived then
    update app.forms f set archived = true, updated_at = now() where f.id = found_row.id
    returning * into found_row;
    perform audit.record('form.archive', 'form', found_row.id::text);
  end if;
  return app.form_json(found_row);
end
$$;
grant execute on function app.archive_form(uuid) to app_user;

-- POST /forms/{id}/archive. input: {formId}. Admins.
create or replace function api.archive_form(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.archive_form((input ->> 'formId')::uuid);
end
$$;

-- Assigns `patient` (visible to the caller) the task `input` ({kind, title, dueOn?, formId?,
-- consentType?, consentVersion?}; Rust checked which go with which kind). Only the patient's
-- care team and the clinic's admins assign (403). A form task pins the form's latest version
-- (422 `unknown_form`, 409 `form_archived`); a due date is today or later in the clinic's
-- zone. Audited; the patient hears of it by their channels (`task.assigned`, naming only the
-- task).
create or replace function app.assign_task(patient uuid, input jsonb) returns jsonb
language plpgsql
as $$
declare
  form uuid := (input ->> 'formId')::uuid;
  due date := (input ->> 'dueOn')::date;
  chosen app.forms;
  pinned app.form_versions;
  created app.patient_tasks;
begin
  if auth.app_role() is distinct from 'admin' and patient not in (select app.my_patients()) then
    perform api.fail('forbidden',
      'Only the patient''s care team and the clinic''s admins assign tasks to a patient.',
      'clientId');
  end if;
  if due < (select (now() at time zone c.time_zone)::date from app.clinics c
            where c.id = (select auth.org_id())) then
    perform api.fail('invalid_input', 'A due date is today or later.', 'dueOn');
  end if;
  if input ->> 'kind' = 'form' then
    select * into chosen from app.forms f where f.id = form;
    if not found then
      perform api.fail('unknown_form', 'No form with this id in your clinic.', 'formId');
    elsif chosen.archived then
      perform api.fail('form_archived', 'This form is archived; assign another.', 'formId');
    end if;
    select * into pinned from app.form_versions v
    where v.form_id = chosen.id order by v.version desc limit 1;
  end if;
  insert into app.patient_tasks (org_id, patient_id, kind, title, due_on, form_version_id,
                                 consent_type, consent_version, assigned_by, updated_by)
  values ((select auth.org_id()), patient, input ->> 'kind', input ->> 'title', due, pinned.id,
          input ->> 'consentType', input ->> 'consentVersion', (select auth.uid()),
          (select auth.uid()))
  returning * into created;
  perform audit.record('task.assign', 'task', created.id::text, 'success',
    jsonb_strip_nulls(jsonb_build_object('patientId', patient, 'kind', created.kind,
                                         'formVersionId', pinned.id)));
  perform app.queue_patient_notice('task.assigned', created.org_id, patient,
                                   jsonb_build_object('taskId', created.id));
  return app.task_json(created);
end
$$;
grant execute on function app.assign_task(uuid, jsonb) to app_user;

-- POST /clients/{clientId}/tasks. input: {patientId, kind, title, dueOn?, formId?,
-- consentType?, consentVersion?} (see app.assign_task); 404 naming clientId for a patient the
-- caller cannot see.
create or replace function api.assign_task(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.assign_task(app.require_visible_patient((input ->> 'patientId')::uuid), input);
end
$$;

-- GET /clients/{clientId}/tasks. input: {patientId, limit, after}: the patient's tasks,
-- newest first, a page at a time (by the patient's index). The read audited.
create or replace function api.client_tasks(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid;
  page_size integer := (input ->> 'limit')::integer;
  after uuid := (input ->> 'after')::uuid;
  anchor timestamptz;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  patient := app.require_visible_patient((input ->> 'patientId')::uuid);
  if after is not null then
    select t.assigned_at into anchor from app.patient_tasks t
    where t.id = after and t.patient_id = patient;
    if not found then
      perform api.fail('invalid_input', 'Pass back the nextCursor of a page.', 'cursor');
    end if;
  end if;
  perform audit.record('tasks.list', 'patient', patient::text, 'success', '{}', patient);
  return (
    with page as (
      select t, row_number() over (order by t.assigned_at desc, t.id desc) as n
      from app.patient_tasks t
      where t.patient_id = patient
        and (after is null or (t.assigned_at, t.id) < (anchor, after))
      order by t.assigned_at desc, t.id desc
      limit page_size + 1
    )
    select jsonb_build_object(
      'tasks', coalesce((select jsonb_agg(app.task_json(p.t) order by p.n)
                         from page p where p.n <= page_size), '[]'::jsonb),
      'nextCursor', (select (p.t).id from page p where p.n = page_size
                     and exists (select 1 from page q where q.n > page_size))));
end
$$;

-- Cancels task `task` (visible to the caller) unless it is accepted, completed or cancelled
-- already (409 `task_closed`). Audited.
create or replace function app.cancel_task(task uuid) returns jsonb
language plpgsql
as $$
declare
  found_row app.patient_tasks := app.lock_task(task);
begin
  if found_row.status in ('accepted', 'completed', 'cancelled') then
    perform api.fail('task_closed', format('This task is already %s.', found_row.status), 'id');
  end if;
  update app.patient_tasks t
  set status = 'cancelled', updated_by = auth.uid(), updated_at = now()
  where t.id = found_row.id
  returning * into found_row;
  perform audit.record('task.cancel', 'task', found_row.id::text);
  return app.task_json(found_row);
end
$$;
grant execute on function app.cancel_task(uuid) to app_user;

-- POST /tasks/{id}/cancel. input: {taskId}.
create or replace function api.cancel_task(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.cancel_task((input ->> 'taskId')::uuid);
end
$$;

-- GET /tasks/{id}/submission. input: {taskId}: the task, its form version and what was handed
-- in last, sealed answers included (opened by the function); 404 `submission_not_found`
-- before anything was. Every read is audited, in this statement.
create or replace function api.task_submission(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  detail jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  detail := app.task_detail((input ->> 'taskId')::uuid);
  if not detail ? 'submission' then
    perform api.fail('submission_not_found', 'Nothing was handed in for this task yet.', 'id');
  end if;
  perform audit.record('task.submission.read', 'task_submission',
    detail -> 'submission' ->> 'id', 'success',
    jsonb_build_object('taskId', detail -> 'task' -> 'id'),
    (detail -> 'task' ->> 'patientId')::uuid);
  return detail;
end
$$;

-- Decides the latest submission of task input.taskId (visible to the caller), which must be
-- submitted (409 `task_not_submitted`): input.decision 'accepted' or 'returned', with
-- input.comment to the patient (a return's is required: Rust checks it, the table too). A
-- returned task may be handed in again. Audited without the comment.
create or replace function app.review_task(input jsonb) returns jsonb
language plpgsql
as $$
declare
  task app.patient_tasks := app.lock_task((input ->> 'taskId')::uuid);
  decision text := input ->> 'decision';
  reviewed uuid;
begin
  if task.status <> 'submitted' then
    perform api.fail('task_not_submitted',
      'Only a task handed in and awaiting review is accepted or returned.', 'id');
  end if;
  update app.task_submissions s
  set review = decision, review_comment = input ->> 'comment', reviewed_by = auth.uid(),
      reviewed_at = now()
  where s.id = (select l.id from app.task_submissions l where l.task_id = task.id
                order by l.submitted_at desc, l.id desc limit 1)
  returning s.id into reviewed;
  update app.patient_tasks t
  set status = decision, updated_by = auth.uid(), updated_at = now()
  where t.id = task.id
  returning * into task;
  perform audit.record(case decision when 'accepted' then 'task.accept' else 'task.return' end,
                       'task', task.id::text, 'success',
                       jsonb_build_object('submissionId', reviewed));
  return app.task_json(task);
end
$$;
grant execute on function app.review_task(jsonb) to app_user;

-- POST /tasks/{id}/accept and /return. input: {taskId, decision, comment?} (see
-- app.review_task).
create or replace function api.review_task(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.review_task(input);
end
$$;

grant execute on function api.portal_tasks(jsonb, jsonb), api.portal_task(jsonb, jsonb),
  api.portal_form_version(jsonb, jsonb), api.portal_submit_task(jsonb, jsonb),
  api.forms(jsonb, jsonb), api.form(jsonb, jsonb), api.create_form(jsonb, jsonb),
  api.publish_form_version(jsonb, jsonb), api.archive_form(jsonb, jsonb),
  api.assign_task(jsonb, jsonb), api.client_tasks(jsonb, jsonb), api.cancel_task(jsonb, jsonb),
  api.task_submission(jsonb, jsonb), api.review_task(jsonb, jsonb)
  to wardline_authenticator;
