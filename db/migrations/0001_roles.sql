-- run-as: admin
-- Cluster-wide roles. Applied by a superuser (or an RDS master user with CREATEROLE); every
-- later file runs as wardline_owner. None of these roles has BYPASSRLS.
do $$
declare
  r record;
begin
  for r in select * from (values
      ('wardline_owner',         'NOLOGIN'),   -- owns every object, runs migrations
      ('wardline_authenticator', 'LOGIN'),     -- what functions log in as
      ('wardline_auth',          'NOLOGIN'),   -- owns the few SECURITY DEFINER helpers
      ('app_anon',               'NOLOGIN'),   -- pre-login portal calls
      ('app_user',               'NOLOGIN'),   -- every signed-in caller
      ('app_service',            'NOLOGIN')    -- scheduled jobs
    ) as t(name, login)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      execute format('create role %I %s noinherit nosuperuser nobypassrls nocreatedb nocreaterole',
                     r.name, r.login);
    elsif exists (select 1 from pg_roles where rolname = r.name and (rolsuper or rolbypassrls)) then
      -- Only a superuser may change these attributes (an RDS master user may not): refuse.
      raise exception 'role % is SUPERUSER or BYPASSRLS; Wardline will not run with it', r.name;
    else
      execute format('alter role %I %s noinherit nocreatedb nocreaterole', r.name, r.login);
    end if;
  end loop;
end
$$;

-- What the functions' connections may not do, whatever a request asks: hold a transaction open
-- (a cancelled request's locks), or run away.
alter role wardline_authenticator set idle_in_transaction_session_timeout = '10s';
alter role wardline_authenticator set statement_timeout = '15s';

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

-- PostgreSQL 14 and older let PUBLIC create objects in schema public (on every search_path).
do $$
begin
  revoke create on schema public from public;
exception when insufficient_privilege then
  raise notice 'could not revoke CREATE on schema public: do it as the schema owner';
end
$$;
