-- The start of every request: claims and role, transaction-local, set by function calls (not
-- SET) so RDS Proxy does not pin the session and a pooled connection forgets them at COMMIT or
-- ROLLBACK.

-- Whether the signed-in caller really holds the role their token claims in the clinic it names:
-- an active, approved membership (with is_admin for admins), or a live patient record.
-- SECURITY DEFINER (as wardline_auth, which may read memberships of every clinic) because the
-- caller cannot yet see anything: this is what stops a token for the wrong clinic at the door.
create or replace function auth.caller_is_recognised() returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(case auth.app_role()
    when 'therapist' then exists (
      select 1 from app.clinic_memberships m
      where m.clinician_id = auth.uid() and m.org_id = auth.org_id() and m.active and m.approved)
    when 'admin' then exists (
      select 1 from app.clinic_memberships m
      where m.clinician_id = auth.uid() and m.org_id = auth.org_id() and m.active and m.approved
        and m.is_admin)
    when 'super_admin' then exists (
      select 1 from app.clinicians c where c.id = auth.uid() and c.is_super_admin)
    -- Patient tokens are Wardline's own: their sub is the patient id.
    when 'patient' then auth.uid() = auth.patient_id() and exists (
      select 1 from app.patients p
      where p.id = auth.patient_id() and p.org_id = auth.org_id() and p.deleted_at is null)
    else false
  end, false)
$$;
grant execute on function auth.caller_is_recognised() to wardline_authenticator;

-- The clinics a clinician works for (cross-clinic features only, e.g. the prescription queue).
create or replace function auth.my_org_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(array_agg(m.org_id), '{}')
  from app.clinic_memberships m
  where m.clinician_id = auth.uid() and m.active and m.approved
    and auth.app_role() in ('therapist', 'admin', 'super_admin')
$$;
grant execute on function auth.my_org_ids() to app_user;

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
    perform api.fail(403, 'not_a_member',
      'The signed-in user has no active role of that kind in this clinic.');
  end if;
  perform set_config('role', request_role, true);
end
$$;
grant execute on function auth.begin_request(jsonb) to wardline_authenticator;

-- Shared guards for api.* functions, called after begin_request.
create or replace function api.require_role(variadic allowed text[]) returns void
language plpgsql stable
as $$
begin
  if not coalesce(auth.app_role() = any (allowed), false) then
    perform api.fail(403, 'forbidden', 'This operation is not available to your role.');
  end if;
end
$$;

create or replace function api.require_flag(flag text) returns void
language plpgsql stable
as $$
begin
  if not coalesce((select c.feature_flags -> flag = 'true'::jsonb from app.clinics c
                   where c.id = (select auth.org_id())), false) then
    perform api.fail(403, 'feature_disabled', format('The clinic has not enabled %s.', flag));
  end if;
end
$$;
grant execute on function api.require_role(text[]), api.require_flag(text) to app_user, app_service;

-- The SECURITY DEFINER helpers run as wardline_auth. Handing them over needs CREATE on the
-- schema for that moment only; grants made above carry over to the new owner.
grant create on schema auth to wardline_auth;
alter function auth.caller_is_recognised() owner to wardline_auth;
alter function auth.my_org_ids() owner to wardline_auth;
revoke create on schema auth from wardline_auth;
