-- Signed notes (issue 22, migration 0028): signing locks a session's note, addenda follow it,
-- a clinic may require an admin's co-signature before a note is final. The note's text and
-- each addendum's are sealed by the function (schedule); SQL holds and compares ciphertext.

-- The lock: once signed, a note's text, its signature and its rule stay as they are; the
-- co-signature is set once. Signing itself changes nothing but the signature.
create or replace function app.keep_signed_notes() returns trigger
language plpgsql
as $$
begin
  if old.signed_at is null and new.signed_at is null then
    return new;
  end if;
  if (new.key_id, new.nonce, new.ciphertext, new.updated_by, new.updated_at)
       is distinct from (old.key_id, old.nonce, old.ciphertext, old.updated_by, old.updated_at)
     or (old.signed_at is not null
         and ((new.signed_at, new.signed_by, new.cosign_required)
                is distinct from (old.signed_at, old.signed_by, old.cosign_required)
              or (old.cosigned_at is not null
                  and (new.cosigned_at, new.cosigned_by)
                        is distinct from (old.cosigned_at, old.cosigned_by)))) then
    perform api.fail_with('note_locked',
      'This note is signed and locked: add an addendum instead.',
      jsonb_build_object('lock', jsonb_build_object(
        'signedAt', app.iso(coalesce(old.signed_at, new.signed_at)),
        'signedBy', coalesce(old.signed_by, new.signed_by))));
  end if;
  return new;
end
$$;

create trigger session_notes_keep_signed before update on app.session_notes
  for each row execute function app.keep_signed_notes();
create trigger note_addenda_append_only before update or delete on app.note_addenda
  for each row execute function app.reject_change();

-- Where a note stands: draft (editable), awaiting_cosign (signed, locked, not yet final), final.
create or replace function app.note_status(n app.session_notes) returns text
language sql immutable
as $$
  select case when n.signed_at is null then 'draft'
              when n.cosign_required and n.cosigned_at is null then 'awaiting_cosign'
              else 'final' end
$$;

-- A note's signature state, as every notes route answers it.
create or replace function app.note_state_json(n app.session_notes) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'sessionId', n.session_id, 'status', app.note_status(n),
    'updatedAt', app.iso(n.updated_at), 'updatedBy', n.updated_by,
    'signedAt', app.iso(n.signed_at), 'signedBy', n.signed_by,
    'cosignRequired', n.cosign_required,
    'cosignedAt', app.iso(n.cosigned_at), 'cosignedBy', n.cosigned_by))
$$;

-- The note of session `session` as RLS shows it, locked for a change; 404 naming id when the
-- session has none the caller may see.
create or replace function app.lock_note(session uuid) returns app.session_notes
language plpgsql
as $$
declare
  note app.session_notes;
begin
  select * into note from app.session_notes n where n.session_id = session for update;
  if not found then
    perform api.fail('note_not_found', 'This session has no note you may see.', 'id');
  end if;
  return note;
end
$$;

-- Signs the note as the session's clinician, under the clinic's co-signature rule of now.
create or replace function app.sign_note(session uuid) returns jsonb
language plpgsql
as $$
declare
  note app.session_notes := app.lock_note(session);
begin
  if not exists (select 1 from app.sessions s
                 where s.id = session and s.clinician_id = auth.uid()) then
    perform api.fail('not_session_clinician',
      'Only the session''s clinician signs its note.', 'id');
  end if;
  if note.signed_at is not null then
    return app.note_state_json(note);
  end if;
  update app.session_notes n
  set signed_by = auth.uid(), signed_at = now(),
      cosign_required = (select c.notes_cosign_required from app.clinics c
                         where c.id = n.org_id)
  where n.session_id = session
  returning * into note;
  perform audit.record('session.notes.sign', 'session', session::text, 'success',
                       jsonb_build_object('cosignRequired', note.cosign_required));
  return app.note_state_json(note);
end
$$;

-- Co-signs a signed note that needs it, as an admin who did not sign it.
create or replace function app.cosign_note(session uuid) returns jsonb
language plpgsql
as $$
declare
  note app.session_notes := app.lock_note(session);
