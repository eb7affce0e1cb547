-- Schemas, extensions and default privileges. Nothing is usable by PUBLIC unless granted.
create extension if not exists btree_gist;

create schema if not exists auth;   -- claims helpers and request start
create schema if not exists api;    -- one function per operation: the only door from Rust
create schema if not exists app;    -- tenant data
create schema if not exists audit;  -- append-only, hash-chained event log

alter default privileges for role wardline_owner revoke execute on functions from public;

grant usage on schema auth, app to app_anon, app_user, app_service, wardline_auth;
grant usage on schema audit to app_anon, app_user, app_service, wardline_auth;
grant usage on schema api, auth to wardline_authenticator;
-- Helpers in api (api.fail, flag checks) run after the role switch, as the request role.
grant usage on schema api to app_anon, app_user, app_service;
