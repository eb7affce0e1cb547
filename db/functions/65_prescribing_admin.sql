-- Multi-clinic providers and the admins' side of prescribing (issue 21, part 3): where a super
-- admin acts, staff made and added to clinics, a clinic's provider list, the admins' RX queue,
-- orders an admin queues for one prescriber, and refills acted on. Tables: migration
-- 0026_prescribing_admin.sql.

-- ---------------------------------------------------------------------------------------
-- Where a super admin acts. A super admin's token names a clinic like anyone's, and in it
-- they are an admin; reaching another clinic is a step a route takes explicitly, after its
-- guard: acting in a named clinic (the clinic-scoped policies then apply there, as to its
-- admins) or in every clinic at once (the policies on auth.all_clinics(), the admins' queue).

-- Whether this is a super admin's all-clinics request (auth.act_in_all_clinics).
create or replace function auth.all_clinics() returns boolean
language sql stable
as $$ select coalesce(auth.is_super_admin() and auth.claim('scope') = 'all_clinics', false) $$;
grant execute on function auth.all_clinics() to app_user, wardline_auth;

-- The rest of a super admin's request acts in clinic `clinic`: it becomes the request's
-- current clinic (its chain records the audit events). 422 unknown_clinic naming `field`.
create or replace function auth.act_in_clinic(clinic uuid, field text) returns void
language plpgsql
as $$
begin
  if not auth.is_super_admin() then
    perform api.fail('forbidden', 'Only super admins act in another clinic.', field);
  end if;
  if not exists (select 1 from app.clinics c where c.id = clinic) then
    perform api.fail('unknown_clinic', 'There is no clinic with this id.', field);
  end if;
  perform set_config('request.jwt.claims',
    ((auth.claims() - 'scope') || jsonb_build_object('org_id', clinic))::text, true);
end
$$;

-- The rest of a super admin's request reads every clinic's prescription work: no current
-- clinic (nothing clinic-scoped applies), the `all_clinics` scope.
create or replace function auth.act_in_all_clinics() returns void
language plpgsql
as $$
begin
  if not auth.is_super_admin() then
    perform api.fail('forbidden', 'Only super admins read every clinic.');
  end if;
  perform set_config('request.jwt.claims',
    ((auth.claims() - 'org_id') || '{"scope": "all_clinics"}')::text, true);
end
$$;
grant execute on function auth.act_in_clinic(uuid, text), auth.act_in_all_clinics()
  to app_user;

-- The clinic a request names in `clinicId` (null: the token's): a super admin acts in it, any
-- one; anyone else may name only their own (403 naming clinicId).
create or replace function api.use_clinic(clinic uuid) returns void
language plpgsql
as $$
begin
  if clinic is null or clinic = auth.org_id() then
    return;
  end if;
  if not auth.is_super_admin() then
    perform api.fail('forbidden', 'You may name only the clinic you are signed in to.',
                     'clinicId');
  end if;
  perform auth.act_in_clinic(clinic, 'clinicId');
end
$$;
grant execute on function api.use_clinic(uuid) to app_user;

-- ---------------------------------------------------------------------------------------
-- Staff: users and their access to clinics.

-- The user with this e-mail address, if any: (id, active). For admins, who add users by
-- e-mail, and may thereby learn that an address is a Wardline user's. SECURITY DEFINER (as
-- wardline_auth): the user may belong to clinics the admin cannot see.
create or replace function app.user_by_email(email text, out id uuid, out active boolean)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not auth.is_admin() then
    raise exception using errcode = '42501', message = 'users are looked up by admins';
  end if;
  select c.id, c.active into id, active from app.clinicians c where c.email = user_by_email.email;
end
$$;
grant execute on function app.user_by_email(text) to app_user;

-- The user input.email names: an existing, active one (422 clinician_inactive), or a new one
-- named input.firstName and input.lastName (422 clinician_not_found naming the first name
-- missing). A new user's id is what the identity provider must give them as their `sub`.
create or replace function app.find_or_create_user(input jsonb, out id uuid, out created boolean)
language plpgsql
as $$
declare
  person record;
begin
  select u.id, u.active into person from app.user_by_email(input ->> 'email') u;
  if person.id is not null then
    if not person.active then
      perform api.fail('clinician_inactive', 'This user is deactivated.', 'email');
    end if;
    id := person.id;
    created := false;
    return;
  end if;
  if input ->> 'firstName' is null or input ->> 'lastName' is null then
    perform api.fail('clinician_not_found',
      'No user has this e-mail address: give firstName and lastName to create one.',
      case when input ->> 'firstName' is null then 'firstName' else 'lastName' end);
  end if;
  id := gen_random_uuid();
  created := true;
  insert into app.clinicians (id, email, first_name, last_name)
  values (id, input ->> 'email', input ->> 'firstName', input ->> 'lastName');
end
$$;
grant execute on function app.find_or_create_user(jsonb) to app_user;

-- A user as the staff routes answer them.
create or replace function app.user_json(clinician uuid) returns jsonb
language sql stable
as $$
  select jsonb_build_object('id', c.id, 'email', c.email, 'firstName', c.first_name,
                            'lastName', c.last_name)
  from app.clinicians c where c.id = clinician
$$;
grant execute on function app.user_json(uuid) to app_user;

-- Gives user `clinician` access to the request's current clinic: an active, approved
-- membership (input.kind and input.isAdmin; a membership that exists keeps what the input
-- leaves out and is made active and approved), and with input.asProvider a prescriber profile
-- (made when the user has none) and an active assignment here with the credentials given, so
-- the clinic joins the prescriber's set (auth.org_sources). Access new to the user is
-- e-mailed to them (`staff_access`, payload {clinicianId}). Audited in this clinic. →
-- {created (the membership), user, membership, provider?}.
create or replace function app.add_clinic_user(clinician uuid, input jsonb) returns jsonb
language plpgsql
as $$
declare
  org uuid := auth.org_id();
  before record;
  membership jsonb;
  provider uuid;
  assignment jsonb;
begin
  select m.kind, m.is_admin, m.active, m.approved into before
  from app.clinic_memberships m where m.org_id = org and m.clinician_id = clinician
  for update;
  insert into app.clinic_memberships as m (org_id, clinician_id, kind, is_admin, active,
                                           approved, created_by, updated_by)
  values (org, clinician,
          coalesce(input ->> 'kind',
                   case when input ? 'asProvider' then 'prescriber' else 'therapist' end),
          coalesce((input ->> 'isAdmin')::boolean, false), true, true, auth.uid(), auth.uid())
  on conflict (org_id, clinician_id) do update set
    kind = coalesce(input ->> 'kind', m.kind),
    is_admin = coalesce((input ->> 'isAdmin')::boolean, m.is_admin),
    active = true, approved = true, updated_by = auth.uid(), updated_at = now()
  returning jsonb_build_object('clinicId', m.org_id, 'kind', m.kind, 'isAdmin', m.is_admin,
                               'active', m.active, 'approved', m.approved)
  into membership;
  if before is null or not (before.active and before.approved) then
    insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
    select org, 'staff_access', 'email', c.email, jsonb_build_object('clinicianId', c.id),
           (select auth.uid())
    from app.clinicians c where c.id = clinician;
  end if;
  if before is null or jsonb_build_object('kind', before.kind, 'isAdmin', before.is_admin,
                                          'active', before.active, 'approved', before.approved)
                       <> membership - 'clinicId' then
    perform audit.record(case when before is null then 'clinic_user.add'
                              else 'clinic_user.update' end,
                         'clinician', clinician::text, 'success', membership);
  end if;
  if input ? 'asProvider' then
    provider := (select v.id from app.providers v where v.clinician_id = clinician);
    if provider is null then
      provider := gen_random_uuid();
      insert into app.providers (id, clinician_id) values (provider, clinician);
    end if;
    assignment := app.save_assignment(provider, org,
                                      (input -> 'asProvider') || '{"active": true}'::jsonb);
  end if;
  return jsonb_build_object(
    'created', before is null, 'user', app.user_json(clinician), 'membership', membership)
    || case when provider is null then '{}'::jsonb
            else jsonb_build_object('provider', jsonb_build_object(
                   'providerId', provider, 'assignment', assignment -> 'assignment')) end;
end
$$;
grant execute on function app.add_clinic_user(uuid, jsonb) to app_user;

-- POST /api/admin/clinic/users (admins). input: {email, firstName?, lastName?, kind?, isAdmin?,
-- asProvider?: {titleLine?, deaNumber?, licenseNumber?, licenseState?}}. The user with the
-- e-mail address, or a new one with the names given, gets access to the admin's own clinic.
create or replace function api.add_clinic_user(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  person record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  select u.id, u.created into person from app.find_or_create_user(input) u;
  return app.add_clinic_user(person.id, input)
         || jsonb_build_object('userCreated', person.created);
end
$$;
grant execute on function api.add_clinic_user(jsonb, jsonb) to wardline_authenticator;

-- POST /api/super-admin/clinics/{id}/users (super admins). input: {clinicId, userId, kind?,
-- isAdmin?, asProvider?}. An existing user gets access to that clinic: a provider added to a
-- second clinic works for both.
create or replace function api.add_user_to_clinic(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  clinician uuid := (input ->> 'userId')::uuid;
  active boolean;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_super_admin());
  perform auth.act_in_clinic((input ->> 'clinicId')::uuid, 'id');
  select c.active into active from app.clinicians c where c.id = clinician;
  if active is null then
    perform api.fail('clinician_not_found', 'There is no user with this id.', 'userId');
  elsif not active then
    perform api.fail('clinician_inactive', 'This user is deactivated.', 'userId');
  end if;
  return app.add_clinic_user(clinician, input) || '{"userCreated": false}'::jsonb;
end
$$;
grant execute on function api.add_user_to_clinic(jsonb, jsonb) to wardline_authenticator;

-- POST /api/super-admin/providers/{id}/user (super admins). input: {providerId, email,
-- firstName, lastName}. Gives a prescriber profile without a user its user — the one with
-- this e-mail address, or a new one — and that user a prescriber membership in every clinic
-- the profile has an active assignment in (each e-mailed and audited there).
create or replace function api.create_provider_user(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  provider uuid := (input ->> 'providerId')::uuid;
  person record;
  orgs uuid[];
  org uuid;
  memberships jsonb := '[]'::jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_super_admin());
  if not exists (select 1 from app.providers v where v.id = provider) then
    perform api.fail('not_found', 'There is no such provider.');
  end if;
  if exists (select 1 from app.providers v where v.id = provider and v.clinician_id is not null)
  then
    perform api.fail('provider_has_user', 'This provider already has a user.');
  end if;
  orgs := array(select a.org_id from app.provider_clinics a
                where a.provider_id = provider and a.active
                order by a.is_primary desc, a.org_id);
  if cardinality(orgs) = 0 then
    perform api.fail('no_clinics', 'Provider must be associated with at least one clinic');
  end if;
  select u.id, u.created into person from app.find_or_create_user(input) u;
  if exists (select 1 from app.providers v where v.clinician_id = person.id) then
    perform api.fail('user_is_a_provider', 'This user already has a prescriber profile.',
                     'email');
  end if;
  update app.providers v set clinician_id = person.id
  where v.id = provider and v.clinician_id is null;
  if not found then
    perform api.fail('provider_has_user', 'This provider already has a user.');
  end if;
  foreach org in array orgs loop
    perform auth.act_in_clinic(org, null);
    memberships := memberships
      || (app.add_clinic_user(person.id, '{"kind": "prescriber"}') -> 'membership');
    perform audit.record('provider.user_link', 'provider', provider::text, 'success',
                         jsonb_build_object('clinicianId', person.id,
                                            'userCreated', person.created));
  end loop;
  return jsonb_build_object(
    'providerId', provider,
    'user', app.user_json(person.id),
    'userCreated', person.created,
    'memberships', memberships);
end
$$;
grant execute on function api.create_provider_user(jsonb, jsonb) to wardline_authenticator;

-- ---------------------------------------------------------------------------------------
-- A clinic's prescribers.

-- The prescribers of clinic `org` the caller sees, by name: an active assignment there and an
-- active profile. Staff see the profiles of their clinic's members, super admins every one
-- (a profile without a user too: no userId, names or userActive).
create or replace function app.clinic_providers(org uuid)
returns table (provider_id uuid, user_id uuid, first_name text, last_name text, email text,
               user_active boolean, is_primary boolean, title_line text, license_state text,
               credentialed boolean)
language plpgsql stable
as $$
begin
  return query
  select v.id, c.id, c.first_name, c.last_name, c.email, c.active, a.is_primary, a.title_line,
         a.license_state,
         a.dea_number is not null and a.license_number is not null
           and a.license_state is not null
  from app.provider_clinics a
  join app.providers v on v.id = a.provider_id
  left join app.clinicians c on c.id = v.clinician_id
  where a.org_id = org and a.active and v.active;
end
$$;
grant execute on function app.clinic_providers(uuid) to app_user;

-- GET /api/providers?clinicId= (staff). input: {clinicId?}. The prescribers of the caller's
-- clinic, or of the clinic a super admin names, by last and first name.
create or replace function api.clinic_providers(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform api.use_clinic((input ->> 'clinicId')::uuid);
  if auth.org_id() is null then
    perform api.fail('invalid_input', 'Name the clinic.', 'clinicId');
  end if;
  return jsonb_build_object(
    'clinicId', auth.org_id(),
    'providers', coalesce((
      select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'providerId', p.provider_id, 'userId', p.user_id, 'firstName', p.first_name,
               'lastName', p.last_name, 'email', p.email, 'userActive', p.user_active,
               'isPrimary', p.is_primary, 'titleLine', p.title_line,
               'licenseState', p.license_state, 'credentialed', p.credentialed))
             order by p.last_name, p.first_name, p.provider_id)
      from app.clinic_providers(auth.org_id()) p), '[]'::jsonb));
