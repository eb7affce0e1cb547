-- Clinical notes that hold up in an audit (issue 22): a session's clinician signs its note,
-- which locks it; later words are addenda, sealed like the note, append-only; a clinic may
-- require a supervisor's co-signature (one of its admins, not the signer) before a note is
-- final. The lock is a trigger (app.keep_signed_notes, db/functions/33_notes.sql), so no
-- request role can change a signed note whatever a handler does.

alter table app.clinics
  add column notes_cosign_required boolean not null default false;
grant update (notes_cosign_required) on app.clinics to app_user;

alter table app.session_notes
  add column signed_by       uuid,
  add column signed_at       timestamptz,
  -- The clinic's rule when the note was signed, so a later change of the rule leaves it.
  add column cosign_required boolean not null default false,
  add column cosigned_by     uuid,
  add column cosigned_at     timestamptz,
  add constraint session_notes_signed_check check ((signed_at is null) = (signed_by is null)),
  add constraint session_notes_cosigned_check check (
    (cosigned_at is null) = (cosigned_by is null)
    and (cosigned_at is null or (signed_at is not null and cosign_required
                                 and cosigned_by <> signed_by)));
grant update (signed_by, signed_at, cosign_required, cosigned_by, cosigned_at)
  on app.session_notes to app_user;

create table app.note_addenda (
  id          uuid primary key,
  org_id      uuid not null references app.clinics (id) on delete cascade,
  session_id  uuid not null references app.session_notes (session_id) on delete cascade,
  key_id      text not null check (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  nonce       bytea not null check (length(nonce) = 12),
  ciphertext  bytea not null check (length(ciphertext) between 16 and 32784),
  created_by  uuid not null,
  created_at  timestamptz not null default now(),
  foreign key (org_id, session_id) references app.sessions (org_id, id) on delete cascade
);
create index note_addenda_session_idx on app.note_addenda (session_id, created_at);
create index note_addenda_org_idx on app.note_addenda (org_id);
grant select, insert (id, org_id, session_id, key_id, nonce, ciphertext, created_by)
  on app.note_addenda to app_user;
