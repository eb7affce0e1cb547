-- audit.events: append-only, one row per state change and per sign-in, hash-chained per clinic
-- (events outside any clinic chain under the nil uuid). Each row's hash covers its content and
-- the previous row's hash, so editing or removing a row breaks every later link.

create table audit.events (
  id          bigint generated always as identity primary key,
  -- NULL for events outside any clinic; the nil uuid is reserved as that chain's key.
  org_id      uuid check (org_id <> '00000000-0000-0000-0000-000000000000'),
  chain_seq   bigint not null,
  actor_id    uuid,
  actor_role  text,
  action      text not null check (action ~ '^[a-z][a-z0-9_.]*$'),
  target_type text,
  target_id   text,
  outcome     text not null default 'success' check (outcome in ('success', 'failure', 'denied')),
  request_id  text,
  occurred_at timestamptz not null default now(),
  detail      jsonb not null default '{}' check (jsonb_typeof(detail) = 'object'),
  prev_hash   bytea not null,
  hash        bytea not null
);
create index events_org_idx on audit.events (org_id, chain_seq);
comment on column audit.events.detail is 'Ids and codes only: never PHI.';

-- One row per chain: its length and last hash. Locked per insert, so a clinic's events are
-- chained in a single order even when written concurrently.
create table audit.chain_heads (
  chain_key uuid primary key,
  last_seq  bigint not null,
  last_hash bytea not null
);
grant select on audit.events to app_user;
grant select, insert on audit.events to wardline_auth;
grant select, insert, update on audit.chain_heads to wardline_auth;
