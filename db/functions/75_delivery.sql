-- Delivery you can trust (provider-webhooks): what the providers tell us after they accepted
-- a message — delivered, bounced, dropped, undelivered, a spam report, an unsubscribe — each
-- event applied once, to the message it names, in that message's clinic. A verified provider
-- call runs as app_service, like the sender whose sends it reports on.

-- Whether e-mail of an outbox kind is transactional: a patient who unsubscribed still gets
-- it (sign-in codes, invites, a new staff member's invite, changes to their appointments, an
-- offer they asked for, news of their messages and tasks). Every
-- other kind, reminders and any kind added later, carries a one-click unsubscribe and is not
-- sent to an address that used it.
create or replace function app.is_transactional(kind text) returns boolean
language sql immutable
as $$
  select kind in ('portal_otp', 'patient_invite', 'staff_invite', 'staff_access',
                  'session.booked', 'session.changed', 'session.cancelled', 'waitlist.offer',
                  'message.new', 'message.new.staff', 'task.assigned')
$$;
grant execute on function app.is_transactional(text) to app_service;

-- Applies one provider event about one outbox message, once: the message is found by its id
-- (which Wardline gave the provider) or else by the provider's id of it, within `on_channel`;
-- the event is recorded under the provider's id (a replay stops there); then the message's
-- delivery status and the address's suppression are updated and audited in the message's
-- clinic. A bounce, spam report or drop overrides an unsubscribe, not the other way round.
-- → 'accepted', 'duplicate', or 'ignored' (no such message: nothing changes).
create or replace function app.record_delivery_event(
  source text, source_event text, what text, on_channel text, message uuid, provider_id text,
  new_status text, suppress text
) returns text
language plpgsql
as $$
declare
  msg uuid;
  org uuid;
  address text;
begin
  if message is not null then
    select o.id, o.org_id, o.recipient into msg, org, address
    from app.outbox o where o.id = message and o.channel = on_channel;
  end if;
  if msg is null and provider_id is not null then
    select o.id, o.org_id, o.recipient into msg, org, address
    from app.outbox o where o.channel = on_channel and o.provider_message_id = provider_id;
  end if;
  if msg is null then
    return 'ignored';
  end if;
  insert into app.provider_events (provider, event_id, org_id, message_id, event)
  values (source, source_event, org, msg, what)
  on conflict do nothing;
  if not found then
    return 'duplicate';
  end if;
  if new_status is not null then
    update app.outbox set delivery_status = new_status, delivery_updated_at = now()
    where id = msg;
    perform audit.record_in(org, 'message.' || new_status, 'outbox', msg::text, 'success',
                            jsonb_build_object('provider', source, 'event', what));
  end if;
  if suppress is not null then
    insert into app.email_suppressions as s (org_id, email, reason, provider_event_id)
    values (org, address, suppress, source_event)
    on conflict (org_id, email) do update
      set reason = excluded.reason, provider_event_id = excluded.provider_event_id,
          created_at = now()
      where s.reason = 'unsubscribe' and excluded.reason <> 'unsubscribe';
    if found then
      perform audit.record_in(org, 'email.suppressed', 'outbox', msg::text, 'success',
                              jsonb_build_object('provider', source, 'reason', suppress));
    end if;
  end if;
  return 'accepted';
end
$$;
grant execute on function app.record_delivery_event(text, text, text, text, uuid, text, text, text)
  to app_service;
grant execute on function audit.record_in(uuid, text, text, text, text, jsonb, uuid) to app_service;

-- SendGrid's event webhook, verified: input {events: [{eventId, event, messageId?,
-- providerMessageId?, status?, suppress?}]}, each applied once. → {accepted, duplicates,
-- ignored}.
create or replace function api.email_events(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  e jsonb;
  accepted integer := 0;
  duplicates integer := 0;
  ignored integer := 0;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  for e in select value from jsonb_array_elements(input -> 'events') loop
    case app.record_delivery_event('sendgrid', e ->> 'eventId', e ->> 'event', 'email',
                                   (e ->> 'messageId')::uuid, e ->> 'providerMessageId',
                                   e ->> 'status', e ->> 'suppress')
      when 'accepted' then accepted := accepted + 1;
      when 'duplicate' then duplicates := duplicates + 1;
      else ignored := ignored + 1;
    end case;
  end loop;
  return jsonb_build_object('accepted', accepted, 'duplicates', duplicates, 'ignored', ignored);
end
$$;
grant execute on function api.email_events(jsonb, jsonb) to wardline_authenticator;

-- Twilio's status callback, verified: input {messageSid, status (delivered, undelivered or
-- failed), outboxId?}, applied once per message and status. → {outcome}.
create or replace function api.twilio_status(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  return jsonb_build_object('outcome', app.record_delivery_event(
    'twilio', (input ->> 'messageSid') || ':' || (input ->> 'status'), input ->> 'status', 'sms',
    (input ->> 'outboxId')::uuid, input ->> 'messageSid', input ->> 'status', null));
end
$$;
grant execute on function api.twilio_status(jsonb, jsonb) to wardline_authenticator;

-- A one-click unsubscribe, its token verified: input {messageId}. The message's address is
-- suppressed for its clinic (reason unsubscribe); a second click changes nothing. → {outcome}.
create or replace function api.email_unsubscribe(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  return jsonb_build_object('outcome', app.record_delivery_event(
    'wardline', 'unsubscribe:' || (input ->> 'messageId'), 'unsubscribe', 'email',
    (input ->> 'messageId')::uuid, null, null, 'unsubscribe'));
end
$$;
grant execute on function api.email_unsubscribe(jsonb, jsonb) to wardline_authenticator;
