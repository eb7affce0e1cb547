-- Guardians (issue 20): a portal account acting for its dependents (migration 0023,
-- db/policies/guardians.sql). A patient token names the account (`sub`) and the patient it
-- acts for (`patient_id`); every request asks auth.may_act_for (00_request.sql), so the
-- portal's policies, all written on auth.patient_id(), give a guardian exactly the dependent
-- they act for, and nothing once the relationship ends. The audit chain's actor is the account.

-- Whom `account` may act for in `org`: itself first, then its active dependents by name.
-- SECURITY DEFINER (as wardline_auth): the sign-in reads no patients, and a guardian acting
-- for themselves does not read their dependents' records.
create or replace function app.portal_accounts(account uuid, org uuid) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (
    select coalesce(jsonb_agg(x.item order by x.n, x.last_name, x.first_name, x.id), '[]')
    from (
      select 0 as n, p.id, p.last_name, p.first_name,
             jsonb_build_object('patientId', p.id, 'firstName', p.first_name,
                                'lastName', p.last_name, 'relationship', 'self') as item
      from app.patients p
      where p.id = account and p.org_id = org and p.deleted_at is null
      union all
      select 1, d.id, d.last_name, d.first_name,
             jsonb_build_object('patientId', d.id, 'firstName', d.first_name,
                                'lastName', d.last_name, 'relationship', g.relationship)
      from app.guardianships g join app.patients d on d.id = g.dependent_id
      where g.org_id = org and g.guardian_id = account and g.ended_at is null
        and d.deleted_at is null
    ) x);
end
$$;
grant execute on function app.portal_accounts(uuid, uuid) to app_anon, app_user;

-- POST /api/portal/auth/act-for. input: {host, patientId}: the signed-in account switches to
-- acting for itself or one of its active dependents; the function issues the token.
create or replace function api.portal_act_for(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid := (input ->> 'patientId')::uuid;
  account uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  account := auth.uid();
  perform app.portal_require_host(input -> 'host');
  if not auth.may_act_for(account, patient, auth.org_id()) then
    perform api.fail('not_a_guardian',
      'This account acts only for itself and the dependents it is an active guardian of.',
      'patientId');
  end if;
  perform audit.record('portal.act_for', 'patient', patient::text);
  return jsonb_build_object('accountId', account, 'patientId', patient,
                            'orgId', auth.org_id(),
                            'patients', app.portal_accounts(account, auth.org_id()));
end
$$;
grant execute on function api.portal_act_for(jsonb, jsonb) to wardline_authenticator;

-- A relationship as staff read it, with the names of the two patients the caller can see.
create or replace function app.guardianship_json(g app.guardianships) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', g.id,
    'guardianId', g.guardian_id,
    'guardianName', (select p.first_name || ' ' || p.last_name from app.patients p
                     where p.id = g.guardian_id),
    'dependentId', g.dependent_id,
    'dependentName', (select p.first_name || ' ' || p.last_name from app.patients p
                      where p.id = g.dependent_id),
    'relationship', g.relationship,
    'active', g.ended_at is null,
    'createdAt', app.iso(g.created_at),
    'endedAt', app.iso(g.ended_at)))
$$;
grant execute on function app.guardianship_json(app.guardianships) to app_user;

-- GET /clients/{clientId}/guardians. input: {patientId}: the patient's guardians and the
-- dependents they are guardian of, active first, then newest first. The read audited.
create or replace function api.guardians(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  patient uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  patient := app.require_visible_patient((input ->> 'patientId')::uuid);
  perform audit.record('guardians.list', 'patient', patient::text, 'success', '{}', patient);
  return jsonb_build_object('guardianships', coalesce((
    select jsonb_agg(app.guardianship_json(g)
                     order by g.ended_at is not null, g.created_at desc, g.id)
    from (select * from app.guardianships x
          where x.org_id = auth.org_id() and x.dependent_id = patient
          union all
          select * from app.guardianships x
          where x.org_id = auth.org_id() and x.guardian_id = patient) g), '[]'));
end
$$;
grant execute on function api.guardians(jsonb, jsonb) to wardline_authenticator;

-- Makes `guardian`, a live patient of the clinic (whom a clinician may not otherwise see: a
-- parent is rarely in their care), a guardian of `dependent`, unless already active (409
-- guardian_exists); audited.
create or replace function app.add_guardian(dependent uuid, guardian uuid, relationship text)
returns jsonb
language plpgsql
as $$
declare
  added app.guardianships;
begin
  if guardian = dependent then
    perform api.fail('invalid_input', 'A patient cannot be their own guardian.', 'guardianId');
  end if;
  if not app.portal_patient_live(guardian) then
    perform api.fail('patient_not_found', 'No patient of this clinic has this id.',
                     'guardianId');
  end if;
  insert into app.guardianships (org_id, guardian_id, dependent_id, relationship, created_by)
  values (auth.org_id(), guardian, dependent, relationship, auth.uid())
  on conflict (org_id, guardian_id, dependent_id) where ended_at is null do nothing
  returning * into added;
  if not found then
    perform api.fail('guardian_exists',
      'This patient is already an active guardian of the client.', 'guardianId');
  end if;
  perform audit.record('guardianship.create', 'guardianship', added.id::text, 'success',
                       jsonb_build_object('guardianId', guardian, 'dependentId', dependent,
                                          'relationship', relationship));
  return app.guardianship_json(added);
end
$$;
grant execute on function app.add_guardian(uuid, uuid, text) to app_user;

-- Ends relationship `guardianship` as RLS shows it to the caller (404 otherwise); ending an
-- ended one changes nothing. Audited.
create or replace function app.end_guardianship(guardianship uuid) returns jsonb
language plpgsql
as $$
declare
  ended app.guardianships;
begin
  select * into ended from app.guardianships g where g.id = guardianship for update;
  if not found then
    perform api.fail('guardianship_not_found',
      'No guardianship with this id is visible to you.', 'id');
  end if;
  if ended.ended_at is null then
    update app.guardianships g set ended_at = now(), ended_by = auth.uid()
    where g.id = ended.id
    returning * into ended;
    perform audit.record('guardianship.end', 'guardianship', ended.id::text, 'success',
                         jsonb_build_object('guardianId', ended.guardian_id,
                                            'dependentId', ended.dependent_id));
  end if;
  return app.guardianship_json(ended);
end
$$;
grant execute on function app.end_guardianship(uuid) to app_user;

-- POST /clients/{clientId}/guardians. input: {patientId, guardianId, relationship}: the
-- dependent's care team or an admin makes a patient of the clinic their guardian; one active
-- relationship per pair.
create or replace function api.add_guardian(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  dependent uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  dependent := app.require_visible_patient((input ->> 'patientId')::uuid);
  if auth.app_role() is distinct from 'admin' and dependent not in (select app.my_patients()) then
    perform api.fail('forbidden',
      'Only the patient''s care team and the clinic''s admins add their guardians.',
      'clientId');
  end if;
  return app.add_guardian(dependent, (input ->> 'guardianId')::uuid, input ->> 'relationship');
end
$$;
grant execute on function api.add_guardian(jsonb, jsonb) to wardline_authenticator;

-- POST /guardianships/{id}/end. input: {guardianshipId}: the guardian's tokens acting for the
-- dependent stop at their next request.
create or replace function api.end_guardianship(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  return app.end_guardianship((input ->> 'guardianshipId')::uuid);
end
$$;
grant execute on function api.end_guardianship(jsonb, jsonb) to wardline_authenticator;
