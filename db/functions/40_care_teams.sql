-- Care teams and what follows from them (the assign function): feature flags, who sees which
-- patient (app.my_patients), assigning and removing clinicians, the patient pages and invites.

-- The flags an admin may set, with their defaults: the one list of them.
create or replace function app.feature_flag_defaults() returns jsonb
language sql immutable
as $$ select '{"therapistPatientAssignment": false, "allActivePatientsDashboard": false}'::jsonb $$;

-- Every known flag's value, from a clinic's stored flags over the defaults.
create or replace function app.known_flags(stored jsonb) returns jsonb
language sql immutable
as $$
  select app.feature_flag_defaults() || coalesce((
    select jsonb_object_agg(f.key, f.value) from jsonb_each(stored) f
    where app.feature_flag_defaults() ? f.key), '{}')
$$;
grant execute on function app.feature_flag_defaults(), app.known_flags(jsonb) to app_user;

-- Whether the caller's current clinic has `flag` on. Policies call it wrapped in (select …)
-- so it runs once per statement; PL/pgSQL, so its query is planned once per connection.
create or replace function app.flag_on(flag text) returns boolean
language plpgsql stable
as $$
begin
  return coalesce((select coalesce(c.feature_flags -> flag, app.feature_flag_defaults() -> flag)
                          = 'true'::jsonb
                   from app.clinics c where c.id = auth.org_id()), false);
end
$$;
grant execute on function app.flag_on(text) to app_user, app_service;

-- The live patients whose care team the caller is a member of with this status (active by
-- default; suspended ones are hidden even from the all-patients dashboard), in the current
-- clinic. SECURITY DEFINER (as wardline_auth) so that the patients policy can ask it without
-- reading app.care_team under that table's own policies, which ask about patients in turn.
-- Policies use it as `id in (select app.my_patients())`: one call per statement, then a hash
-- lookup.
create or replace function app.my_patients(with_status text default 'active') returns setof uuid
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- One query per status, each naming its status, so each searches its partial index.
  if with_status = 'active' then
    -- Archived patients leave every policy built on this with the archive (their care-team
    -- rows stay, for a restore): the clinic's few archived ids, hashed once.
    return query select t.patient_id from app.care_team t
                 where t.org_id = auth.org_id() and t.clinician_id = auth.uid()
                   and t.status = 'active'
                   and t.patient_id not in (
                     select p.id from app.patients p
                     where p.org_id = auth.org_id() and p.deleted_at is not null);
  elsif with_status = 'suspended' then
    return query select t.patient_id from app.care_team t
                 where t.org_id = auth.org_id() and t.clinician_id = auth.uid()
                   and t.status = 'suspended';
  end if;
end
$$;

-- Whether the caller created this patient in the current transaction: the invite puts its new
-- patient in the inviter's care before any relationship exists. SECURITY DEFINER because the
-- caller cannot see that patient yet.
create or replace function app.created_in_this_request(patient uuid) returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return exists (
    select 1 from app.patients p
    where p.id = patient and p.org_id = auth.org_id() and p.created_by = auth.uid()
      and p.created_at = now());
end
$$;

grant execute on function app.my_patients(text), app.created_in_this_request(uuid) to app_user;

-- A care-team row as the API shows it.
create or replace function app.care_team_json(
  patient uuid, clinician uuid, status text, notes text, assigned_by uuid,
  assigned_at timestamptz, changed boolean
) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'patientId', patient, 'therapistId', clinician, 'status', status, 'notes', notes,
    'assignedBy', assigned_by, 'assignedAt', app.iso(assigned_at), 'changed', changed))
$$;
grant execute on function app.care_team_json(uuid, uuid, text, text, uuid, timestamptz, boolean)
  to app_user;

-- Whether `clinician` is an active, approved clinician (therapist or prescriber) of the
-- current clinic: who may be on a care team. The care-team policies ask it too.
create or replace function app.is_active_clinician(clinician uuid) returns boolean
language plpgsql stable
as $$
begin
  -- PL/pgSQL: policies call it per row, and its query is planned once per connection.
  return exists (
    select 1 from app.clinic_memberships m
    where m.org_id = auth.org_id() and m.clinician_id = clinician
      and m.active and m.approved and m.kind in ('therapist', 'prescriber'));
end
$$;
grant execute on function app.is_active_clinician(uuid) to app_user;

