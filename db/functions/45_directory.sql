-- The directory (issue 21, functions/directory): the Fuji36 API's therapists, patients and
-- therapist–patient relationships over the rows the OktaPT routes use (clinicians and their
-- memberships, patients, app.care_team), and the staff and patient lifecycle. Migration 0025;
-- policies in policies/clinics.sql (clinicians, memberships), patients.sql and care_team.sql.
--
-- Who may call what is the Fuji36 authorization table: the routes map roles (Rust), the
-- policies bound every row, and where the table is narrower than what RLS lets a caller see
-- (a therapist reads and acts only for themself on the self-or-admin rows),
-- app.require_self_or_admin says so once.

-- A therapist's status in the current clinic, from their membership there and their person:
-- active (active and approved), pending (not yet approved) or inactive.
create or replace function app.therapist_status(
  membership_active boolean, approved boolean, clinician_active boolean
) returns text
language sql immutable
as $$
  select case when not (membership_active and clinician_active) then 'inactive'
              when approved then 'active' else 'pending' end
$$;

-- A therapist as the directory shows them (Fuji36's TherapistDto and the person's name,
-- e-mail and status): therapistId and userId are both the clinician's id, the identity
-- provider's subject. createdAt is when they joined this clinic.
create or replace function app.therapist_json(c app.clinicians, m app.clinic_memberships)
returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'therapistId', c.id, 'userId', c.id, 'firstName', c.first_name, 'lastName', c.last_name,
    'email', c.email, 'licenseNumber', c.license_number, 'specialization', c.specialization,
    'phoneNumber', c.phone_number, 'status', app.therapist_status(m.active, m.approved, c.active),
    'isAdmin', m.is_admin, 'createdAt', app.iso(m.created_at),
    'updatedAt', app.iso(greatest(c.updated_at, m.updated_at))))
$$;

grant execute on function app.therapist_status(boolean, boolean, boolean),
  app.therapist_json(app.clinicians, app.clinic_memberships) to app_user;

-- The therapist (a clinician with a therapist or prescriber membership) `therapist` of the
-- current clinic, whatever their status; 404 naming `field` otherwise.
create or replace function app.therapist_of_clinic(therapist uuid, field text) returns jsonb
language plpgsql stable
as $$
declare
  shown jsonb;
begin
  select app.therapist_json(c, m) into shown
  from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
  where m.org_id = auth.org_id() and m.clinician_id = therapist
    and m.kind in ('therapist', 'prescriber');
  if shown is null then
    perform api.fail('therapist_not_found', 'No therapist of this clinic has this id.', field);
  end if;
  return shown;
end
$$;

-- The Fuji36 rows "self, admin": a therapist acts only for themself, an admin for anyone of the
-- clinic. A 403 naming `field` otherwise, whether or not that therapist exists.
create or replace function app.require_self_or_admin(clinician uuid, field text) returns void
language plpgsql stable
as $$
begin
  if not auth.is_admin() and clinician is distinct from auth.uid() then
    perform api.fail('forbidden',
      'A therapist may do this only for themselves; the clinic''s admins for any therapist.',
      field);
  end if;
end
$$;

grant execute on function app.therapist_of_clinic(uuid, text),
  app.require_self_or_admin(uuid, text)
  to app_user;

-- A page of the current clinic's therapists with status `wanted`, in one statement: keyset
-- pagination on (last name, first name, id), `after` the id of the previous page's last one.
-- `with_patients` adds each one's patients (active care-team rows of patients RLS shows).
create or replace function app.therapists_page(
  wanted text, page_size integer, after uuid, with_patients boolean
) returns jsonb
language plpgsql stable
as $$
begin
  return (
  with anchor as (
    select c.last_name, c.first_name, c.id from app.clinicians c where c.id = after
  ), page as (
    select c.id, c.last_name, c.first_name, app.therapist_json(c, m) as body
    from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
    where m.org_id = (select auth.org_id()) and m.kind in ('therapist', 'prescriber')
      and app.therapist_status(m.active, m.approved, c.active) = wanted
      and (after is null
           or (c.last_name, c.first_name, c.id)
              > ((select a.last_name from anchor a), (select a.first_name from anchor a), after))
    order by c.last_name, c.first_name, c.id
    limit page_size + 1
  ), numbered as (
    select page.*, row_number() over (order by last_name, first_name, id) as n from page
  )
  select case
    when after is not null and not exists (select 1 from anchor) then
      api.fail_json('invalid_input',
        'The therapist this cursor points at is no longer listed; start from the first page.',
        'cursor')
    else jsonb_build_object(
      'therapists', coalesce((
        select jsonb_agg(x.body || case when with_patients then jsonb_build_object('patients', (
                 select coalesce(jsonb_agg(jsonb_build_object(
                          'patientId', p.id, 'firstName', p.first_name, 'lastName', p.last_name)
                          order by p.last_name, p.first_name, p.id), '[]'::jsonb)
                 from app.care_team t join app.patients p on p.id = t.patient_id
                 where t.org_id = (select auth.org_id()) and t.clinician_id = x.id
                   and t.status = 'active'))
               else '{}'::jsonb end
               order by x.n)
        from numbered x where x.n <= page_size), '[]'::jsonb),
      'nextCursor', (select x.id from numbered x where x.n = page_size
                     and exists (select 1 from numbered y where y.n > page_size)))
  end);
