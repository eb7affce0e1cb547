-- Prescribers across clinics (issue 6): prescriber profiles and their per-clinic
-- assignments, the three kinds of work that wait for a prescriber (paid invoices, refills,
-- orders), and cross-clinic requests. Policies: policies/prescribing.sql.
--
-- A cross-clinic request (auth.begin_cross_clinic_request) runs with no current clinic and a
-- `scope` claim; auth.my_org_ids() is empty in every other request, so the policies built on
-- it grant nothing to a clinic-scoped call, and the clinic-scoped policies (built on
-- auth.org_id()) grant nothing to a cross-clinic one.

-- The person: the clinic on their user record (from before memberships existed), and whether
-- they may work at all. An inactive clinician is recognised nowhere.
alter table app.clinicians
  add column home_org_id uuid references app.clinics (id) on delete set null,
  add column active boolean not null default true;
create index clinicians_home_org_idx on app.clinicians (home_org_id);

-- What the prescription queue shows of a clinic and what approve-and-send needs of it: the
-- letterhead the prescription carries and the secret (a Secrets Manager name or ARN, never
-- the credentials) holding the clinic's pharmacy account.
alter table app.clinics
  add column pharmacy_enabled boolean not null default false,
  add column pharmacy_secret_ref text
    check (length(pharmacy_secret_ref) <= 2048
           and pharmacy_secret_ref ~ '^[A-Za-z0-9/_+=.@:-]+$'),
  add column letterhead jsonb not null default '{}' check (jsonb_typeof(letterhead) = 'object');

-- A prescriber profile. legacy_org_id is the single clinic profiles had before assignments.
create table app.providers (
  id            uuid primary key default gen_random_uuid(),
  clinician_id  uuid not null unique references app.clinicians (id) on delete cascade,
  legacy_org_id uuid references app.clinics (id) on delete set null,
  active        boolean not null default true,
  created_at    timestamptz not null default now()
);
create index providers_legacy_org_idx on app.providers (legacy_org_id);

-- A DEA registration number: two letters (the second may be 9) and seven digits, the last the
-- check digit of the other six.
create or replace function app.is_dea_number(dea text) returns boolean
language sql immutable
as $$
  select case when dea ~ '^[A-Z][A-Z9][0-9]{7}$' then
    (substr(dea, 3, 1)::int + substr(dea, 5, 1)::int + substr(dea, 7, 1)::int
     + 2 * (substr(dea, 4, 1)::int + substr(dea, 6, 1)::int + substr(dea, 8, 1)::int)) % 10
    = substr(dea, 9, 1)::int
  else false end
$$;
grant execute on function app.is_dea_number(text) to app_user;

-- Where a prescriber prescribes, with what they prescribe under there (DEA registrations and
-- licences are per state, so per clinic).
create table app.provider_clinics (
  provider_id    uuid not null references app.providers (id) on delete cascade,
  org_id         uuid not null references app.clinics (id) on delete cascade,
  is_primary     boolean not null default false,
  title_line     text check (length(title_line) between 1 and 200),
  dea_number     text check (dea_number is null or app.is_dea_number(dea_number)),
  license_number text check (license_number ~ '^[A-Za-z0-9-]{1,30}$'),
  license_state  text check (license_state ~ '^[A-Z]{2}$'),
  active         boolean not null default true,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  updated_by     uuid references app.clinicians (id),
  primary key (provider_id, org_id)
);
create index provider_clinics_org_idx on app.provider_clinics (org_id);
create unique index provider_clinics_one_primary on app.provider_clinics (provider_id)
  where is_primary and active;