end
$$;
grant execute on function api.clinic_providers(jsonb, jsonb) to wardline_authenticator;

-- ---------------------------------------------------------------------------------------
-- The admins' RX queue, and what admins do in it.

-- GET /api/admin/prescription-queue (admins). input: {clinicId?, limit, afterMicros?,
-- afterId?}. The admins' page of app.prescription_queue_page: a clinic admin's clinic; a super
-- admin's named clinic, or without one every clinic. The read audited.
create or replace function api.admin_prescription_queue(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
declare
  clinic uuid := (input ->> 'clinicId')::uuid;
  orgs uuid[];
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  if clinic is null and auth.is_super_admin() then
    perform auth.act_in_all_clinics();
    orgs := array(select c.id from app.clinics c);
  else
    perform api.use_clinic(clinic);
    orgs := array[auth.org_id()];
  end if;
  return app.audit_queue_read(app.prescription_queue_page(
    orgs, null, (input ->> 'limit')::integer, (input ->> 'afterMicros')::bigint,
    (input ->> 'afterId')::uuid));
end
$$;
grant execute on function api.admin_prescription_queue(jsonb, jsonb) to wardline_authenticator;

-- POST /api/admin/orders (admins). input: {idempotencyKey, patientId, providerId, medication,
-- strength?, quantity, directions, refills}. An order queued for one prescriber, who must
-- prescribe at the patient's clinic (the admin's): only they see and send it. A retry with the
-- same Idempotency-Key answers the first order.
create or replace function api.queue_order(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  queued uuid := gen_random_uuid();
  patient uuid := (input ->> 'patientId')::uuid;
  provider uuid := (input ->> 'providerId')::uuid;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  result := app.idempotency_replay('POST /api/admin/orders', input);
  if result is not null then
    return result;
  end if;
  if not exists (select 1 from app.patients p where p.id = patient) then
    perform api.fail('unknown_patient', 'There is no such patient in this clinic.', 'patientId');
  end if;
  if not exists (select 1 from app.clinic_providers(auth.org_id()) p
                 where p.provider_id = provider and p.user_active) then
    perform api.fail('provider_not_at_clinic',
      'This provider does not prescribe at this clinic (an active assignment and user).',
      'providerId');
  end if;
  insert into app.orders (id, org_id, patient_id, medication, strength, quantity, directions,
                          refills, assigned_provider_id, queued_by)
  values (queued, auth.org_id(), patient, input ->> 'medication', input ->> 'strength',
          input ->> 'quantity', input ->> 'directions', (input ->> 'refills')::integer,
          provider, auth.uid());
  perform audit.record('order.queue', 'order', queued::text, 'success',
                       jsonb_build_object('patientId', patient, 'providerId', provider));
  select jsonb_strip_nulls(jsonb_build_object(
           'id', o.id, 'clinicId', o.org_id, 'patientId', o.patient_id,
           'assignedProviderId', o.assigned_provider_id, 'medication', o.medication,
           'strength', o.strength, 'quantity', o.quantity, 'directions', o.directions,
           'refills', o.refills, 'status', o.status, 'queuedAt', app.iso(o.queued_at),
           'queuedBy', o.queued_by))
  into result
  from app.orders o where o.id = queued;
  perform app.idempotency_store('POST /api/admin/orders', input, result);
  return result;
end
$$;
grant execute on function api.queue_order(jsonb, jsonb) to wardline_authenticator;

-- A refill as its routes answer it.
create or replace function app.refill_json(r app.refills) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', r.id, 'clinicId', r.org_id, 'patientId', r.patient_id, 'medication', r.medication,
    'status', r.status, 'queuedAt', app.iso(r.queued_at), 'approvedBy', r.approved_by,
    'approvedAt', app.iso(r.approved_at), 'decidedBy', r.decided_by,
    'decidedAt', app.iso(r.decided_at), 'reason', r.denial_reason))
