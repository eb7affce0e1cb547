-- Anchors (issue 22): every few minutes the audit-anchor function writes each audit chain's
-- head (sequence number and hash) to S3 under Object Lock in compliance mode, where the
-- database owner cannot rewrite it; `cargo xtask audit-verify` and the trail's export hold the
-- chain to those objects. This table only remembers the last head written per chain, so a run
-- writes only the heads that changed since; the anchors themselves are the objects in S3.

create table audit.anchors (
  chain_key   uuid primary key,
  seq         bigint not null check (seq > 0),
  hash        bytea not null check (octet_length(hash) = 32),
  anchored_at timestamptz not null default now()
);
comment on table audit.anchors is
  'The last chain head audit-anchor wrote to S3, per chain: which heads changed since. Not the anchor itself.';

-- The anchor job (app_service) reads every chain's head and keeps this table.
grant select on audit.chain_heads to app_service;
grant select, insert, update on audit.anchors to app_service;
