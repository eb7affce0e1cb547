-- Guardians (issue 20): a guardian's portal account acts for their dependents. Both are patient
-- records of the clinic (a parent who is not in care is invited like any patient, which gives
-- them the sign-in). A relationship is active until ended; ending it ends the access at once,
-- because every request of a token that acts for someone else asks for an active one
-- (auth.may_act_for, db/functions/50_portal.sql).

create table app.guardianships (
  id            uuid primary key default gen_random_uuid(),
  org_id        uuid not null references app.clinics (id) on delete cascade,
  guardian_id   uuid not null,
  dependent_id  uuid not null,
  relationship  text not null
                check (relationship in ('parent', 'legal_guardian', 'caregiver', 'other')),
  created_by    uuid not null,
  created_at    timestamptz not null default now(),
  ended_by      uuid,
  ended_at      timestamptz,
  check (guardian_id <> dependent_id),
  check ((ended_at is null) = (ended_by is null)),
  foreign key (org_id, guardian_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, dependent_id) references app.patients (org_id, id) on delete cascade
);
-- One active relationship per pair; an ended one stays as history and a new one may follow.
create unique index guardianships_active_pair_key on app.guardianships (org_id, guardian_id, dependent_id)
  where ended_at is null;
create index guardianships_dependent_idx on app.guardianships (org_id, dependent_id, created_at);
create index guardianships_guardian_idx on app.guardianships (org_id, guardian_id, created_at);

grant select, insert (org_id, guardian_id, dependent_id, relationship, created_by),
  update (ended_by, ended_at) on app.guardianships to app_user;
grant select on app.guardianships to wardline_auth;
