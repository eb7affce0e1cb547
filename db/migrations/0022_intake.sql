-- Intake (issue 20, part 1): the care team assigns a patient tasks (fill in a form, upload a
-- document, give a consent), each optionally due on a date. Clinics define forms as JSON
-- Schemas (Draft 2020-12) in immutable versions; a form task pins the version current when it
-- was assigned, and answers are validated (in Rust) against exactly that version. Answers are
-- sealed at rest like messages; staff review each submission and accept it or return it with
-- a comment, after which the patient may submit again (every submission is kept).

create table app.forms (
  id         uuid primary key default gen_random_uuid(),
  org_id     uuid not null references app.clinics (id) on delete cascade,
  name       text not null check (length(name) between 1 and 200),
  -- An archived form is assigned no more; tasks already pinned to it stay as they are.
  archived   boolean not null default false,
  created_by uuid not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, id)
);
create index forms_org_name_idx on app.forms (org_id, name, id);
grant select, insert (id, org_id, name, created_by), update (archived, updated_at)
  on app.forms to app_user;

-- Versions are immutable (no UPDATE or DELETE grant): a submission is read against the schema
-- its patient was shown, for as long as it is kept.
create table app.form_versions (
  id         uuid primary key default gen_random_uuid(),
  org_id     uuid not null,
  form_id    uuid not null,
  version    integer not null check (version >= 1),
  -- The schema as PostgreSQL writes it out, at most 32 KiB (shared::limits).
  schema     jsonb not null
               constraint form_versions_schema_size check (octet_length(schema::text) <= 32768)
               check (jsonb_typeof(schema) = 'object'),
  created_by uuid not null,
  created_at timestamptz not null default now(),
  unique (form_id, version),
  unique (org_id, id),
  foreign key (org_id, form_id) references app.forms (org_id, id) on delete cascade
);
create index form_versions_org_idx on app.form_versions (org_id);
grant select, insert (id, org_id, form_id, version, schema, created_by)
  on app.form_versions to app_user;

create table app.patient_tasks (
  id              uuid primary key default gen_random_uuid(),
  org_id          uuid not null references app.clinics (id) on delete cascade,
  patient_id      uuid not null,
  kind            text not null check (kind in ('form', 'upload', 'consent')),
  -- Shown to the patient; may be PHI, so it stays here (never in audit details or logs).
  title           text not null check (length(title) between 1 and 200),
  due_on          date,
  -- A form task's version, pinned at assignment.
  form_version_id uuid,
  -- A consent task: the consent type the patient is asked to grant (and, optionally, the
  -- version of its text); recording that consent completes it, naming the consent row.
  consent_type    text check (consent_type ~ '^[a-z][a-z0-9_]{0,49}$'),
  consent_version text check (length(consent_version) between 1 and 50),
  consent_id      bigint references app.portal_consents (id),
  -- open → submitted → accepted, or → returned → submitted …; consent tasks open → completed;
  -- any but accepted and completed may be cancelled.
  status          text not null default 'open'
                    check (status in ('open', 'submitted', 'returned', 'accepted', 'completed',
                                      'cancelled')),
  assigned_by     uuid not null,
  assigned_at     timestamptz not null default now(),
  -- Who changed the status last (the patient submitting, staff reviewing or cancelling).
  updated_by      uuid not null,
  updated_at      timestamptz not null default now(),
  check ((kind = 'form') = (form_version_id is not null)),
  check ((kind = 'consent') = (consent_type is not null)),
  check (kind = 'consent' or consent_version is null),
  check ((status = 'completed') = (consent_id is not null)),
  check (kind <> 'consent' or status in ('open', 'completed', 'cancelled')),
  unique (org_id, id),
  unique (org_id, id, patient_id),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, form_version_id) references app.form_versions (org_id, id)
);
create index patient_tasks_patient_idx on app.patient_tasks (patient_id, assigned_at desc, id desc);
create index patient_tasks_org_idx on app.patient_tasks (org_id);
grant select,
  insert (id, org_id, patient_id, kind, title, due_on, form_version_id, consent_type,
          consent_version, assigned_by, updated_by),
  update (status, consent_id, updated_by, updated_at)
  on app.patient_tasks to app_user;

-- What the patient handed in for a task, each time: a form's answers (sealed in Rust: key id,
-- nonce, ciphertext; bound to the clinic, the submission, its task and its form version) or
-- an upload task's document; and the review of it.
create table app.task_submissions (
  id              uuid primary key,
  org_id          uuid not null,
  task_id         uuid not null,
  -- The task's patient (the foreign key holds it to the task), so policies compare a column.
  patient_id      uuid not null,
  form_version_id uuid,
  key_id          text check (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  nonce           bytea check (length(nonce) = 12),
  -- At most 32 KiB of answers (shared::limits), sealed: plus the 16-byte tag.
  ciphertext      bytea
                    constraint task_submissions_answers_size
                    check (length(ciphertext) between 17 and 32784),
  document_id     uuid references app.documents (id),
  submitted_at    timestamptz not null default now(),
  review          text check (review in ('accepted', 'returned')),
  -- To the patient, with a return (required) or an acceptance.
  review_comment  text check (length(review_comment) between 1 and 2000),
  reviewed_by     uuid,
  reviewed_at     timestamptz,
  check ((form_version_id is not null and key_id is not null and nonce is not null
          and ciphertext is not null and document_id is null)
         or (document_id is not null and form_version_id is null and key_id is null
             and nonce is null and ciphertext is null)),
  check ((review is null) = (reviewed_by is null) and (review is null) = (reviewed_at is null)),
  check (review is distinct from 'returned' or review_comment is not null),
  foreign key (org_id, task_id, patient_id)
    references app.patient_tasks (org_id, id, patient_id) on delete cascade,
  foreign key (org_id, form_version_id) references app.form_versions (org_id, id)
);
create index task_submissions_task_idx
  on app.task_submissions (task_id, submitted_at desc, id desc);
create index task_submissions_patient_idx on app.task_submissions (patient_id);
create index task_submissions_org_idx on app.task_submissions (org_id);
grant select,
  insert (id, org_id, task_id, patient_id, form_version_id, key_id, nonce, ciphertext,
          document_id),
  update (review, review_comment, reviewed_by, reviewed_at)
  on app.task_submissions to app_user;
