-- The patient portal (portal-otp) and its sender (message-sender): which clinic a host names,
-- sign-in codes, refresh tokens, consent and preferences, inbound texts, the outbox.

-- Whether two 32-byte digests are equal, looking at every byte whatever the first difference:
-- no early exit for a timing attack to measure.
create or replace function app.digests_equal(a bytea, b bytea) returns boolean
language sql immutable
as $$
  select coalesce(length(a) = 32 and length(b) = 32
    and (select bit_or(get_byte(a, i) # get_byte(b, i)) from generate_series(0, 31) i) = 0, false)
$$;
grant execute on function app.digests_equal(bytea, bytea) to app_anon, app_user;


-- Puts the clinic a pre-login portal call resolved into the request's claims: the policies of
-- app_anon scope by auth.org_id(). Only for calls that have no identity and no clinic yet.
create or replace function auth.enter_clinic(org uuid) returns void
language plpgsql
as $$
begin
  if auth.app_role() is not null or auth.org_id() is not null or org is null then
    raise exception 'enter_clinic is for anonymous requests without a clinic';
  end if;
  perform set_config('request.jwt.claims',
                     (auth.claims() || jsonb_build_object('org_id', org))::text, true);
end
$$;
grant execute on function auth.enter_clinic(uuid) to app_anon;

-- The clinic a portal host names: `{slug}.portal.<base domain>` (Rust passes the slug) or a
-- clinic's own portal domain. SECURITY DEFINER: before this, the caller sees no clinic.
create or replace function app.portal_clinic(host jsonb) returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select c.id from app.clinics c
  where c.slug = host ->> 'slug' or c.portal_domain = host ->> 'domain'
  order by c.slug = host ->> 'slug' desc
  limit 1
$$;

-- The clinic and patient of a live, unused invite (by the SHA-256 of its token).
create or replace function app.portal_invite(token_hash bytea)
returns table (org_id uuid, patient_id uuid)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select i.org_id, i.patient_id from app.patient_invites i
  where i.token_hash = portal_invite.token_hash and i.used_at is null and i.expires_at > now()
$$;

-- The one live patient of the current clinic with this e-mail or phone (a phone shared by
-- several patients identifies none of them). SECURITY DEFINER: app_anon reads no patients.
create or replace function app.portal_patient(channel text, identifier text) returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select case when count(*) = 1 then min(p.id::text)::uuid end
  from app.patients p
  where p.org_id = auth.org_id() and p.deleted_at is null
    and case channel when 'email' then p.email = identifier
                     when 'sms' then p.phone = identifier
                     else false end
$$;

-- Whether this patient of the current clinic is still live (refresh tokens of a removed
-- patient stop working).
create or replace function app.portal_patient_live(patient uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select exists (select 1 from app.patients p
                 where p.id = patient and p.org_id = auth.org_id() and p.deleted_at is null)
$$;

-- The clinic whose SMS number a text was sent to.
create or replace function app.clinic_by_sms_number(number text) returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$ select c.id from app.clinics c where c.sms_number = number $$;

grant execute on function app.portal_clinic(jsonb), app.portal_patient_live(uuid) to app_user;
grant execute on function app.portal_clinic(jsonb), app.portal_invite(bytea),
  app.portal_patient(text, text), app.portal_patient_live(uuid),
  app.clinic_by_sms_number(text) to app_anon;
create trigger portal_consents_append_only before update or delete on app.portal_consents
  for each row execute function app.reject_change();


-- Resolves the clinic of a pre-login portal call and enters it: from the host, or from an
-- invite (whose clinic must then be the host's, when the host names one). 404 when neither
-- names a clinic; 400 naming inviteToken for an invite that is used, expired or elsewhere.
create or replace function app.portal_enter(input jsonb) returns uuid
language plpgsql
as $$
declare
  org uuid := app.portal_clinic(input -> 'host');
  invited record;
begin
  if input ? 'inviteHash' then
    select * into invited from app.portal_invite(decode(input ->> 'inviteHash', 'hex'));
    if invited.org_id is null or invited.org_id is distinct from coalesce(org, invited.org_id) then
      perform api.fail('invalid_invite',
        'This invite link is used, expired or for another clinic.', 'inviteToken');
    end if;
    org := invited.org_id;
  end if;
  if org is null then
    perform api.fail('unknown_portal', 'No clinic''s portal is at this address.');
  end if;
  perform auth.enter_clinic(org);
  return org;
end
$$;

-- For signed-in portal calls: the host must name the clinic of the patient's token.
create or replace function app.portal_require_host(host jsonb) returns void
language plpgsql
as $$
declare
  org uuid := app.portal_clinic(host);
begin
  if org is null then
    perform api.fail('unknown_portal', 'No clinic''s portal is at this address.');
  elsif org <> (select auth.org_id()) then
    perform api.fail('invalid_token', 'This sign-in belongs to another clinic''s portal.');
  end if;
end
$$;
grant execute on function app.portal_enter(jsonb) to app_anon;
grant execute on function app.portal_require_host(jsonb) to app_user;

-- Counts a request of kind `what` from `source` against the clinic's hourly limit; 429 with
-- Retry-After past it.
create or replace function app.portal_count(what text, source text, per_hour integer)
returns void
language plpgsql
as $$
declare
  r record;
begin
  insert into app.portal_rate as t (org_id, source_ip, action, window_start, requests)
  values ((select auth.org_id()), coalesce(source, 'unknown'), what, now(), 1)
  on conflict (org_id, source_ip, action) do update
    set window_start = case when t.window_start <= now() - interval '1 hour' then now()
                            else t.window_start end,
        requests = case when t.window_start <= now() - interval '1 hour' then 1
                        else t.requests + 1 end
  returning t.requests, t.window_start into r;
  if r.requests > per_hour then
    perform api.fail_with('rate_limited',
      'Too many requests from this address. Try again later.',
      jsonb_build_object('retryAfterSeconds',
        ceil(extract(epoch from r.window_start + interval '1 hour' - now()))::integer));
  end if;
end
$$;
grant execute on function app.portal_count(text, text, integer) to app_anon;

-- The sign-in row of an identifier in the current clinic, created when missing, locked.
create or replace function app.portal_sign_in_row(via text, hashed bytea)
returns app.portal_sign_in
language plpgsql
as $$
declare
  r app.portal_sign_in;
begin
  insert into app.portal_sign_in (org_id, identifier_hash, channel)
  values ((select auth.org_id()), hashed, via)
  on conflict do nothing;
  select * into r from app.portal_sign_in s
  where s.org_id = (select auth.org_id()) and s.identifier_hash = hashed
  for update;
  return r;
end
$$;
grant execute on function app.portal_sign_in_row(text, bytea) to app_anon;

-- The api.* functions below are compiled as wardline_authenticator, which may not use schema
-- app: their variables are `record`, not app row types.

-- POST /api/portal/auth/otp. input: {host, inviteHash?, channel, identifier, identifierHash,
-- codeHash, sealedCode, messageId, sourceIp}. Issues a code (replacing any live one) unless the
-- identifier is locked out, was sent one under 60 s ago, or had 5 sends in the last hour; queues
-- it only for a live patient of this clinic and an allowed channel. Unknown identifiers take
-- exactly this path minus the queueing. Answers nothing the caller could tell apart.
create or replace function api.portal_request_code(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  via text := input ->> 'channel';
  address text := input ->> 'identifier';
  patient uuid;
  r record;
  recent timestamptz[];
  outcome text;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_anonymous());
  perform app.portal_enter(input);
  perform app.portal_count('otp', input ->> 'sourceIp', 30);
  patient := app.portal_patient(via, address);
  r := app.portal_sign_in_row(via, decode(input ->> 'identifierHash', 'hex'));
  recent := array(select s from unnest(r.sends) s where s > now() - interval '1 hour');
  outcome := case
    when r.locked_until > now() then 'locked_out'
    when exists (select 1 from unnest(recent) s where s > now() - interval '60 seconds') then 'too_soon'
    when cardinality(recent) >= 5 then 'hourly_limit'
    when patient is null then 'unknown'
    when via = 'sms' and exists (
      select 1 from app.sms_opt_outs o
      where o.org_id = (select auth.org_id()) and o.phone = address and o.opted_out) then 'opted_out'
    else 'sent' end;
  if outcome in ('sent', 'unknown', 'opted_out') then
    update app.portal_sign_in s
    set patient_id = patient, code_hash = decode(input ->> 'codeHash', 'hex'),
        code_expires_at = now() + interval '10 minutes', code_tries = 0,
        sends = recent || now(), updated_at = now()
    where s.org_id = r.org_id and s.identifier_hash = r.identifier_hash;
  end if;
  if outcome = 'sent' then
    insert into app.outbox (id, org_id, kind, channel, recipient, payload)
    values ((input ->> 'messageId')::uuid, (select auth.org_id()), 'portal_otp', via,
            address, jsonb_build_object('sealedCode', input -> 'sealedCode'));
  end if;
  perform audit.record('portal.otp.request', 'patient', patient::text,
    case when outcome = 'sent' then 'success' else 'denied' end,
    jsonb_build_object('channel', via, 'result', outcome));
  return '{}'::jsonb;
end
$$;
grant execute on function api.portal_request_code(jsonb, jsonb) to wardline_authenticator;

-- POST /api/portal/auth/verify. input: {host, inviteHash?, channel, identifier, identifierHash,
-- codeHash, refreshHash, sourceIp}. The code works once, for 10 minutes, and for at most 5
-- tries; 10 consecutive failures of an identifier (a resend does not reset them) lock it out
-- for 15 minutes. Failures are kept (committed) and answered as committed failures. Success
-- starts a refresh-token family and uses the invite it came with.
create or replace function api.portal_verify_code(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  via text := input ->> 'channel';
  patient uuid;
  org uuid;
  r record;
  matches boolean;
  expires timestamptz := now() + interval '30 days';
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_anonymous());
  org := app.portal_enter(input);
  perform app.portal_count('verify', input ->> 'sourceIp', 60);
  patient := app.portal_patient(via, input ->> 'identifier');
  r := app.portal_sign_in_row(via, decode(input ->> 'identifierHash', 'hex'));
  if r.locked_until > now() then
    perform audit.record('portal.sign_in', 'patient', patient::text, 'denied',
                         jsonb_build_object('channel', via, 'reason', 'locked_out'));
    return api.committed_failure('locked_out',
      'Too many wrong codes. Try again later.',
      jsonb_build_object('retryAfterSeconds',
        ceil(extract(epoch from r.locked_until - now()))::integer));
  end if;
  matches := coalesce(app.digests_equal(r.code_hash, decode(input ->> 'codeHash', 'hex'))
                      and r.code_expires_at > now() and r.code_tries < 5
                      and r.patient_id = patient, false);
  if not matches then
    update app.portal_sign_in s
    set code_tries = s.code_tries + 1,
        code_hash = case when s.code_tries + 1 >= 5 then null else s.code_hash end,
        failures = case when s.failures + 1 >= 10 then 0 else s.failures + 1 end,
        locked_until = case when s.failures + 1 >= 10 then now() + interval '15 minutes'
                            else s.locked_until end,
        updated_at = now()
    where s.org_id = r.org_id and s.identifier_hash = r.identifier_hash;
    perform audit.record('portal.sign_in', 'patient', patient::text, 'failure',
                         jsonb_build_object('channel', via, 'reason', 'wrong_code'));
    if r.failures + 1 >= 10 then
      perform audit.record('portal.lock_out', 'patient', patient::text, 'denied',
                           jsonb_build_object('channel', via, 'minutes', 15));
    end if;
    return api.committed_failure('invalid_code',
      'The code is wrong, expired or already used. Request a new one.');
  end if;
  update app.portal_sign_in s
  set code_hash = null, code_expires_at = null, code_tries = 0, failures = 0,
      locked_until = null, updated_at = now()
  where s.org_id = r.org_id and s.identifier_hash = r.identifier_hash;
  insert into app.portal_refresh_tokens (org_id, patient_id, family_id, token_hash, expires_at)
  values (org, patient, gen_random_uuid(), decode(input ->> 'refreshHash', 'hex'), expires);
  if input ? 'inviteHash' then
    update app.patient_invites i set used_at = now()
    where i.token_hash = decode(input ->> 'inviteHash', 'hex') and i.patient_id = patient
      and i.used_at is null;
  end if;
  perform audit.record('portal.sign_in', 'patient', patient::text, 'success',
                       jsonb_build_object('channel', via));
  return jsonb_build_object('accountId', patient, 'patientId', patient, 'orgId', org,
                            'refreshExpiresAt', app.iso(expires),
                            'patients', app.portal_accounts(patient, org));
end
$$;
grant execute on function api.portal_verify_code(jsonb, jsonb) to wardline_authenticator;

-- POST /api/portal/auth/refresh. input: {host, refreshHash, newRefreshHash, sourceIp,
-- actingFor?}. Rotates the token; a rotated token presented again is a theft signal and revokes
-- its family. The new access token acts for the account, or for `actingFor` when the account
-- may act for that patient (a guardian's dependent; 403 not_a_guardian otherwise).
create or replace function api.portal_refresh(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  org uuid;
  t record;
  acting_for uuid;
  expires timestamptz := now() + interval '30 days';
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_anonymous());
  org := app.portal_enter(input - 'inviteHash');
  perform app.portal_count('refresh', input ->> 'sourceIp', 120);
  select * into t from app.portal_refresh_tokens x
  where x.token_hash = decode(input ->> 'refreshHash', 'hex') for update;
  if not found or t.revoked_at is not null or t.expires_at <= now() then
    perform api.fail('invalid_refresh_token', 'Sign in again.');
  end if;
  if t.rotated_at is not null then
    update app.portal_refresh_tokens x set revoked_at = now()
    where x.family_id = t.family_id and x.revoked_at is null;
    perform audit.record('portal.refresh_reuse', 'patient', t.patient_id::text, 'denied',
                         jsonb_build_object('family', t.family_id));
    return api.committed_failure('invalid_refresh_token', 'Sign in again.');
  end if;
  if not app.portal_patient_live(t.patient_id) then
    perform api.fail('invalid_refresh_token', 'Sign in again.');
  end if;
  acting_for := coalesce((input ->> 'actingFor')::uuid, t.patient_id);
  if not auth.may_act_for(t.patient_id, acting_for, org) then
    perform api.fail('not_a_guardian',
      'This account acts only for itself and the dependents it is an active guardian of.',
      'actingFor');
  end if;
  update app.portal_refresh_tokens x set rotated_at = now() where x.id = t.id;
  insert into app.portal_refresh_tokens (org_id, patient_id, family_id, token_hash, expires_at)
  values (org, t.patient_id, t.family_id, decode(input ->> 'newRefreshHash', 'hex'), expires);
  perform audit.record('portal.refresh', 'patient', t.patient_id::text, 'success',
                       jsonb_build_object('family', t.family_id, 'actingFor', acting_for));
  return jsonb_build_object('accountId', t.patient_id, 'patientId', acting_for, 'orgId', org,
                            'refreshExpiresAt', app.iso(expires),
                            'patients', app.portal_accounts(t.patient_id, org));
end
$$;
grant execute on function api.portal_refresh(jsonb, jsonb) to wardline_authenticator;

-- POST /api/portal/auth/logout. input: {host, refreshHash?}. Revokes the token's family; an
-- unknown or missing token is already signed out.
create or replace function api.portal_logout(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  t record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_anonymous());
  perform app.portal_enter(input - 'inviteHash');
  select * into t from app.portal_refresh_tokens x
  where x.token_hash = decode(input ->> 'refreshHash', 'hex');
  if found then
    update app.portal_refresh_tokens x set revoked_at = now()
    where x.family_id = t.family_id and x.revoked_at is null;
    perform audit.record('portal.sign_out', 'patient', t.patient_id::text, 'success',
                         jsonb_build_object('family', t.family_id));
  end if;
  return jsonb_build_object('signedOut', true);
end
$$;
grant execute on function api.portal_logout(jsonb, jsonb) to wardline_authenticator;

-- The patient's preferences with their defaults and whether their number is opted out of SMS.
create or replace function app.portal_preferences_json() returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'sms', coalesce(pref.sms, true), 'email', coalesce(pref.email, true),
    'portal', coalesce(pref.portal, true),
    'smsOptedOut', coalesce((select o.opted_out from app.sms_opt_outs o
                             where o.org_id = p.org_id and o.phone = p.phone), false),
    'updatedAt', app.iso(pref.updated_at))
  from app.patients p
  left join app.patient_preferences pref on pref.patient_id = p.id
  where p.id = (select auth.patient_id())
$$;

-- The latest decision per consent type.
create or replace function app.portal_consents_json() returns jsonb
language sql stable
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'type', c.consent_type, 'version', c.version, 'granted', c.granted,
           'recordedAt', app.iso(c.recorded_at)) order by c.consent_type), '[]'::jsonb)
  from (select distinct on (x.consent_type) x.* from app.portal_consents x
        where x.org_id = (select auth.org_id()) and x.patient_id = (select auth.patient_id())
        order by x.consent_type, x.id desc) c
$$;
grant execute on function app.portal_preferences_json(), app.portal_consents_json() to app_user;

-- GET /api/portal/me. input: {host}. accountId is who signed in: the patient themselves, or
-- the guardian acting for them.
create or replace function api.portal_me(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return (
    select jsonb_build_object(
      'accountId', auth.uid(),
      'patient', jsonb_strip_nulls(jsonb_build_object(
        'id', p.id, 'firstName', p.first_name, 'lastName', p.last_name, 'email', p.email,
        'phone', p.phone, 'dateOfBirth', p.date_of_birth)),
      'clinic', jsonb_build_object('id', c.id, 'name', c.name, 'slug', c.slug),
      'preferences', app.portal_preferences_json(),
      'consents', app.portal_consents_json())
    from app.patients p join app.clinics c on c.id = p.org_id
    where p.id = (select auth.patient_id()));
end
$$;
grant execute on function api.portal_me(jsonb, jsonb) to wardline_authenticator;

-- GET /api/portal/appointments. input: {host, when: 'upcoming' | 'past', limit, after}. The
-- signed-in patient's booked sessions as RLS shows them (their own, never notes; holds that are
-- waitlist offers are in GET /api/portal/waitlist):
-- upcoming (not yet ended) soonest first, or past latest first, a page at a time. nextCursor
-- is the id of the page's last session, so no time or name ends up in a URL.
create or replace function api.portal_appointments(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  upcoming boolean := input ->> 'when' = 'upcoming';
  page_size integer := (input ->> 'limit')::integer;
  after uuid := (input ->> 'after')::uuid;
  after_start timestamptz;
  result jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  if after is not null then
    select s.starts_at into after_start from app.sessions s where s.id = after;
    if not found then
      perform api.fail('invalid_input', 'Pass back the nextCursor of a page.', 'cursor');
    end if;
  end if;
  with page as (
    select row_number() over (order by
             case when upcoming then s.starts_at end, case when upcoming then s.id end,
             s.starts_at desc, s.id desc) as n,
           app.portal_appointment_json(s, c, sv, k.late_cancel_hours) as item
    from app.sessions s
    join app.clinics k on k.id = s.org_id
    left join app.clinicians c on c.id = s.clinician_id
    left join app.services sv on sv.id = s.service_id
    where s.status in ('scheduled', 'completed', 'no_show', 'cancelled')
      and (s.ends_at > now()) = upcoming
      and (after is null
           or (upcoming and (s.starts_at, s.id) > (after_start, after))
           or (not upcoming and (s.starts_at, s.id) < (after_start, after)))
    order by 1
    limit page_size + 1
  )
  select jsonb_build_object(
           'items', coalesce(jsonb_agg(p.item order by p.n) filter (where p.n <= page_size),
                             '[]'::jsonb),
           'nextCursor', case when count(*) > page_size
                              then (array_agg(p.item -> 'id' order by p.n))[page_size] end)
  into result
  from page p;
  return result;
end
$$;
grant execute on function api.portal_appointments(jsonb, jsonb) to wardline_authenticator;

-- PUT /api/portal/consent. input: {host, type, version, granted, sourceIp, userAgent}. A
-- grant completes the patient's open consent tasks it answers (85_intake.sql), in the same
-- statement: `completedTaskIds`.
create or replace function api.portal_record_consent(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  recorded record;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  insert into app.portal_consents (org_id, patient_id, consent_type, version, granted,
                                   source_ip, user_agent)
  values ((select auth.org_id()), (select auth.patient_id()), input ->> 'type',
          input ->> 'version', (input ->> 'granted')::boolean, input ->> 'sourceIp',
          input ->> 'userAgent')
  returning * into recorded;
  perform audit.record('portal.consent', 'patient', (select auth.patient_id())::text, 'success',
    jsonb_build_object('type', recorded.consent_type, 'version', recorded.version,
                       'granted', recorded.granted));
  return jsonb_build_object(
    'consent', jsonb_build_object('type', recorded.consent_type, 'version', recorded.version,
                                  'granted', recorded.granted,
                                  'recordedAt', app.iso(recorded.recorded_at)),
    'consents', app.portal_consents_json(),
    'completedTaskIds', case when recorded.granted then app.complete_consent_tasks(recorded.id)
                             else '[]'::jsonb end);
end
$$;
grant execute on function api.portal_record_consent(jsonb, jsonb) to wardline_authenticator;

-- GET /api/portal/preferences. input: {host}.
create or replace function api.portal_preferences(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.portal_preferences_json();
end
$$;
grant execute on function api.portal_preferences(jsonb, jsonb) to wardline_authenticator;

-- PUT /api/portal/preferences. input: {host, sms, email, portal}. Audited with what changed.
create or replace function api.portal_update_preferences(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  before jsonb;
  changed jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  before := app.portal_preferences_json();
  insert into app.patient_preferences as p (patient_id, org_id, sms, email, portal)
  values ((select auth.patient_id()), (select auth.org_id()), (input ->> 'sms')::boolean,
          (input ->> 'email')::boolean, (input ->> 'portal')::boolean)
  on conflict (patient_id) do update
    set sms = excluded.sms, email = excluded.email, portal = excluded.portal,
        updated_at = now()
    where (p.sms, p.email, p.portal) is distinct from (excluded.sms, excluded.email, excluded.portal);
  select coalesce(jsonb_object_agg(k, input -> k), '{}') into changed
  from unnest(array['sms', 'email', 'portal']) k
  where before -> k is distinct from input -> k;
  if changed <> '{}' then
    perform audit.record('portal.preferences.update', 'patient',
                         (select auth.patient_id())::text, 'success',
                         jsonb_build_object('changed', changed));
  end if;
  return app.portal_preferences_json();
end
$$;
grant execute on function api.portal_update_preferences(jsonb, jsonb) to wardline_authenticator;

-- POST /api/webhooks/twilio, after Rust verified the signature. input: {messageSid, from, to,
-- keyword: 'stop' | 'start' | 'help' | null}. Each MessageSid is applied once; a repeat gets the
-- same reply and changes nothing. Answers {reply: text | null}.
create or replace function api.twilio_inbound(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  org uuid;
  word text := input ->> 'keyword';
  first_time boolean;
  help text;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_anonymous());
  org := app.clinic_by_sms_number(input ->> 'to');
  if org is null then
    return jsonb_build_object('reply', null, 'known', false);
  end if;
  perform auth.enter_clinic(org);
  insert into app.inbound_sms (message_sid, org_id, keyword)
  values (input ->> 'messageSid', org, word)
  on conflict (message_sid) do nothing;
  first_time := found;
  if first_time and word in ('stop', 'start') then
    insert into app.sms_opt_outs as o (org_id, phone, opted_out, message_sid)
    values (org, input ->> 'from', word = 'stop', input ->> 'messageSid')
    on conflict (org_id, phone) do update
      set opted_out = excluded.opted_out, changed_at = now(), message_sid = excluded.message_sid;
    perform audit.record(case word when 'stop' then 'sms.opt_out' else 'sms.opt_in' end,
                         'inbound_sms', input ->> 'messageSid', 'success', '{}'::jsonb);
  end if;
  if word = 'help' then
    select coalesce(c.sms_help_reply,
                    c.name || ': reply STOP to stop texts, START to get them again.')
    into help from app.clinics c where c.id = org;
  end if;
  return jsonb_build_object('reply', help, 'known', true, 'duplicate', not first_time);
end
$$;
grant execute on function api.twilio_inbound(jsonb, jsonb) to wardline_authenticator;


-- message-sender: claims up to batchSize due messages for leaseSeconds (attempts counted at
-- claim). Messages to a number opted out of SMS, and e-mails to an address the clinic
-- suppressed (any reason for every kind; an unsubscribe for kinds that are not transactional,
-- 75_delivery.sql), fail here, unsent. Answers {messages: [...]}, each with what the templates
-- may use of its clinic (its zone for a notice's date and time) and whether it is an e-mail
-- that carries a one-click unsubscribe.
create or replace function api.outbox_claim(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  claimed jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  with due as (
    select o.id from app.outbox o
    where o.status = 'pending' and o.next_attempt_at <= now()
      and (o.leased_until is null or o.leased_until < now())
    order by o.next_attempt_at
    limit (input ->> 'batchSize')::integer
    for update skip locked
  ), refused as (
    update app.outbox o
    set status = 'failed', leased_until = null,
        last_error = case o.channel when 'sms' then 'opted_out' else 'suppressed' end,
        payload = o.payload - 'sealedCode' - 'sealedToken'
    from due
    where o.id = due.id
      and (o.channel = 'sms' and exists (
             select 1 from app.sms_opt_outs x
             where x.org_id = o.org_id and x.phone = o.recipient and x.opted_out)
           or o.channel = 'email' and exists (
             select 1 from app.email_suppressions x
             where x.org_id = o.org_id and x.email = o.recipient
               and (x.reason <> 'unsubscribe' or not app.is_transactional(o.kind))))
    returning o.id
  ), leased as (
    update app.outbox o
    set attempts = o.attempts + 1,
        leased_until = now() + make_interval(secs => (input ->> 'leaseSeconds')::integer)
    from due
    where o.id = due.id and o.id not in (select id from refused)
    returning o.*
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', l.id, 'orgId', l.org_id, 'kind', l.kind, 'channel', l.channel,
           'recipient', l.recipient, 'payload', l.payload, 'attempts', l.attempts,
           'unsubscribable', l.channel = 'email' and not app.is_transactional(l.kind),
           'clinic', jsonb_build_object('name', c.name, 'slug', c.slug,
                                        'portalDomain', c.portal_domain,
                                        'smsNumber', c.sms_number,
                                        'timeZone', c.time_zone))
           order by l.next_attempt_at), '[]'::jsonb)
  into claimed
  from leased l join app.clinics c on c.id = l.org_id;
  return jsonb_build_object('messages', claimed);
end
$$;
grant execute on function api.outbox_claim(jsonb, jsonb) to wardline_authenticator;

-- What a delivery attempt leaves a message as: sent, pending (retry) or failed.
create or replace function app.outbox_status_after(outcome text, attempts integer, max_attempts integer)
returns text
language sql immutable
as $$
  select case when outcome = 'sent' then 'sent'
              when outcome = 'retry' and attempts < max_attempts then 'pending'
              else 'failed' end
$$;
grant execute on function app.outbox_status_after(text, integer, integer) to app_service;

-- message-sender: what became of each claimed message. input: {results: [{id, outcome:
-- 'sent' | 'retry' | 'failed', error?, providerMessageId?}], maxAttempts}. A retry waits 30 s,
-- doubling per attempt; after maxAttempts it is failed. Sent and failed messages drop their
-- sealed secret. A sent message keeps the provider's id of it, which its delivery events name.
create or replace function api.outbox_settle(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  max_attempts integer := (input ->> 'maxAttempts')::integer;
  settled jsonb;
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_service());
  with results as (
    select (e ->> 'id')::uuid as id, e ->> 'outcome' as outcome, left(e ->> 'error', 500) as error,
           e ->> 'providerMessageId' as provider_message_id
    from jsonb_array_elements(input -> 'results') e
  ), changed as (
    update app.outbox o
    set status = app.outbox_status_after(r.outcome, o.attempts, max_attempts),
        sent_at = case when r.outcome = 'sent' then now() end,
        provider_message_id = coalesce(r.provider_message_id, o.provider_message_id),
        last_error = r.error,
        leased_until = null,
        next_attempt_at = case
          when app.outbox_status_after(r.outcome, o.attempts, max_attempts) = 'pending'
          then now() + interval '30 seconds' * power(2, greatest(o.attempts - 1, 0))
          else o.next_attempt_at end,
        payload = case
          when app.outbox_status_after(r.outcome, o.attempts, max_attempts) = 'pending'
          then o.payload else o.payload - 'sealedCode' - 'sealedToken' end
    from results r
    where o.id = r.id and o.status = 'pending'
    returning o.id, o.status
  )
  select coalesce(jsonb_object_agg(c.id, c.status), '{}'::jsonb) into settled from changed c;
  return jsonb_build_object('settled', settled);
end
$$;
grant execute on function api.outbox_settle(jsonb, jsonb) to wardline_authenticator;
