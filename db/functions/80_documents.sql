-- Document uploads (issue 20), for the portal (functions/portal) and the care team
-- (functions/records). SQL keeps the record; the functions presign S3 for the key SQL answers
-- and, at completion, pass what S3's HEAD reported. Who sees which document is RLS's decision
-- (db/policies/documents.sql); a document nobody may see is a 404.

-- A document as both sides read it (never its object key: only a presigned URL leaves).
create or replace function app.document_json(d app.documents) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', d.id,
    'patientId', d.patient_id,
    'uploader', d.uploader,
    'fileName', d.file_name,
    'contentType', d.content_type,
    'sizeBytes', d.size_bytes,
    'status', d.status,
    'sharedWithPatient', d.shared_with_patient,
    'createdAt', app.iso(d.created_at),
    'completedAt', app.iso(d.completed_at)))
$$;
grant execute on function app.document_json(app.documents) to app_user;

-- The document `document` as RLS shows it to the caller, locked for a change; 404 naming `id`
-- otherwise.
create or replace function app.lock_document(document uuid) returns app.documents
language plpgsql
as $$
declare
  found_row app.documents;
begin
  select * into found_row from app.documents d where d.id = document for update;
  if not found then
    perform api.fail('document_not_found', 'No document with this id is visible to you.', 'id');
  end if;
  return found_row;
end
$$;
grant execute on function app.lock_document(uuid) to app_user;

-- Records pending upload `input.documentId` of `patient` by the caller's side, as declared
-- (input: fileName, contentType, sizeBytes); answers the document and the key to presign.
-- Audited without the file name.
create or replace function app.start_upload(patient uuid, input jsonb) returns jsonb
language plpgsql
as $$
declare
  side text := case when auth.is_patient() then 'patient' else 'staff' end;
  org uuid := (select auth.org_id());
  document uuid := (input ->> 'documentId')::uuid;
  started app.documents;
begin
  insert into app.documents (id, org_id, patient_id, uploader, uploaded_by, object_key,
                             file_name, content_type, size_bytes)
  values (document, org, patient, side,
          case side when 'patient' then auth.patient_id() else auth.uid() end,
          'documents/' || org || '/' || document, input ->> 'fileName',
          input ->> 'contentType', (input ->> 'sizeBytes')::bigint)
  returning * into started;
  perform audit.record('document.upload', 'document', started.id::text, 'success',
    jsonb_build_object('patientId', patient, 'uploader', side,
                       'contentType', started.content_type, 'sizeBytes', started.size_bytes));
  return jsonb_build_object('document', app.document_json(started),
                            'objectKey', started.object_key);
end
$$;
grant execute on function app.start_upload(uuid, jsonb) to app_user;

-- Completes upload `input.documentId` of the caller's side with what S3 holds (input.stored:
-- {sizeBytes, contentType}, null when there is no object): available when it is exactly what
-- was declared; otherwise refused for good (the refusal is committed) with 422
-- `upload_mismatch` naming the declared field it differs in. Audited either way.
create or replace function app.complete_upload(input jsonb) returns jsonb
language plpgsql
as $$
declare
  side text := case when auth.is_patient() then 'patient' else 'staff' end;
  document app.documents := app.lock_document((input ->> 'documentId')::uuid);
  stored jsonb := input -> 'stored';
  differs text;
begin
  if document.uploader <> side then
    perform api.fail('document_not_found', 'No document with this id is visible to you.', 'id');
  end if;
  if document.status = 'available' then
    return app.document_json(document);
  elsif document.status = 'refused' then
    perform api.fail('upload_refused',
      'This upload was refused; start a new one.', 'id');
  elsif jsonb_typeof(stored) is distinct from 'object' then
    perform api.fail('upload_missing', 'Nothing was uploaded for this document yet.', 'id');
  end if;
  differs := case
    when (stored ->> 'sizeBytes')::bigint is distinct from document.size_bytes then 'sizeBytes'
    when stored ->> 'contentType' is distinct from document.content_type then 'contentType'
  end;
  update app.documents d
  set status = case when differs is null then 'available' else 'refused' end,
      completed_at = now()
  where d.id = document.id
  returning * into document;
  perform audit.record('document.complete', 'document', document.id::text,
    case when differs is null then 'success' else 'failure' end,
    jsonb_strip_nulls(jsonb_build_object('status', document.status, 'differs', differs)));
  if differs is not null then
    return api.committed_failure('upload_mismatch',
      'The uploaded file differs from what was declared; it was refused.',
      jsonb_build_object('field', differs));
  end if;
  return app.document_json(document);
end
$$;
grant execute on function app.complete_upload(jsonb) to app_user;

-- The object key of available document `document`, for a presigned GET; audited as a read.
create or replace function app.read_document(document uuid) returns jsonb
language plpgsql
as $$
declare
  found_row app.documents;
