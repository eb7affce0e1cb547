-- The request: claims helpers, the start of every request (auth.begin_request and the check
-- that the caller holds the role their token claims), and the guards and error raisers every
-- api.* function uses. Re-applied source (see shared/src/migrate.rs): edit in place.

-- Claims helpers. Policies call them wrapped as (select auth.x()) so each is evaluated once per
-- statement. They read the transaction-local setting that auth.begin_request writes, and treat
-- '' (what current_setting returns once a local setting is gone) as NULL.

create or replace function auth.claims() returns jsonb
language sql stable
as $$ select coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb) $$;

create or replace function auth.claim(name text) returns text
language sql stable
as $$ select nullif(auth.claims() ->> name, '') $$;

create or replace function auth.uid() returns uuid
language sql stable
as $$ select auth.claim('sub')::uuid $$;

create or replace function auth.org_id() returns uuid
language sql stable
as $$ select auth.claim('org_id')::uuid $$;

create or replace function auth.app_role() returns text
language sql stable
as $$ select auth.claim('app_role') $$;

create or replace function auth.patient_id() returns uuid
language sql stable
as $$ select auth.claim('patient_id')::uuid $$;

create or replace function auth.request_id() returns text
language sql stable
as $$ select auth.claim('request_id') $$;

-- The roles, each set defined once: guards, policies and helpers ask these. Staff are the
-- signed-in callers who are not patients; admins include super admins.
create or replace function auth.is_staff() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() in ('therapist', 'admin', 'super_admin'), false) $$;

create or replace function auth.is_admin() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() in ('admin', 'super_admin'), false) $$;

create or replace function auth.is_super_admin() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() = 'super_admin', false) $$;

create or replace function auth.is_patient() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() = 'patient', false) $$;

create or replace function auth.is_service() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() = 'service', false) $$;

-- A pre-login portal call or a signed webhook: no identity at all.
create or replace function auth.is_anonymous() returns boolean
language sql stable
as $$ select auth.app_role() is null $$;

grant execute on function auth.claims(), auth.claim(text), auth.uid(), auth.org_id(),
  auth.app_role(), auth.patient_id(), auth.request_id(), auth.is_staff(), auth.is_admin(),
  auth.is_super_admin(), auth.is_patient(), auth.is_service(), auth.is_anonymous()
  to app_anon, app_user, app_service, wardline_auth, wardline_authenticator;

-- Raises a Wardline error: SQLSTATE P0001, MESSAGE = the stable code, DETAIL = the text for
-- the client, COLUMN = the offending input field when there is one. The HTTP status of each
-- code is chosen in one table, shared::error::SQL_CODES; SQL never names a status.
create or replace function api.fail(code text, detail text, field text default null)
returns void
language plpgsql
as $$
begin
  if field is null then
    raise exception using errcode = 'P0001', message = code, detail = detail;
  else
    raise exception using errcode = 'P0001', message = code, detail = detail, column = field;
  end if;
end
$$;