$$;
grant execute on function app.refill_json(app.refills) to app_user;

-- A refill the caller could read but not change: 409 refill_wrong_state naming its status
-- (`refillStatus`; a problem's `status` is the HTTP status), or 404 when it cannot read it.
create or replace function app.refill_not_changed(refill uuid, needed text) returns jsonb
language plpgsql stable
as $$
declare
  current text := (select r.status from app.refills r where r.id = refill);
begin
  if current is null then
    perform api.fail('not_found', 'There is no such refill.');
  end if;
  perform api.fail_with('refill_wrong_state', format('This refill is %s, not %s.', current, needed),
                        jsonb_build_object('refillStatus', current));
  return null;
end
$$;
grant execute on function app.refill_not_changed(uuid, text) to app_user;

-- POST /api/admin/refills/{id}/approve (admins). input: {refillId}. PENDING_ADMIN →
-- APPROVED: the refill joins its clinic's prescribers' queues.
create or replace function api.approve_refill(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  refill uuid := (input ->> 'refillId')::uuid;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  update app.refills r set status = 'APPROVED', approved_by = auth.uid(), approved_at = now()
  where r.id = refill and r.status = 'PENDING_ADMIN';
  if not found then
    return app.refill_not_changed(refill, 'PENDING_ADMIN');
  end if;
  perform audit.record('refill.approve', 'refill', refill::text);
  return (select app.refill_json(r) from app.refills r where r.id = refill);
end
$$;
grant execute on function api.approve_refill(jsonb, jsonb) to wardline_authenticator;

-- POST /api/provider/refills/{id}/prescribe and /deny (prescribers). input: {refillId,
-- decision: 'PRESCRIBED' | 'DENIED', reason?}. A refill APPROVED or PENDING_PROVIDER of a
-- clinic of the caller's set is prescribed (with the caller's credentials there: 409
-- not_credentialed) or denied with a reason; audited in the refill's clinic.
create or replace function api.decide_refill(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  refill uuid := (input ->> 'refillId')::uuid;
  decision text := input ->> 'decision';
  provider uuid;
  org uuid;
begin
  perform auth.begin_cross_clinic_request(claims);
  provider := api.require_prescriber();
  org := api.require_item_clinic('refill', refill);
  if decision = 'PRESCRIBED' then
    if not app.credentialed_at(org) then
      perform api.fail('not_credentialed',
        'You have no active assignment with a DEA number and licence at this refill''s clinic.');
    end if;
  end if;
  update app.refills r
  set status = decision, decided_by = provider, decided_at = now(),
      denial_reason = input ->> 'reason'
  where r.id = refill and r.status in ('APPROVED', 'PENDING_PROVIDER');
  if not found then
    return app.refill_not_changed(refill, 'APPROVED or PENDING_PROVIDER');
  end if;
  perform audit.record_in(org, 'refill.' || lower(decision), 'refill', refill::text, 'success',
                          jsonb_build_object('providerId', provider));
  return (select app.refill_json(r) from app.refills r where r.id = refill);
end
$$;
grant execute on function api.decide_refill(jsonb, jsonb) to wardline_authenticator;
