-- Referrals (issue 20, migration 0024, db/policies/referrals.sql): links a patient shares,
-- attribution at invite, the admins' report. A link carries only a random code; the portal
-- URL is built in Rust from the clinic's host.

-- The active link with `code` in the caller's clinic: (id, patient_id), or nothing.
-- SECURITY DEFINER (as wardline_auth): the inviting staff member reads no link and no referrer.
create or replace function app.referral_link_by_code(code text)
returns table (link_id uuid, referrer_id uuid)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select l.id, l.patient_id from app.referral_links l
    where l.code = referral_link_by_code.code and l.org_id = auth.org_id()
      and l.revoked_at is null;
end
$$;
grant execute on function app.referral_link_by_code(text) to app_user;

-- How many patients joined through the caller's own link `link`. SECURITY DEFINER (as
-- wardline_auth): the referrer reads no attribution, so never who joined.
create or replace function app.referred_count(link uuid) returns bigint
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select count(*) from app.referral_attributions a
          where a.link_id = link and a.referrer_id = auth.patient_id()
            and a.org_id = auth.org_id());
end
$$;
grant execute on function app.referred_count(uuid) to app_user;

-- Attributes the patient `referred`, created in this request by the invite, to the active link
-- with `code` (400 naming referralCode when there is none in this clinic). Audited.
create or replace function app.attribute_referral(referred uuid, code text) returns void
language plpgsql
as $$
declare
  link record;
begin
  select * into link from app.referral_link_by_code(code);
  if not found then
    perform api.fail('invalid_referral_code',
      'No active referral link of this clinic has this code.', 'referralCode');
  end if;
  insert into app.referral_attributions (referred_id, org_id, link_id, referrer_id, created_by)
  values (referred, auth.org_id(), link.link_id, link.referrer_id, auth.uid());
  perform audit.record('referral.attribute', 'patient', referred::text, 'success',
                       jsonb_build_object('linkId', link.link_id));
end
$$;
grant execute on function app.attribute_referral(uuid, text) to app_user;

-- A link as its patient reads it; its URL is `base` (the portal's join page, from the
-- function) followed by the code.
create or replace function app.referral_link_json(l app.referral_links, base text) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', l.id, 'code', l.code, 'url', base || l.code, 'active', l.revoked_at is null,
    'referred', app.referred_count(l.id),
    'createdAt', app.iso(l.created_at), 'revokedAt', app.iso(l.revoked_at)))
$$;
grant execute on function app.referral_link_json(app.referral_links, text) to app_user;

-- A new link of the caller with code `code` (made in Rust): at most 5 active (409
-- too_many_referral_links). Audited.
create or replace function app.create_referral_link(code text, base text) returns jsonb
language plpgsql
as $$
declare
  created app.referral_links;
begin
  if (select count(*) from app.referral_links l
      where l.org_id = auth.org_id() and l.patient_id = auth.patient_id()
        and l.revoked_at is null) >= 5 then
    perform api.fail('too_many_referral_links',
      'You have 5 active referral links; revoke one first.');
  end if;
  insert into app.referral_links (org_id, patient_id, code)
  values (auth.org_id(), auth.patient_id(), code)
  returning * into created;
  perform audit.record('referral.link_create', 'referral_link', created.id::text);
  return app.referral_link_json(created, base);
end
$$;
grant execute on function app.create_referral_link(text, text) to app_user;

-- Revokes the caller's link `link` (404 unless theirs); revoking again changes nothing.
create or replace function app.revoke_referral_link(link uuid, base text) returns jsonb
language plpgsql
as $$
declare
  revoked app.referral_links;
begin
  select * into revoked from app.referral_links l where l.id = link for update;
  if not found then
    perform api.fail('referral_link_not_found', 'You have no referral link with this id.',
                     'id');
  end if;
  if revoked.revoked_at is null then
    update app.referral_links l set revoked_at = now() where l.id = link
    returning * into revoked;
    perform audit.record('referral.link_revoke', 'referral_link', link::text);
  end if;
  return app.referral_link_json(revoked, base);
end
$$;
grant execute on function app.revoke_referral_link(uuid, text) to app_user;

-- POST /api/portal/referrals. input: {host, code, linkBase}.
create or replace function api.portal_create_referral_link(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.create_referral_link(input ->> 'code', input ->> 'linkBase');
end
$$;

-- GET /api/portal/referrals. input: {host, linkBase}: the patient's 20 newest links.
create or replace function api.portal_referrals(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return jsonb_build_object('links', coalesce((
    select jsonb_agg(app.referral_link_json(l, input ->> 'linkBase')
                     order by l.created_at desc, l.id)
    from app.referral_links l
    where l.id in (select x.id from app.referral_links x
                   where x.org_id = (select auth.org_id())
                     and x.patient_id = (select auth.patient_id())
                   order by x.created_at desc, x.id limit 20)), '[]'));
end
$$;

-- DELETE /api/portal/referrals/{id}. input: {host, linkId, linkBase}.
create or replace function api.portal_revoke_referral_link(claims jsonb, input jsonb)
returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_patient());
  perform app.portal_require_host(input -> 'host');
  return app.revoke_referral_link((input ->> 'linkId')::uuid, input ->> 'linkBase');
end
$$;

-- GET /referrals/report?from&to (admins): patients who joined through a referral in the
-- window, per referrer, most first.
create or replace function api.referral_report(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return (
    with joined as (
      select a.referrer_id, count(*) as n, max(a.created_at) as last_at
      from app.referral_attributions a
      where a.org_id = (select auth.org_id())
        and a.created_at >= (input ->> 'from')::timestamptz
        and a.created_at < (input ->> 'to')::timestamptz
      group by a.referrer_id
    )
    select jsonb_build_object(
      'from', app.iso((input ->> 'from')::timestamptz),
      'to', app.iso((input ->> 'to')::timestamptz),
      'referred', coalesce((select sum(j.n) from joined j), 0),
      'byReferrer', coalesce((
        select jsonb_agg(jsonb_build_object(
                 'patient', jsonb_build_object('id', j.referrer_id, 'firstName', p.first_name,
                                               'lastName', p.last_name),
                 'referred', j.n, 'lastReferredAt', app.iso(j.last_at))
                 order by j.n desc, p.last_name, p.first_name, j.referrer_id)
        from joined j left join app.patients p on p.id = j.referrer_id), '[]')));
end
$$;

grant execute on function api.portal_create_referral_link(jsonb, jsonb),
  api.portal_referrals(jsonb, jsonb), api.portal_revoke_referral_link(jsonb, jsonb),
  api.referral_report(jsonb, jsonb)
  to wardline_authenticator;
