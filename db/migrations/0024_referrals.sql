-- Referrals (issue 20): a patient shares a link to their clinic's portal carrying a random
-- code (no name, no id); when staff invite someone with that code, the new patient is
-- attributed to the link, once. The referrer learns how many joined, never who.

create table app.referral_links (
  id          uuid primary key default gen_random_uuid(),
  org_id      uuid not null references app.clinics (id) on delete cascade,
  patient_id  uuid not null,
  code        text not null unique check (code ~ '^[A-Za-z0-9_-]{12}$'),
  created_at  timestamptz not null default now(),
  revoked_at  timestamptz,
  foreign key (org_id, patient_id) references app.patients (org_id, id) on delete cascade
);
create index referral_links_patient_idx on app.referral_links (org_id, patient_id, created_at);
grant select, insert (id, org_id, patient_id, code), update (revoked_at)
  on app.referral_links to app_user;
grant select on app.referral_links to wardline_auth;

create table app.referral_attributions (
  referred_id  uuid primary key,
  org_id       uuid not null references app.clinics (id) on delete cascade,
  link_id      uuid not null references app.referral_links (id) on delete cascade,
  referrer_id  uuid not null,
  created_by   uuid not null,
  created_at   timestamptz not null default now(),
  check (referred_id <> referrer_id),
  foreign key (org_id, referred_id) references app.patients (org_id, id) on delete cascade,
  foreign key (org_id, referrer_id) references app.patients (org_id, id) on delete cascade
);
create index referral_attributions_link_idx on app.referral_attributions (link_id);
create index referral_attributions_org_created_idx
  on app.referral_attributions (org_id, created_at);
grant select, insert (referred_id, org_id, link_id, referrer_id, created_by)
  on app.referral_attributions to app_user;
grant select on app.referral_attributions to wardline_auth;
