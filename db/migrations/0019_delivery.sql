-- Delivery you can trust (issue 19, parts 3 and 4): what the providers tell us after they
-- accepted a message. The outbox keeps the provider's id of each message and what became of
-- it; addresses that bounced, reported spam or unsubscribed are suppressed per clinic; each
-- provider event is applied once. A verified provider call acts as the sender does
-- (app_service), which already reads every message and records deliveries.

alter table app.outbox
  -- Twilio's message SID or SendGrid's X-Message-Id, recorded at send.
  add column provider_message_id text check (length(provider_message_id) between 1 and 200),
  add column delivery_status text
    check (delivery_status in ('delivered', 'undelivered', 'failed', 'bounced', 'dropped')),
  add column delivery_updated_at timestamptz;
-- One channel has one provider: its ids are unique within the channel.
create unique index outbox_provider_message_idx on app.outbox (channel, provider_message_id)
  where provider_message_id is not null;
grant update (provider_message_id, delivery_status, delivery_updated_at) on app.outbox
  to app_service;

-- Addresses a clinic no longer e-mails: a bounce or a spam report (or a drop for either)
-- stops every e-mail; an unsubscribe stops the e-mails that are not transactional.
create table app.email_suppressions (
  org_id            uuid not null references app.clinics (id) on delete cascade,
  email             text not null check (length(email) between 3 and 320),
  reason            text not null check (reason in ('bounce', 'spam_report', 'unsubscribe')),
  -- The event that suppressed it (provider's id, or the unsubscribed message's).
  provider_event_id text not null check (length(provider_event_id) between 1 and 200),
  created_at        timestamptz not null default now(),
  primary key (org_id, email)
);
comment on table app.email_suppressions is 'Addresses a clinic no longer e-mails, and why.';
grant select on app.email_suppressions to app_user;
grant select, insert, update (reason, provider_event_id, created_at) on app.email_suppressions
  to app_service;

-- Every provider event applied, by the provider's own id: a replay changes nothing. Only
-- events about a message of Wardline's are kept, in that message's clinic.
create table app.provider_events (
  provider    text not null check (provider in ('sendgrid', 'twilio', 'wardline')),
  event_id    text not null check (length(event_id) between 1 and 200),
  org_id      uuid not null references app.clinics (id) on delete cascade,
  message_id  uuid not null references app.outbox (id) on delete cascade,
  event       text not null check (event ~ '^[a-z_]{1,40}$'),
  received_at timestamptz not null default now(),
  primary key (provider, event_id)
);
comment on table app.provider_events is 'Provider events applied to the outbox, each once.';
create index provider_events_org_idx on app.provider_events (org_id);
create index provider_events_message_idx on app.provider_events (message_id);
grant select, insert on app.provider_events to app_service;
