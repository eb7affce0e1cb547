-- run-as: admin
-- Cluster-wide roles. Applied by a superuser (or an RDS master user with CREATEROLE); every
-- later file runs as wardline_owner. None of these roles has BYPASSRLS.
do $$
declare
  r record;
begin
  for r in select * from (values
      ('wardline_owner',         'NOLOGIN NOINHERIT'),   -- owns every object, runs migrations
      ('wardline_authenticator', 'LOGIN NOINHERIT'),     -- what functions log in as
      ('wardline_auth',          'NOLOGIN NOINHERIT'),   -- owns the few SECURITY DEFINER helpers
      ('app_anon',               'NOLOGIN NOINHERIT'),   -- pre-login portal calls
      ('app_user',               'NOLOGIN NOINHERIT'),   -- every signed-in caller
      ('app_service',            'NOLOGIN NOINHERIT')    -- scheduled jobs
    ) as t(name, attrs)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      execute format('create role %I %s', r.name, r.attrs);
    end if;
    execute format('alter role %I %s nosuperuser nocreatedb nocreaterole nobypassrls', r.name, r.attrs);
  end loop;
end
$$;

-- The authenticator may become each request role (transaction-locally, via auth.begin_request).
grant app_anon, app_user, app_service to wardline_authenticator;
-- The owner hands SECURITY DEFINER helpers to wardline_auth.
grant wardline_auth to wardline_owner;
-- The connecting admin must be able to act as the owner to apply migrations.
do $$ begin execute format('grant wardline_owner to %I', current_user); end $$;

-- Database-level rights for this database only.
do $$
begin
  execute format('grant connect, create on database %I to wardline_owner', current_database());
  execute format('grant connect on database %I to wardline_authenticator', current_database());
  execute format('revoke all on database %I from public', current_database());
end
$$;