-- 422 naming `field` unless `clinician` is an active, approved clinician of the current clinic.
-- Memberships of other clinics are invisible, so "elsewhere" and "nowhere" read the same.
create or replace function app.require_clinician(clinician uuid, field text) returns void
language plpgsql stable
as $$
declare
  m record;
begin
  select cm.kind, cm.active, cm.approved into m
  from app.clinic_memberships cm
  where cm.org_id = (select auth.org_id()) and cm.clinician_id = clinician;
  if not found then
    perform api.fail('clinician_not_found',
      format('%s is not a clinician of this clinic.', clinician), field);
  elsif m.kind not in ('therapist', 'prescriber') then
    perform api.fail('not_a_clinician',
      format('%s works here but is not a clinician.', clinician), field);
  elsif not m.active then
    perform api.fail('clinician_inactive',
      format('%s is no longer active in this clinic.', clinician), field);
  elsif not m.approved then
    perform api.fail('clinician_not_approved',
      format('%s has not been approved in this clinic yet.', clinician), field);
  end if;
end
$$;
grant execute on function app.require_clinician(uuid, text) to app_user;

-- Adds `target` to `patient`'s care team: a new relationship is created, an inactive one
-- reactivated, an active one left as it is (changed: false); a suspended one only an admin can
-- lift (409). The patient must be visible (422 naming `patient_field`), the target an active,
-- approved clinician here (422 naming `target_field`). The care-team policies bound who may.
-- Audited. Both APIs' assignments: api.assign_patient, api.add_relationship.
create or replace function app.assign_care_team(
  patient uuid, target uuid, notes text, patient_field text, target_field text
) returns jsonb
language plpgsql
as $$
declare
  r record;
begin
  if not exists (select 1 from app.patients p where p.id = patient) then
    perform api.fail('unknown_patient',
      'No patient with this id is visible to you in this clinic.', patient_field);
  end if;
  perform app.require_clinician(target, target_field);
  insert into app.care_team as t (org_id, patient_id, clinician_id, notes, assigned_by, updated_by)
  values ((select auth.org_id()), patient, target, notes, (select auth.uid()),
          (select auth.uid()))
  on conflict (patient_id, clinician_id) do update
    set status = 'active', notes = coalesce(excluded.notes, t.notes),
        assigned_by = excluded.assigned_by, assigned_at = now(),
        updated_by = excluded.updated_by, updated_at = now()
    where t.status = 'inactive'
  returning t.status, t.notes, t.assigned_by, t.assigned_at, (t.xmax = 0) as created into r;
  if found then
    perform audit.record(case when r.created then 'care_team.assign' else 'care_team.reactivate' end,
      'patient', patient::text, 'success', jsonb_build_object('therapistId', target));
    return app.care_team_json(patient, target, r.status, r.notes, r.assigned_by,
                              r.assigned_at, true);
  end if;
  select t.status, t.notes, t.assigned_by, t.assigned_at into r
  from app.care_team t where t.patient_id = patient and t.clinician_id = target;
  if r.status is distinct from 'active' then
    perform api.fail('care_team_member_suspended',
      'This clinician is suspended from the patient''s care team; an admin can reactivate them.',
      target_field);
  end if;
  return app.care_team_json(patient, target, r.status, r.notes, r.assigned_by,
                            r.assigned_at, false);
end
$$;
grant execute on function app.assign_care_team(uuid, uuid, text, text, text) to app_user;

-- POST /v2/doctor/patients/assign. input: {patientId, targetDoctorId?, notes?}: the caller by
-- default, or a colleague.
create or replace function api.assign_patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform api.require_flag('therapistPatientAssignment');
  return app.assign_care_team((input ->> 'patientId')::uuid,
                              coalesce((input ->> 'targetDoctorId')::uuid, (select auth.uid())),
                              input ->> 'notes', 'patientId', 'targetDoctorId');
end
$$;
grant execute on function api.assign_patient(jsonb, jsonb) to wardline_authenticator;

-- Sets a care-team member's status (inactive: removed, kept as history; suspended; active),
-- as the care-team policies let the caller: 404 when the member is not visible, 409 for a
-- suspended one the caller may not change. Audited when it changes. Both APIs' removals:
-- api.set_care_team_status, api.end_relationship.
create or replace function app.set_care_team_status(patient uuid, clinician uuid, wanted text)
returns jsonb
language plpgsql
as $$
declare
  r record;