-- api.fail with RFC 9457 extension members (e.g. a 409's conflicts), as JSON in HINT. An
-- extension retryAfterSeconds also becomes the Retry-After header.
create or replace function api.fail_with(code text, detail text, extensions jsonb)
returns void
language plpgsql
as $$
begin
  raise exception using errcode = 'P0001', message = code, detail = detail,
    hint = extensions::text;
end
$$;

-- api.fail for SQL functions: raises, and is typed as the jsonb the caller was to return.
create or replace function api.fail_json(code text, detail text, field text default null)
returns jsonb
language plpgsql
as $$
begin
  perform api.fail(code, detail, field);
  return null;
end
$$;

-- A failure whose work must still be kept (a counted wrong code, a revoked token family): the
-- api function returns it instead of raising, the transaction commits, and shared::db turns it
-- into the error response. extensions as in api.fail_with.
create or replace function api.committed_failure(
  code text, detail text, extensions jsonb default '{}'
) returns jsonb
language sql immutable
as $$
  select jsonb_build_object('committedProblem', extensions || jsonb_build_object(
    'code', code, 'detail', detail))
$$;

grant execute on function api.fail(text, text, text), api.fail_with(text, text, jsonb),
  api.fail_json(text, text, text), api.committed_failure(text, text, jsonb)
  to wardline_authenticator, app_anon, app_user, app_service, wardline_auth;

-- Whether portal account `account` may act for `patient` in clinic `org`: the patient is live,
-- and is the account itself or a dependent it holds an active guardianship of (the guardian's
-- record live too). Asked on every request of a patient token, so ending a relationship ends
-- the tokens already issued. SECURITY DEFINER (as wardline_auth): asked before the caller can
-- read anything, and by the sign-in, which reads no patients at all.
create or replace function auth.may_act_for(account uuid, patient uuid, org uuid)
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if account = patient then
    return exists (select 1 from app.patients p
                   where p.id = patient and p.org_id = org and p.deleted_at is null);
  end if;
  return exists (
      select 1 from app.guardianships g join app.patients a on a.id = g.guardian_id
      join app.patients d on d.id = g.dependent_id
      where g.org_id = org and g.guardian_id = account and g.dependent_id = patient
        and g.ended_at is null and a.deleted_at is null and d.deleted_at is null);
end
$$;
grant execute on function auth.may_act_for(uuid, uuid, uuid) to app_user, app_anon;

-- Whether the signed-in caller really holds the role their token claims in the clinic it names:
-- an active, approved membership (with is_admin for admins) of an active clinician, or a live
-- patient record the token's account may act for (itself, or a dependent). SECURITY DEFINER
-- (as wardline_auth, which may read memberships of every clinic) because the caller cannot yet
-- see anything: this is what stops a token for the wrong clinic at the door.
create or replace function auth.caller_is_recognised() returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  role text := auth.app_role();
  me uuid := auth.uid();
  org uuid := auth.org_id();
begin
  -- PL/pgSQL, so each query is planned once per connection, not on every request.
  if role in ('therapist', 'admin') then
    return exists (
      select 1 from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
      where m.clinician_id = me and m.org_id = org and m.active and m.approved
        and (role = 'therapist' or m.is_admin) and c.active);
  elsif role = 'super_admin' then
    return exists (
      select 1 from app.clinicians c where c.id = me and c.is_super_admin and c.active);
  elsif role = 'patient' then
    return auth.may_act_for(me, auth.patient_id(), org);
  end if;
  return false;
end
$$;
grant execute on function auth.caller_is_recognised() to wardline_authenticator;

-- claims: the verified, canonical claims built by shared::auth (sub, org_id, app_role,
-- patient_id, request_id). app_role 'service' becomes app_service, no app_role app_anon.
create or replace function auth.begin_request(claims jsonb) returns void
language plpgsql
as $$
declare
  request_role text := case
    when claims ->> 'app_role' is null then 'app_anon'
    when claims ->> 'app_role' = 'service' then 'app_service'
    else 'app_user'
  end;
begin
  perform set_config('request.jwt.claims', claims::text, true);
  if request_role = 'app_user' and not auth.caller_is_recognised() then
    perform api.fail('not_a_member',
      'The signed-in user has no active role of that kind in this clinic.');
  end if;
  perform set_config('role', request_role, true);
end
$$;
grant execute on function auth.begin_request(jsonb) to wardline_authenticator;

-- The guard every api.* entry point runs right after beginning its request, with one of the
-- auth.is_* role sets: `perform api.require(auth.is_staff())`. A 403 unless allowed.
create or replace function api.require(allowed boolean) returns void
language plpgsql stable
as $$
begin
  if not coalesce(allowed, false) then
    perform api.fail('forbidden', 'This operation is not available to your role.');
  end if;
end
$$;

create or replace function api.require_flag(flag text) returns void
language plpgsql stable
as $$
begin
  if not app.flag_on(flag) then
    perform api.fail('feature_disabled', format('The clinic has not enabled %s.', flag));
  end if;
end
$$;
grant execute on function api.require(boolean), api.require_flag(text)
  to app_anon, app_user, app_service;
