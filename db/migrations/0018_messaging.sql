-- Secure messaging (issue 19): threads between a patient and their care team (active care-team
-- clinicians and the clinic's admins), messages sealed at rest like session notes (the
-- function seals with AES-256-GCM; the row holds key id, nonce and ciphertext, never the
-- text), read markers, and the quiet period of new-message notices.

create table app.threads (
  id                uuid primary key default gen_random_uuid(),
  org_id            uuid not null references app.clinics (id) on delete cascade,
  patient_id        uuid not null,
  status            text not null default 'open' check (status in ('open', 'closed')),
  -- A colleague on the patient's team the thread is handed to; null: the whole team.
  assigned_to       uuid,
  created_by        uuid not null,
  created_at        timestamptz not null default now(),
  last_message_at   timestamptz not null default now(),
  -- Who wrote last: what the inbox sorts "waiting for us" by.
  last_sender       text not null check (last_sender in ('patient', 'staff')),
  -- Read markers (the patient's; the team's latest) and the last new-message notice of each
  -- side (the quiet period holds only while that notice is unread).
  patient_read_at   timestamptz,
  staff_read_at     timestamptz,
  patient_notified_at timestamptz,
  staff_notified_at timestamptz,
  updated_at        timestamptz not null default now(),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, assigned_to) references app.clinic_memberships (org_id, clinician_id)
);
alter table app.threads add constraint threads_org_id_id_key unique (org_id, id);
-- The inbox: the clinic's threads, latest message first.
create index threads_org_last_idx on app.threads (org_id, last_message_at desc, id desc);
create index threads_patient_idx on app.threads (patient_id, last_message_at desc, id desc);
create index threads_assigned_idx on app.threads (assigned_to) where assigned_to is not null;

grant select, insert (id, org_id, patient_id, created_by, last_sender),
  update (status, assigned_to, last_message_at, last_sender, patient_read_at, staff_read_at,
          patient_notified_at, staff_notified_at, updated_at)
  on app.threads to app_user;

create table app.messages (
  id          uuid primary key,
  org_id      uuid not null references app.clinics (id) on delete cascade,
  thread_id   uuid not null,
  -- The thread's patient, copied so the policies compare a plain column.
  patient_id  uuid not null,
  sender      text not null check (sender in ('patient', 'staff')),
  sender_id   uuid not null,
  key_id      text not null check (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  nonce       bytea not null check (length(nonce) = 12),
  -- 8,000 characters of text at most, sealed (UTF-8, up to 4 bytes each, plus the tag).
  ciphertext  bytea not null check (length(ciphertext) between 17 and 32016),
  created_at  timestamptz not null default now(),
  foreign key (org_id, thread_id) references app.threads (org_id, id) on delete cascade,
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index messages_thread_idx on app.messages (thread_id, created_at desc, id desc);
create index messages_org_idx on app.messages (org_id);
create index messages_patient_idx on app.messages (patient_id);
grant select, insert (id, org_id, thread_id, patient_id, sender, sender_id, key_id, nonce,
                      ciphertext)
  on app.messages to app_user;

-- Where each staff member has read a thread up to.
create table app.thread_reads (
  thread_id    uuid not null,
  reader_id    uuid not null,
  org_id       uuid not null references app.clinics (id) on delete cascade,
  last_read_at timestamptz not null,
  primary key (thread_id, reader_id),
  foreign key (org_id, thread_id) references app.threads (org_id, id) on delete cascade
);
create index thread_reads_org_reader_idx on app.thread_reads (org_id, reader_id);
grant select, insert, update (last_read_at) on app.thread_reads to app_user;

-- At most one new-message notice per thread and side in this many minutes.
alter table app.clinics
  add column message_notice_quiet_minutes integer not null default 60
    check (message_notice_quiet_minutes between 0 and 10080);

-- The waitlist's offer maker (app.offer_freed_time, as wardline_auth) offers no time the
-- clinician has taken off; a moved session's reminder records are forgotten
-- (app.forget_reminders, as wardline_auth) so the new time gets its own.
grant select on app.time_off to wardline_auth;
grant delete on app.session_reminders to wardline_auth;