begin
  select t.status into r from app.care_team t
  where t.patient_id = patient and t.clinician_id = clinician;
  if not found then
    perform api.fail('care_team_member_not_found',
      'This clinician is not on a care team of this patient visible to you.', 'therapistId');
  end if;
  if wanted = 'active' then
    if not exists (select 1 from app.patients p where p.id = patient) then
      perform api.fail('patient_not_found', 'No live patient with this id is visible to you.',
        'patientId');
    end if;
    perform app.require_clinician(clinician, 'therapistId');
  end if;
  update app.care_team t
  set status = wanted, updated_by = (select auth.uid()), updated_at = now()
  where t.patient_id = patient and t.clinician_id = clinician and t.status <> wanted
  returning t.status, t.notes, t.assigned_by, t.assigned_at, true as changed into r;
  if found then
    perform audit.record(case wanted when 'inactive' then 'care_team.unassign'
                                     when 'suspended' then 'care_team.suspend'
                                     else 'care_team.activate' end,
      'patient', patient::text, 'success', jsonb_build_object('therapistId', clinician));
  else
    -- Unchanged: already so, or (the policies hiding it) suspended, perhaps a moment ago.
    select t.status, t.notes, t.assigned_by, t.assigned_at, false as changed into r
    from app.care_team t where t.patient_id = patient and t.clinician_id = clinician;
    if r.status <> wanted then
      perform api.fail('care_team_member_suspended',
        'A suspended care-team member is changed only by an admin.', 'therapistId');
    end if;
  end if;
  return app.care_team_json(patient, clinician, r.status, r.notes, r.assigned_by,
                            r.assigned_at, r.changed);
end
$$;
grant execute on function app.set_care_team_status(uuid, uuid, text) to app_user;

-- DELETE (status inactive) and PATCH (suspended | active) of
-- /v2/doctor/patients/{patientId}/therapists/{therapistId}. input: {patientId, therapistId,
-- status}. A clinician may remove themselves; everything else is an admin's.
create or replace function api.set_care_team_status(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'therapistId')::uuid;
  wanted text := input ->> 'status';
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform api.require_flag('therapistPatientAssignment');
  if not (select auth.is_admin()) and (wanted <> 'inactive' or clinician <> (select auth.uid())) then
    perform api.fail('forbidden',
      'A clinician may remove only themselves from a care team; admins change any member.');
  end if;
  return app.set_care_team_status((input ->> 'patientId')::uuid, clinician, wanted);
end
$$;
grant execute on function api.set_care_team_status(jsonb, jsonb) to wardline_authenticator;


-- GET /v2/doctor/patients/all (scope 'all') and /summary (scope 'mine'). input: {scope, limit,
-- after?, search?}. One statement per page: the care teams come from a correlated subquery,
-- not a query per patient. RLS decides who is visible; scope only narrows it. The read
-- audited (one event a page, naming no patient).
create or replace function api.patients_page(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  scope text := input ->> 'scope';
  connected boolean;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  if scope = 'all' then
    perform api.require_flag('allActivePatientsDashboard');
    connected := true;
  else
    connected := app.flag_on('therapistPatientAssignment');
  end if;
  result := app.patients_page(scope, (select auth.uid()), (input ->> 'limit')::integer,
                              (input ->> 'after')::uuid, input ->> 'search', connected, false);
  perform audit.record('patients.list', null, null, 'success',
                       jsonb_build_object('scope', scope));
  return result;
end
$$;
grant execute on function api.patients_page(jsonb, jsonb) to wardline_authenticator;

-- A patient as the directory shows them (Fuji36's PatientDto, and the portal e-mail): userId
-- is the patient's id, the portal account they sign in as. Never the medical notes, which the
-- single reads add sealed (api.patient) for the function to open.
create or replace function app.patient_json(p app.patients) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'patientId', p.id, 'userId', p.id, 'userExternalId', p.external_id,
    'firstName', p.first_name, 'lastName', p.last_name, 'email', p.email,
    'avatarUrl', p.avatar_url, 'dateOfBirth', p.date_of_birth, 'phoneNumber', p.phone,
    'address', p.address, 'createdAt', app.iso(p.created_at), 'updatedAt', app.iso(p.updated_at)))
$$;
grant execute on function app.patient_json(app.patients) to app_user;