begin
  select * into found_row from app.documents d where d.id = document and d.status = 'available';
  if not found then
    perform api.fail('document_not_found', 'No document with this id is available to you.',
                     'id');
  end if;
  perform audit.record('document.read', 'document', found_row.id::text, 'success', '{}',
                       found_row.patient_id);
  return jsonb_build_object('document', app.document_json(found_row),
                            'objectKey', found_row.object_key);
end
$$;
grant execute on function app.read_document(uuid) to app_user;

-- The documents of `patient` RLS shows the caller (all of them: pending, available, refused),
-- newest first.
create or replace function app.documents_of(patient uuid) returns jsonb
language sql stable
as $$
  select jsonb_build_object('documents', coalesce(
    (select jsonb_agg(app.document_json(d) order by d.created_at desc, d.id desc)
     from app.documents d where d.patient_id = patient), '[]'::jsonb))
$$;
grant execute on function app.documents_of(uuid) to app_user;

-- POST /api/portal/uploads. input: {host, documentId, fileName, contentType, sizeBytes}.
create or replace function api.portal_upload_start(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.start_upload((select auth.patient_id()), input);
end
$$;

-- POST /api/portal/uploads/{id}/complete. input: {host, documentId, stored}.
create or replace function api.portal_upload_complete(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.complete_upload(input);
end
$$;

-- GET /api/portal/documents. input: {host}: their uploads and what the team shared.
create or replace function api.portal_documents(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.documents_of((select auth.patient_id()));
end
$$;

-- GET /api/portal/documents/{id}/download. input: {host, documentId}.
create or replace function api.portal_document_download(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.read_document((input ->> 'documentId')::uuid);
end
$$;

-- The patient `patient`, visible to the staff caller, or 404 naming `field` (the routes'
-- clientId unless another is given).
create or replace function app.require_visible_patient(patient uuid, field text default 'clientId')
returns uuid
language plpgsql stable
as $$
begin
  if not exists (select 1 from app.patients p where p.id = patient) then
    perform api.fail('patient_not_found', 'No patient with this id is visible to you.', field);
  end if;
  return patient;
end
$$;
grant execute on function app.require_visible_patient(uuid, text) to app_user;

-- GET /clients/{clientId}/documents. input: {patientId}. The read audited.
create or replace function api.documents(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  patient := app.require_visible_patient((input ->> 'patientId')::uuid);
  result := app.documents_of(patient);
  perform audit.record('documents.list', 'patient', patient::text, 'success', '{}', patient);
  return result;
end
$$;

-- POST /clients/{clientId}/documents. input: {patientId, documentId, fileName, contentType,
-- sizeBytes}: a care-team clinician or an admin uploads for the patient (403 for a patient
-- outside the caller's care).
create or replace function api.staff_upload_start(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  patient := app.require_visible_patient((input ->> 'patientId')::uuid);
  if auth.app_role() is distinct from 'admin' and patient not in (select app.my_patients()) then
    perform api.fail('forbidden',
      'Only the patient''s care team and the clinic''s admins upload for a patient.',
      'clientId');
  end if;
  return app.start_upload(patient, input);
end
$$;

-- POST /documents/{id}/complete. input: {documentId, stored}.
create or replace function api.staff_upload_complete(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.complete_upload(input);
end
$$;

-- GET /documents/{id}/download. input: {documentId}.
create or replace function api.document_download(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.read_document((input ->> 'documentId')::uuid);
end
$$;

-- Shares available staff document `document` with its patient's portal (409 for any other).
-- Audited when it changes.
create or replace function app.share_document(document uuid) returns jsonb
language plpgsql
as $$
declare
  found_row app.documents := app.lock_document(document);
begin
  if found_row.uploader <> 'staff' or found_row.status <> 'available' then
    perform api.fail('not_shareable',
      'Only an available document the care team uploaded can be shared.', 'id');
  end if;
  if not found_row.shared_with_patient then
    update app.documents d set shared_with_patient = true where d.id = found_row.id
    returning * into found_row;
    perform audit.record('document.share', 'document', found_row.id::text);
  end if;
  return app.document_json(found_row);
end
$$;
grant execute on function app.share_document(uuid) to app_user;

-- POST /documents/{id}/share. input: {documentId}: an available staff document becomes
-- readable in the patient's portal.
create or replace function api.share_document(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.share_document((input ->> 'documentId')::uuid);
end
$$;

grant execute on function api.portal_upload_start(jsonb, jsonb),
  api.portal_upload_complete(jsonb, jsonb), api.portal_documents(jsonb, jsonb),
  api.portal_document_download(jsonb, jsonb), api.documents(jsonb, jsonb),
  api.staff_upload_start(jsonb, jsonb), api.staff_upload_complete(jsonb, jsonb),
  api.document_download(jsonb, jsonb), api.share_document(jsonb, jsonb)
  to wardline_authenticator;
