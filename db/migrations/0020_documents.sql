-- Document uploads (issue 20): files a patient or their care team put in S3 for the other. The
-- object lives under `documents/{org_id}/{id}` (nothing about the patient in it); the row keeps
-- what was declared before the upload and whether S3 then held exactly that. The display file
-- name may itself be PHI, so it stays here, never in the key.

create table app.documents (
  id                  uuid primary key default gen_random_uuid(),
  org_id              uuid not null references app.clinics (id) on delete cascade,
  patient_id          uuid not null,
  uploader            text not null check (uploader in ('patient', 'staff')),
  -- The patient (uploader 'patient') or the clinician who uploaded it.
  uploaded_by         uuid not null,
  object_key          text not null unique
                        check (object_key = 'documents/' || org_id || '/' || id),
  file_name           text check (length(file_name) between 1 and 200),
  content_type        text not null check (content_type in ('application/pdf', 'image/jpeg',
                                                            'image/png', 'image/heic')),
  -- Declared before the upload; completion refuses an object of any other size (20 MiB max).
  size_bytes          bigint not null check (size_bytes between 1 and 20971520),
  status              text not null default 'pending'
                        check (status in ('pending', 'available', 'refused')),
  -- A staff document the patient may read in the portal.
  shared_with_patient boolean not null default false,
  created_at          timestamptz not null default now(),
  completed_at        timestamptz,
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index documents_patient_idx on app.documents (patient_id, created_at desc, id desc);
create index documents_org_idx on app.documents (org_id);

grant select, insert (id, org_id, patient_id, uploader, uploaded_by, object_key, file_name,
                      content_type, size_bytes, shared_with_patient),
  update (status, completed_at, shared_with_patient)
  on app.documents to app_user;