-- The page itself, as one SQL statement. Keyset pagination on (last name, first name, id):
-- `after` is the id of the last patient of the previous page (no names in URLs). A cursor
-- whose patient is no longer visible is a 400. Scope 'all' is every patient RLS shows the
-- caller, 'mine' those of them in `clinician`'s care. Each patient as the OktaPT lists show it
-- (with care teams when `connected`), or as the directory's PatientDto (`dto`, without
-- medical notes).
create or replace function app.patients_page(
  scope text, clinician uuid, page_size integer, after uuid, search text, connected boolean,
  dto boolean
) returns jsonb
language plpgsql stable
set plan_cache_mode = force_generic_plan
-- The policies' OR-ed arms make the planner expect a row or two, for which sorting looks
-- cheaper than walking patients_org_name_idx: it would then read and sort the whole clinic.
-- Without Sort nodes the page is a walk of the name index that stops at the page's end.
set enable_sort = off
as $$
begin
  -- PL/pgSQL on a generic plan: this statement is planned once per connection, not on
  -- every page.
  return (
  with anchor as (
    select p.last_name, p.first_name, p.id from app.patients p where p.id = after
  ), pattern as (
    select '%' || replace(replace(replace(search, '\', '\\'), '%', '\%'), '_', '\_') || '%' as pat
  ), page as (
    select p.id, p.first_name, p.last_name, p.email, p.phone, p.date_of_birth, p.created_at,
           case when dto then app.patient_json(p) end as dto_body
    from app.patients p
    where p.org_id = (select auth.org_id()) and p.deleted_at is null
      and (scope = 'all' or exists (
        select 1 from app.care_team t
        where t.org_id = p.org_id and t.clinician_id = clinician
          and t.patient_id = p.id and t.status = 'active'))
      and (search is null
           or p.first_name ilike (select pat from pattern)
           or p.last_name ilike (select pat from pattern)
           or (p.first_name || ' ' || p.last_name) ilike (select pat from pattern))
      and (after is null
           or (p.last_name, p.first_name, p.id)
              > ((select a.last_name from anchor a), (select a.first_name from anchor a), after))
    order by p.last_name, p.first_name, p.id
    limit page_size + 1
  ), numbered as (
    select page.*, row_number() over (order by last_name, first_name, id) as n from page
  ), teams as (
    -- Every shown patient's care team in one pass, not one subquery per patient.
    select t.patient_id, jsonb_build_object(
             'connectedTherapists', jsonb_agg(jsonb_build_object(
               'id', c.id, 'firstName', c.first_name, 'lastName', c.last_name)
               order by c.last_name, c.first_name, c.id),
             'isConnectedToMe', bool_or(c.id = (select auth.uid()))) as team
    from app.care_team t
    join app.clinic_memberships m
      on m.org_id = t.org_id and m.clinician_id = t.clinician_id and m.active and m.approved
    join app.clinicians c on c.id = t.clinician_id
    where connected and t.status = 'active'
      and t.patient_id = any (array(select x.id from numbered x where x.n <= page_size))
    group by t.patient_id
  ), shown as (
    select x.n, case when dto then x.dto_body else jsonb_strip_nulls(jsonb_build_object(
             'id', x.id, 'firstName', x.first_name, 'lastName', x.last_name, 'email', x.email,
             'phone', x.phone, 'dateOfBirth', x.date_of_birth,
             'createdAt', app.iso(x.created_at)))
           || case when connected
                   then coalesce(tm.team, '{"connectedTherapists": [], "isConnectedToMe": false}')
                   else '{}'::jsonb end end as body
    from numbered x left join teams tm on tm.patient_id = x.id
    where x.n <= page_size
  )
  select case
    when after is not null and not exists (select 1 from anchor) then
      api.fail_json('invalid_input',
        'The patient this cursor points at is no longer listed; start from the first page.',
        'cursor')
    else jsonb_build_object(
      'patients', coalesce((select jsonb_agg(s.body order by s.n) from shown s), '[]'::jsonb),
      'nextCursor', (select x.id from numbered x where x.n = page_size
                     and exists (select 1 from numbered y where y.n > page_size)))
  end);
end
$$;
grant execute on function app.patients_page(text, uuid, integer, uuid, text, boolean, boolean)
  to app_user;

-- POST /v2/doctor/patients/invite. input: {firstName, lastName, email, phone?, dateOfBirth?,
-- additionalTherapistIds[], patientId, tokenHash (hex SHA-256), sealedToken, referralCode?}.
-- Creates the patient, the inviter's relationship (when the inviter is a clinician here), one
-- per additional clinician, the referral's attribution, the invite and its outbox message —
-- all or nothing.
create or replace function api.invite_patient(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
  additional uuid[];
  team uuid[] := '{}'::uuid[];
  expires timestamptz := now() + interval '72 hours';
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  -- Each clinician once, never the inviter (who joins anyway), in the order given.
  additional := array(
    select id from (
      select min(n) as n, e::uuid as id
      from jsonb_array_elements_text(input -> 'additionalTherapistIds') with ordinality as a (e, n)
      group by e::uuid) d
    where id <> (select auth.uid()) order by n);
  if cardinality(additional) > 0 then
    perform api.require_flag('therapistPatientAssignment');
  end if;
  for i in 1 .. cardinality(additional) loop
    perform app.require_clinician(additional[i], format('additionalTherapistIds[%s]', i - 1));
  end loop;
  begin
    insert into app.patients (id, org_id, first_name, last_name, email, phone, date_of_birth,
                              created_by)
    values (patient, (select auth.org_id()), input ->> 'firstName', input ->> 'lastName',
            input ->> 'email', input ->> 'phone', (input ->> 'dateOfBirth')::date,
            (select auth.uid()));
  exception when unique_violation then
    perform api.fail('patient_exists',
      'This clinic already has a patient with this e-mail address.', 'email');
  end;
  if app.is_active_clinician((select auth.uid())) then
    team := array[(select auth.uid())];
  end if;
  team := team || additional;
  insert into app.care_team (org_id, patient_id, clinician_id, assigned_by, updated_by)
  select (select auth.org_id()), patient, c, (select auth.uid()), (select auth.uid())
  from unnest(team) c;
  insert into app.patient_invites (org_id, patient_id, token_hash, expires_at, created_by)
  values ((select auth.org_id()), patient, decode(input ->> 'tokenHash', 'hex'), expires,
          (select auth.uid()));
  insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
  values ((select auth.org_id()), 'patient_invite', 'email', input ->> 'email',
          jsonb_build_object('patientId', patient, 'sealedToken', input -> 'sealedToken',
                             'expiresAt', app.iso(expires)),
          (select auth.uid()));
  if input ? 'referralCode' then
    perform app.attribute_referral(patient, input ->> 'referralCode');
  end if;
  perform audit.record('patient.invite', 'patient', patient::text, 'success',
                       jsonb_build_object('careTeam', to_jsonb(team)));
  perform audit.record('care_team.assign', 'patient', patient::text, 'success',
                       jsonb_build_object('therapistId', c))
  from unnest(team) c;
  return jsonb_build_object(
    'patient', jsonb_strip_nulls(jsonb_build_object(
      'id', patient, 'firstName', input ->> 'firstName', 'lastName', input ->> 'lastName',
      'email', input ->> 'email', 'phone', input ->> 'phone',
      'dateOfBirth', input ->> 'dateOfBirth')),
    'careTeam', to_jsonb(team),
    'inviteExpiresAt', app.iso(expires));
end
$$;
grant execute on function api.invite_patient(jsonb, jsonb) to wardline_authenticator;

-- GET /api/admin/feature-flags: every known flag with its value in the current clinic.
create or replace function api.feature_flags(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return (select app.known_flags(c.feature_flags) from app.clinics c
          where c.id = (select auth.org_id()));
end
$$;
grant execute on function api.feature_flags(jsonb, jsonb) to wardline_authenticator;

-- PUT /api/admin/feature-flags. input: {flags: {name: boolean}}; unknown names are a 400
-- naming them. Writes an audit event listing what changed.
create or replace function api.update_feature_flags(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  unknown text;
  before jsonb;
  changed jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  select k into unknown from jsonb_object_keys(input -> 'flags') k
  where not app.feature_flag_defaults() ? k limit 1;
  if unknown is not null then
    perform api.fail('invalid_input', format('Unknown feature flag; the flags are %s.',
      (select string_agg(k, ', ') from jsonb_object_keys(app.feature_flag_defaults()) k)), unknown);
  end if;
  select c.feature_flags into before from app.clinics c where c.id = (select auth.org_id())
  for update;
  select coalesce(jsonb_object_agg(f.key, f.value), '{}') into changed
  from jsonb_each(input -> 'flags') f
  where app.known_flags(before) -> f.key is distinct from f.value;
  if changed <> '{}' then
    update app.clinics c set feature_flags = c.feature_flags || changed
    where c.id = (select auth.org_id());
    perform audit.record('clinic.feature_flags.update', 'clinic', (select auth.org_id())::text,
                         'success', jsonb_build_object('changed', changed));
  end if;
  return app.known_flags(before || changed);
end
$$;
grant execute on function api.update_feature_flags(jsonb, jsonb) to wardline_authenticator;