end
$$;
grant execute on function app.therapists_page(text, integer, uuid, boolean) to app_user;

-- POST /therapists. input: {userId (the identity provider's subject, or one the function drew),
-- email, firstName, lastName, licenseNumber?, specialization?, phoneNumber?}. The person, their
-- pending membership of the admin's clinic and the staff invite e-mail (ids only; the text names
-- only the clinic) in the outbox, all or nothing. A person Wardline already has (that e-mail or
-- id, in any clinic) is a 409 naming the field: adding staff of another clinic is not this
-- route's.
create or replace function api.create_therapist(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  therapist uuid := (input ->> 'userId')::uuid;
  violated text;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  begin
    insert into app.clinicians (id, email, first_name, last_name, specialization, license_number,
                                phone_number, created_by)
    values (therapist, input ->> 'email', input ->> 'firstName', input ->> 'lastName',
            input ->> 'specialization', input ->> 'licenseNumber', input ->> 'phoneNumber',
            auth.uid());
  exception when unique_violation then
    get stacked diagnostics violated = constraint_name;
    if violated = 'clinicians_pkey' then
      perform api.fail('clinician_exists', 'Wardline already has a staff member with this id.',
                       'userId');
    end if;
    perform api.fail('clinician_exists',
      'Wardline already has a staff member with this e-mail address.', 'email');
  end;
  insert into app.clinic_memberships (org_id, clinician_id, created_by, updated_by)
  values (auth.org_id(), therapist, auth.uid(), auth.uid());
  insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
  values (auth.org_id(), 'staff_invite', 'email', input ->> 'email',
          jsonb_build_object('clinicianId', therapist), auth.uid());
  perform audit.record('therapist.create', 'clinician', therapist::text);
  return app.therapist_of_clinic(therapist, 'userId');
end
$$;
grant execute on function api.create_therapist(jsonb, jsonb) to wardline_authenticator;

-- GET /therapists/{therapistId} and /therapists/user/{userId} (the same id). input:
-- {therapistId, field}: the therapist themself or an admin.
create or replace function api.therapist(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  therapist uuid := (input ->> 'therapistId')::uuid;
  field text := input ->> 'field';
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_self_or_admin(therapist, field);
  return app.therapist_of_clinic(therapist, field);
end
$$;
grant execute on function api.therapist(jsonb, jsonb) to wardline_authenticator;

-- GET /therapists?status, /therapists/new (pending), /therapists/with-patients. input:
-- {status, withPatients, limit, after}. Therapists list their active colleagues; the pending
-- and inactive lists and the patients are the admins'.
create or replace function api.therapists(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  wanted text := input ->> 'status';
  with_patients boolean := (input ->> 'withPatients')::boolean;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  if (wanted <> 'active' or with_patients) and not auth.is_admin() then
    perform api.fail('forbidden',
      'Therapists list their active colleagues; the other lists are the admins''.', 'status');
  end if;
  return app.therapists_page(wanted, (input ->> 'limit')::integer, (input ->> 'after')::uuid,
                             with_patients);
end
$$;
grant execute on function api.therapists(jsonb, jsonb) to wardline_authenticator;

-- GET /therapists/{therapistId}/patients. input: {therapistId, limit, after, search}: the
-- patients in the therapist's care that the caller may see, as PatientDtos; the therapist
-- themself or an admin.
create or replace function api.therapist_patients(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  therapist uuid := (input ->> 'therapistId')::uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform app.require_self_or_admin(therapist, 'therapistId');
  perform app.therapist_of_clinic(therapist, 'therapistId');
  result := app.patients_page('mine', therapist, (input ->> 'limit')::integer,
                              (input ->> 'after')::uuid, input ->> 'search', false, true);
  perform audit.record('patients.list', 'clinician', therapist::text, 'success',
                       '{"scope": "mine"}');
  return result;
end
$$;
grant execute on function api.therapist_patients(jsonb, jsonb) to wardline_authenticator;

-- POST /therapists/{therapistId}/approve | deactivate | reactivate. input: {therapistId,
-- action}. The membership in the admin's clinic changes (never the admin's own: 403); the
-- same action again answers the therapist unchanged (changed: false). Approving an inactive
-- therapist is a 409 (reactivate first). A deactivated therapist's next request is refused
-- (auth.caller_is_recognised); reactivating keeps whether they were approved. Audited.
create or replace function api.change_therapist(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  therapist uuid := (input ->> 'therapistId')::uuid;
  action text := input ->> 'action';
  changed boolean;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  if therapist = auth.uid() then
    perform api.fail('forbidden',
      'Admins do not approve, deactivate or reactivate themselves; another admin does.',
      'therapistId');
  end if;
  perform app.therapist_of_clinic(therapist, 'therapistId');
  update app.clinic_memberships m
  set active = action <> 'deactivate', approved = m.approved or action = 'approve',
      updated_by = auth.uid(), updated_at = now()
  where m.org_id = auth.org_id() and m.clinician_id = therapist
    and case action when 'approve' then m.active and not m.approved
                    when 'deactivate' then m.active
                    else not m.active end;
  changed := found;
  if changed then
    perform audit.record('therapist.' || action, 'clinician', therapist::text);
  elsif action = 'approve' and exists (
      select 1 from app.clinic_memberships m
      where m.org_id = auth.org_id() and m.clinician_id = therapist and not m.active) then
    perform api.fail('therapist_inactive',
      'This therapist is inactive here; reactivate them before approving.', 'therapistId');
  end if;
  return app.therapist_of_clinic(therapist, 'therapistId')
         || jsonb_build_object('changed', changed);
end
$$;
grant execute on function api.change_therapist(jsonb, jsonb) to wardline_authenticator;

-- The patient `patient` as the caller may see them, with their medical notes sealed
-- (sealedMedicalNotes) for the function to open; 404 naming `field`.
create or replace function app.patient_answer(patient uuid, field text) returns jsonb
language plpgsql stable
as $$
declare
  shown jsonb;
begin
  select app.patient_json(p)
         || case when p.medical_notes_key_id is null then '{}'::jsonb
                 else jsonb_build_object('sealedMedicalNotes', app.sealed_json(
                   p.medical_notes_key_id, p.medical_notes_nonce, p.medical_notes_ciphertext))
            end
  into shown
  from app.patients p where p.id = patient;
  if shown is null then
    perform api.fail('patient_not_found', 'No patient with this id is visible to you.', field);
  end if;
  return shown;
end
$$;

-- The field whose unique index (`violated`) a patient write ran into: an external id or an
-- e-mail address another live patient of the clinic has.
create or replace function app.patient_unique_field(violated text) returns text
language sql immutable
as $$
  select case violated when 'patients_org_external_id_key' then 'userExternalId'
                       else 'email' end
$$;

-- 409 naming `field`, which another live patient of the clinic has.
create or replace function app.fail_patient_exists(field text) returns void
language plpgsql stable
as $$
begin
  perform api.fail('patient_exists', format(
    'Another live patient of this clinic has this %s.',
    case field when 'email' then 'e-mail address' else 'external id' end), field);
end
$$;

-- Sets the fields a directory write names (PatientDto names; null clears an optional one;
-- medicalNotes sealed as {keyId, nonce, ciphertext}) on the live patient `patient`, as the
-- patients update policy lets the caller: 404 when not theirs to change, 409 on a taken
-- e-mail or external id. Creating a patient and PATCH share it.
create or replace function app.apply_patient_fields(patient uuid, fields jsonb) returns void
language plpgsql
as $$
declare
  violated text;
begin
  update app.patients p set
    first_name = case when fields ? 'firstName' then fields ->> 'firstName' else p.first_name end,
    last_name = case when fields ? 'lastName' then fields ->> 'lastName' else p.last_name end,
    email = case when fields ? 'email' then fields ->> 'email' else p.email end,
    phone = case when fields ? 'phoneNumber' then fields ->> 'phoneNumber' else p.phone end,
    date_of_birth = case when fields ? 'dateOfBirth' then (fields ->> 'dateOfBirth')::date
                         else p.date_of_birth end,
    external_id = case when fields ? 'userExternalId' then fields ->> 'userExternalId'
                       else p.external_id end,
    avatar_url = case when fields ? 'avatarUrl' then fields ->> 'avatarUrl' else p.avatar_url end,
    address = case when fields ? 'address' then fields ->> 'address' else p.address end,
    medical_notes_key_id = case when fields ? 'medicalNotes'
                                then fields -> 'medicalNotes' ->> 'keyId'
                                else p.medical_notes_key_id end,
    medical_notes_nonce = case when fields ? 'medicalNotes'
                               then decode(fields -> 'medicalNotes' ->> 'nonce', 'base64')
                               else p.medical_notes_nonce end,
    medical_notes_ciphertext = case when fields ? 'medicalNotes'
                                    then decode(fields -> 'medicalNotes' ->> 'ciphertext', 'base64')
                                    else p.medical_notes_ciphertext end,
    updated_by = auth.uid(), updated_at = now()
  where p.id = patient;
  if not found then
    perform api.fail('patient_not_found', 'No patient with this id is visible to you.',
                     'patientId');
  end if;
exception when unique_violation then
  get stacked diagnostics violated = constraint_name;
  perform app.fail_patient_exists(app.patient_unique_field(violated));
end
$$;

-- Archives (deleted_at) or restores a patient of the current clinic, for its admins (the
-- policy for wardline_auth asks the caller's claims): 'changed', 'unchanged' (no such patient
-- in that state), or the field a restore would take from a live patient (the caller raises:
-- wardline_auth has no use of schema api, so no api.fail). SECURITY DEFINER because an archived patient is invisible to every
-- app_user policy, so neither the archived row of an archive nor the row a restore starts
-- from could pass them.
create or replace function app.set_patient_archived(patient uuid, archived boolean)
returns text
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  violated text;
begin
  update app.patients p
  set deleted_at = case when archived then now() end, updated_by = auth.uid(),
      updated_at = now()
  where p.id = patient and p.org_id = auth.org_id() and (p.deleted_at is null) = archived;
  return case when found then 'changed' else 'unchanged' end;
exception when unique_violation then
  get stacked diagnostics violated = constraint_name;
  return app.patient_unique_field(violated);
end
$$;

grant execute on function app.patient_answer(uuid, text), app.patient_unique_field(text),
  app.fail_patient_exists(text), app.apply_patient_fields(uuid, jsonb),
  app.set_patient_archived(uuid, boolean) to app_user;
grant execute on function app.patient_unique_field(text) to wardline_auth;

-- POST /patients. input: {patientId (drawn by the function, which sealed the notes for it),
-- fields: {firstName, lastName, ...}}. No care team and no invite: relationships are
-- POST /therapist-patient-relationships, and the portal signs in any live patient by a code
-- to their e-mail or phone.
create or replace function api.create_patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  insert into app.patients (id, org_id, first_name, last_name, created_by, updated_by)
  values (patient, auth.org_id(), input -> 'fields' ->> 'firstName',
          input -> 'fields' ->> 'lastName', auth.uid(), auth.uid());
  perform app.apply_patient_fields(patient, input -> 'fields');
  perform audit.record('patient.create', 'patient', patient::text);
  return app.patient_answer(patient, 'patientId');
end
$$;
grant execute on function api.create_patient(jsonb, jsonb) to wardline_authenticator;

-- GET /patients/{patientId} and /patients/user/{userId} (the same id). input: {patientId,
-- field}: whoever RLS shows the patient to (an admin, the care team); patients read themselves
-- through the portal (GET /api/portal/me). The read audited.
create or replace function api.patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := app.patient_answer(patient, input ->> 'field');
  perform audit.record('patient.read', 'patient', patient::text, 'success', '{}', patient);
  return result;
end
$$;
grant execute on function api.patient(jsonb, jsonb) to wardline_authenticator;

-- GET /patients. input: {limit, after, search}: every patient RLS shows the caller, as
-- PatientDtos without medical notes. The read audited.
create or replace function api.patients(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  result := app.patients_page('all', null, (input ->> 'limit')::integer,
                              (input ->> 'after')::uuid, input ->> 'search', false, true);
  perform audit.record('patients.list', null, null, 'success', '{"scope": "all"}');
  return result;
end
$$;
grant execute on function api.patients(jsonb, jsonb) to wardline_authenticator;

-- PATCH /patients/{patientId}. input: {patientId, fields}: the clinic's admins. Audited with
-- the names of the fields changed, never their values.
create or replace function api.update_patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  perform app.apply_patient_fields(patient, input -> 'fields');
  perform audit.record('patient.update', 'patient', patient::text, 'success',
    jsonb_build_object('fields', (select jsonb_agg(k order by k)
                                  from jsonb_object_keys(input -> 'fields') k)));
  return app.patient_answer(patient, 'patientId');
end
$$;
grant execute on function api.update_patient(jsonb, jsonb) to wardline_authenticator;

-- POST /patients/{patientId}/archive. input: {patientId}: the clinic's admins retire a live
-- patient with no booked session or live hold ahead (409: cancel them first, which tells the
-- patient). From then on no policy shows the patient: not to staff (clinicians lose the
-- threads, documents and guardians of app.my_patients), not to the portal (auth.may_act_for
-- refuses their tokens and their guardians'), not to the notices and the waitlist's offers.
-- Answers the patient as they were, archived. A second archive is a 404 like any id the caller
-- cannot see.
create or replace function api.archive_patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
  shown jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  shown := app.patient_answer(patient, 'patientId');
  if exists (select 1 from app.sessions s
             where s.patient_id = patient
               and ((s.status = 'scheduled' and s.ends_at > now())
                    or (s.status = 'held' and s.hold_expires_at > now()))) then
    perform api.fail('patient_has_upcoming_sessions',
      'Cancel or release the patient''s upcoming sessions and holds before archiving them.',
      'patientId');
  end if;
  perform app.set_patient_archived(patient, true);
  perform audit.record('patient.archive', 'patient', patient::text);
  return shown || '{"archived": true}'::jsonb;
end
$$;
grant execute on function api.archive_patient(jsonb, jsonb) to wardline_authenticator;

-- POST /patients/{patientId}/restore. input: {patientId}: the clinic's admins bring an
-- archived patient back (409 when their e-mail or external id was taken meanwhile); a live one
-- is answered as it is. Everything the patient had (care teams, threads, documents) is theirs
-- again.
create or replace function api.restore_patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
  outcome text;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  if not exists (select 1 from app.patients p where p.id = patient) then
    outcome := app.set_patient_archived(patient, false);
    if outcome = 'unchanged' then
      perform api.fail('patient_not_found',
        'No patient of this clinic, archived or not, has this id.', 'patientId');
    elsif outcome <> 'changed' then
      perform app.fail_patient_exists(outcome);
    end if;
    perform audit.record('patient.restore', 'patient', patient::text);
  end if;
  return app.patient_answer(patient, 'patientId') || '{"archived": false}'::jsonb;
end
$$;
grant execute on function api.restore_patient(jsonb, jsonb) to wardline_authenticator;

-- A care-team row as the Fuji36 relationship: its statuses are Active, Suspended, Inactive.
create or replace function app.relationship_json(care jsonb) returns jsonb
language sql immutable
as $$ select care || jsonb_build_object('status', initcap(care ->> 'status')) $$;
grant execute on function app.relationship_json(jsonb) to app_user;

-- POST /therapist-patient-relationships. input: {therapistId, patientId, notes?}: a therapist
-- for themself, an admin for any therapist of the clinic. One row per pair: created, or an
-- inactive one reactivated, or an active one answered unchanged. The assignment the OktaPT
-- route makes (app.assign_care_team), under the same flag.
create or replace function api.add_relationship(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  therapist uuid := (input ->> 'therapistId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform api.require_flag('therapistPatientAssignment');
  perform app.require_self_or_admin(therapist, 'therapistId');
  return app.relationship_json(app.assign_care_team(
    (input ->> 'patientId')::uuid, therapist, input ->> 'notes', 'patientId', 'therapistId'));
end
$$;
grant execute on function api.add_relationship(jsonb, jsonb) to wardline_authenticator;

-- DELETE /therapist-patient-relationships/{therapistId}/{patientId}. input: {therapistId,
-- patientId}: soft-deletes to Inactive (kept as history); a therapist for themself, an admin
-- for anyone.
create or replace function api.end_relationship(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  therapist uuid := (input ->> 'therapistId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform api.require_flag('therapistPatientAssignment');
  perform app.require_self_or_admin(therapist, 'therapistId');
  return app.relationship_json(app.set_care_team_status(
    (input ->> 'patientId')::uuid, therapist, 'inactive'));
end
$$;
grant execute on function api.end_relationship(jsonb, jsonb) to wardline_authenticator;