begin
  if note.signed_at is null then
    perform api.fail('note_not_signed', 'The note must be signed first.', 'id');
  end if;
  if not note.cosign_required or note.cosigned_at is not null then
    perform api.fail('cosign_not_needed',
      'This note needs no co-signature, or has one already.', 'id');
  end if;
  if note.signed_by = auth.uid() then
    perform api.fail('own_note', 'A note is co-signed by someone other than its signer.', 'id');
  end if;
  update app.session_notes n set cosigned_by = auth.uid(), cosigned_at = now()
  where n.session_id = session
  returning * into note;
  perform audit.record('session.notes.cosign', 'session', session::text);
  return app.note_state_json(note);
end
$$;

-- Adds a sealed addendum `input.addendumId` to the signed note of `session`.
create or replace function app.add_addendum(session uuid, input jsonb) returns jsonb
language plpgsql
as $$
declare
  note app.session_notes := app.lock_note(session);
  added app.note_addenda;
begin
  if note.signed_at is null then
    perform api.fail('note_not_signed',
      'A draft note is edited; addenda follow a signed one.', 'id');
  end if;
  insert into app.note_addenda (id, org_id, session_id, key_id, nonce, ciphertext, created_by)
  values ((input ->> 'addendumId')::uuid, note.org_id, session, input ->> 'keyId',
          decode(input ->> 'nonce', 'base64'), decode(input ->> 'ciphertext', 'base64'),
          auth.uid())
  returning * into added;
  perform audit.record('session.notes.addendum', 'session', session::text, 'success',
                       jsonb_build_object('addendumId', added.id, 'keyId', added.key_id));
  return jsonb_build_object('id', added.id, 'sessionId', session,
                            'createdAt', app.iso(added.created_at), 'createdBy', added.created_by);
end
$$;

-- The note of `session` with its addenda, sealed (the function opens them); the read audited
-- once, in this statement.
create or replace function app.read_note(session uuid) returns jsonb
language plpgsql
as $$
declare
  note app.session_notes;
begin
  select * into note from app.session_notes n where n.session_id = session;
  if not found then
    perform api.fail('note_not_found', 'This session has no note you may see.', 'id');
  end if;
  perform audit.record('session.notes.read', 'session', session::text, 'success', '{}',
                       (select s.patient_id from app.sessions s where s.id = session));
  return app.note_state_json(note) || jsonb_build_object(
    'sealedNotes', jsonb_build_object('keyId', note.key_id, 'nonce', encode(note.nonce, 'base64'),
                                      'ciphertext', encode(note.ciphertext, 'base64')),
    'addenda', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', a.id, 'createdAt', app.iso(a.created_at), 'createdBy', a.created_by,
               'sealed', jsonb_build_object('keyId', a.key_id,
                                            'nonce', encode(a.nonce, 'base64'),
                                            'ciphertext', encode(a.ciphertext, 'base64')))
               order by a.created_at, a.id)
      from app.note_addenda a where a.session_id = session), '[]'));
end
$$;

grant execute on function app.note_status(app.session_notes),
  app.note_state_json(app.session_notes), app.lock_note(uuid), app.sign_note(uuid),
  app.cosign_note(uuid), app.add_addendum(uuid, jsonb), app.read_note(uuid) to app_user;

-- POST /sessions/{id}/notes/sign. input: {sessionId}.
create or replace function api.sign_session_notes(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.sign_note((input ->> 'sessionId')::uuid);
end
$$;

-- POST /sessions/{id}/notes/cosign. input: {sessionId}. Admins.
create or replace function api.cosign_session_notes(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.cosign_note((input ->> 'sessionId')::uuid);
end
$$;

-- POST /sessions/{id}/notes/addenda. input: {sessionId, addendumId, keyId, nonce, ciphertext}.
create or replace function api.add_note_addendum(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.add_addendum((input ->> 'sessionId')::uuid, input);
end
$$;

-- GET /sessions/{id}/notes. input: {sessionId}.
create or replace function api.session_notes(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.read_note((input ->> 'sessionId')::uuid);
end
$$;

grant execute on function api.sign_session_notes(jsonb, jsonb),
  api.cosign_session_notes(jsonb, jsonb), api.add_note_addendum(jsonb, jsonb),
  api.session_notes(jsonb, jsonb) to wardline_authenticator;
