-- The directory (issue 21): the Fuji36 therapist and patient API over the same clinicians,
-- memberships, patients and care teams the OktaPT routes use, and the staff and patient
-- lifecycle. Policies: policies/clinics.sql, policies/patients.sql.
--
-- A therapist is a clinician with a therapist or prescriber membership of the clinic; their
-- therapistId and userId are both the clinician's id, which is the identity provider's subject
-- (the token's `sub`, or the claim WARDLINE_CLAIM_SUB names). Their status in a clinic is
-- their membership's: active and approved (active), active and not yet approved (pending),
-- or inactive. An admin creates one pending, with a membership of their own clinic only, and
-- approves, deactivates and reactivates the memberships of their clinic but their own.

-- What the Fuji36 TherapistDto carries of the person, and who created them.
alter table app.clinicians
  add column license_number text check (length(license_number) between 1 and 64),
  add column phone_number   text check (phone_number ~ '^\+[1-9][0-9]{6,14}$'),
  add column created_by     uuid,
  add column updated_at     timestamptz not null default now();

-- When a membership last changed state, and who created and changed it.
alter table app.clinic_memberships
  add column created_by uuid,
  add column updated_by uuid,
  add column updated_at timestamptz not null default now();

grant insert (id, email, first_name, last_name, specialization, license_number, phone_number,
              created_by)
  on app.clinicians to app_user;
grant insert (org_id, clinician_id, created_by, updated_by),
  update (active, approved, updated_by, updated_at)
  on app.clinic_memberships to app_user;

-- What the Fuji36 PatientDto carries: the id another system knows the patient by, a picture,
-- an address, and medical notes, sealed by the function like session notes (the row holds the
-- key id, nonce and ciphertext, never the text).
alter table app.patients
  add column external_id              text check (length(external_id) between 1 and 128),
  add column avatar_url               text
    check (length(avatar_url) <= 2048 and avatar_url ~ '^https://[^[:space:]]+$'),
  add column address                  text check (length(address) between 1 and 500),
  add column medical_notes_key_id     text check (medical_notes_key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  add column medical_notes_nonce      bytea check (length(medical_notes_nonce) = 12),
  add column medical_notes_ciphertext bytea
    constraint patients_medical_notes_ciphertext_check
    check (length(medical_notes_ciphertext) between 16 and 32784),
  add column updated_by               uuid,
  add column updated_at               timestamptz not null default now(),
  add constraint patients_medical_notes_sealed_whole check (
    (medical_notes_key_id is null) = (medical_notes_nonce is null)
    and (medical_notes_key_id is null) = (medical_notes_ciphertext is null));
create unique index patients_org_external_id_key on app.patients (org_id, external_id)
  where deleted_at is null and external_id is not null;
-- The archived patients of a clinic: what app.my_patients leaves out.
create index patients_org_archived_idx on app.patients (org_id) where deleted_at is not null;

grant insert (external_id, avatar_url, address, medical_notes_key_id, medical_notes_nonce,
              medical_notes_ciphertext, updated_by)
  on app.patients to app_user;
grant update (first_name, last_name, email, phone, date_of_birth, external_id, avatar_url,
              address, medical_notes_key_id, medical_notes_nonce, medical_notes_ciphertext,
              updated_by, updated_at)
  on app.patients to app_user;
-- Archiving and restoring (app.set_patient_archived, SECURITY DEFINER: an archived patient is
-- invisible to every app_user policy).
grant update (deleted_at, updated_by, updated_at) on app.patients to wardline_auth;
