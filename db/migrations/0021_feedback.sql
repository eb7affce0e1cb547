-- Feedback (issue 20): once per completed session, a patient may rate it — NPS (0–10, would
-- they recommend the clinic) and/or CSAT (1–5, how satisfied) — with an optional comment.
-- Admins read their clinic's report.

create table app.session_feedback (
  session_id  uuid primary key,
  org_id      uuid not null references app.clinics (id) on delete cascade,
  patient_id  uuid not null,
  clinician_id uuid not null,
  nps         integer check (nps between 0 and 10),
  csat        integer check (csat between 1 and 5),
  comment     text check (length(comment) between 1 and 1000),
  created_at  timestamptz not null default now(),
  check (nps is not null or csat is not null),
  foreign key (org_id, session_id) references app.sessions (org_id, id) on delete cascade,
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index session_feedback_org_created_idx on app.session_feedback (org_id, created_at);
create index session_feedback_patient_idx on app.session_feedback (patient_id, created_at);
grant select, insert (session_id, org_id, patient_id, clinician_id, nps, csat, comment)
  on app.session_feedback to app_user;
