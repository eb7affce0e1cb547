-- Clinics (tenants), clinicians (people, in any number of clinics) and patients.

create or replace function app.is_time_zone(tz text) returns boolean
language plpgsql immutable
as $$
begin
  perform now() at time zone tz;
  return true;
exception when invalid_parameter_value then
  return false;
end
$$;
grant execute on function app.is_time_zone(text) to app_anon, app_user, app_service;

create table app.clinics (
  id            uuid primary key default gen_random_uuid(),
  slug          text not null unique
                check (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  name          text not null check (length(name) between 1 and 200),
  portal_domain text unique check (portal_domain = lower(portal_domain)),
  time_zone     text not null default 'UTC' check (app.is_time_zone(time_zone)),
  feature_flags jsonb not null default '{}' check (jsonb_typeof(feature_flags) = 'object'),
  created_at    timestamptz not null default now()
);
comment on table app.clinics is 'A tenant. Its id is the org_id claim.';

create table app.clinicians (
  id             uuid primary key default gen_random_uuid(),
  email          text not null check (email = lower(email) and email like '%_@_%'),
  first_name     text not null check (length(first_name) between 1 and 100),
  last_name      text not null check (length(last_name) between 1 and 100),
  specialization text,
  npi            text check (npi ~ '^[0-9]{10}$'),
  is_super_admin boolean not null default false,
  created_at     timestamptz not null default now()
);
create unique index clinicians_email_key on app.clinicians (email);
comment on table app.clinicians is 'A person on staff; id is the JWT sub. Memberships say where they work.';

create table app.clinic_memberships (
  org_id       uuid not null references app.clinics (id) on delete cascade,
  clinician_id uuid not null references app.clinicians (id) on delete cascade,
  kind         text not null default 'therapist' check (kind in ('therapist', 'prescriber', 'staff')),
  is_admin     boolean not null default false,
  active       boolean not null default true,
  approved     boolean not null default false,
  created_at   timestamptz not null default now(),
  primary key (org_id, clinician_id)
);
create index clinic_memberships_clinician_idx on app.clinic_memberships (clinician_id);

create table app.patients (
  id            uuid primary key default gen_random_uuid(),
  org_id        uuid not null references app.clinics (id) on delete cascade,
  first_name    text not null check (length(first_name) between 1 and 100),
  last_name     text not null check (length(last_name) between 1 and 100),
  email         text check (email = lower(email) and email like '%_@_%'),
  phone         text check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  date_of_birth date,
  created_at    timestamptz not null default now(),
  deleted_at    timestamptz
);
create index patients_org_idx on app.patients (org_id) where deleted_at is null;
create unique index patients_org_email_key on app.patients (org_id, email) where deleted_at is null;

-- Writes are granted column by column by the migrations of the features that need them.
grant select on app.clinics, app.clinicians, app.clinic_memberships, app.patients to app_user;
grant update (feature_flags) on app.clinics to app_user;
grant select on app.clinics, app.clinicians, app.clinic_memberships, app.patients to wardline_auth;
