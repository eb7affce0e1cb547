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

-- Staff are the signed-in callers who are not patients.
create or replace function auth.is_staff() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() in ('therapist', 'admin', 'super_admin'), false) $$;

create or replace function auth.is_admin() returns boolean
language sql stable
as $$ select coalesce(auth.app_role() in ('admin', 'super_admin'), false) $$;

grant execute on function auth.claims(), auth.claim(text), auth.uid(), auth.org_id(),
  auth.app_role(), auth.patient_id(), auth.request_id(), auth.is_staff(), auth.is_admin()
  to app_anon, app_user, app_service, wardline_auth;

-- Raises a Wardline error: SQLSTATE P0001, MESSAGE = stable code, HINT = HTTP status,
-- COLUMN = the offending input field when there is one. shared::error maps it.
create or replace function api.fail(status integer, code text, detail text, field text default null)
returns void
language plpgsql
as $$
begin
  if field is null then
    raise exception using errcode = 'P0001', message = code, detail = detail, hint = status::text;
  else
    raise exception using errcode = 'P0001', message = code, detail = detail, hint = status::text,
      column = field;
  end if;
end
$$;
grant execute on function api.fail(integer, text, text, text)
  to wardline_authenticator, app_anon, app_user, app_service;