-- Invoices whose payment starts a prescription: processed or declined by a prescriber.
create table app.invoices (
  id                  uuid primary key default gen_random_uuid(),
  org_id              uuid not null references app.clinics (id) on delete cascade,
  patient_id          uuid not null,
  description         text not null check (length(description) between 1 and 200),
  amount_cents        integer not null check (amount_cents >= 0),
  status              text not null default 'open' check (status in ('open', 'paid', 'void')),
  paid_at             timestamptz,
  prescription_status text not null default 'pending'
                      check (prescription_status in ('pending', 'processed', 'declined')),
  status_reason       text check (length(status_reason) between 1 and 1000),
  processed_at        timestamptz,
  processed_by        uuid references app.providers (id),
  created_at          timestamptz not null default now(),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  check (status <> 'paid' or paid_at is not null),
  check ((prescription_status = 'pending') = (processed_at is null)),
  check (prescription_status <> 'declined' or status_reason is not null)
);
create index invoices_queue_idx on app.invoices (org_id, paid_at, id)
  where status = 'paid' and prescription_status = 'pending';
create index invoices_org_idx on app.invoices (org_id);
create index invoices_patient_idx on app.invoices (patient_id);

create table app.refills (
  id         uuid primary key default gen_random_uuid(),
  org_id     uuid not null references app.clinics (id) on delete cascade,
  patient_id uuid not null,
  medication text not null check (length(medication) between 1 and 200),
  status     text not null default 'PENDING_ADMIN' check (status in (
               'PENDING_ADMIN', 'APPROVED', 'PENDING_PROVIDER', 'PRESCRIBED', 'DENIED',
               'CANCELLED')),
  queued_at  timestamptz not null default now(),
  created_at timestamptz not null default now(),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index refills_queue_idx on app.refills (org_id, queued_at, id)
  where status in ('APPROVED', 'PENDING_PROVIDER');
create index refills_org_idx on app.refills (org_id);
create index refills_patient_idx on app.refills (patient_id);

-- A prescription waiting for a prescriber's approval, then sent to the clinic's pharmacy.
-- A failed send leaves it queued with the error; attempts counts them.
create table app.orders (
  id                 uuid primary key default gen_random_uuid(),
  org_id             uuid not null references app.clinics (id) on delete cascade,
  patient_id         uuid not null,
  medication         text not null check (length(medication) between 1 and 200),
  strength           text check (length(strength) between 1 and 100),
  quantity           text not null check (length(quantity) between 1 and 100),
  directions         text not null check (length(directions) between 1 and 1000),
  refills            integer not null default 0 check (refills between 0 and 11),
  status             text not null default 'queued_for_provider'
                     check (status in ('draft', 'queued_for_provider', 'sent', 'cancelled')),
  queued_at          timestamptz not null default now(),
  approved_by        uuid references app.providers (id),
  approved_at        timestamptz,
  sent_at            timestamptz,
  pharmacy_reference text check (length(pharmacy_reference) between 1 and 200),
  pdf_key            text check (length(pdf_key) between 1 and 1024),
  attempts           integer not null default 0 check (attempts >= 0),
  last_error         text check (length(last_error) <= 1000),
  last_error_at      timestamptz,
  created_at         timestamptz not null default now(),
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade,
  check ((status = 'sent') = (sent_at is not null and approved_by is not null
                              and pharmacy_reference is not null and pdf_key is not null))
);
create index orders_queue_idx on app.orders (org_id, queued_at, id)
  where status = 'queued_for_provider';
create index orders_org_idx on app.orders (org_id);
create index orders_patient_idx on app.orders (patient_id);

grant select on app.providers, app.provider_clinics, app.invoices, app.refills, app.orders
  to app_user;
grant insert (provider_id, org_id, is_primary, title_line, dea_number, license_number,
              license_state, active, updated_by),
      update (is_primary, title_line, dea_number, license_number, license_state, active,
              updated_at, updated_by)
  on app.provider_clinics to app_user;
grant update (prescription_status, status_reason, processed_at, processed_by)
  on app.invoices to app_user;
grant update (status, approved_by, approved_at, sent_at, pharmacy_reference, pdf_key, attempts,
              last_error, last_error_at)
  on app.orders to app_user;
grant select on app.providers, app.provider_clinics, app.invoices, app.orders to wardline_auth;
