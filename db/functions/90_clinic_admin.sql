-- Clinic administration (issue 21): the clinic's settings and its services catalogue, for its
-- admins (migration 0027; rows by db/policies/clinics.sql and scheduling.sql, columns by
-- grants). Values are checked in Rust to name the field; the tables' checks stay the rule.

-- The clinic's settings as its admins read them.
create or replace function app.clinic_settings_json(c app.clinics) returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'id', c.id, 'name', c.name, 'slug', c.slug, 'portalDomain', c.portal_domain,
    'timeZone', c.time_zone, 'smsNumber', c.sms_number, 'smsHelpReply', c.sms_help_reply,
    'letterhead', c.letterhead, 'pharmacyEnabled', c.pharmacy_enabled,
    'pharmacySecretRef', c.pharmacy_secret_ref, 'lateCancelHours', c.late_cancel_hours,
    'waitlistOfferMinutes', c.waitlist_offer_minutes, 'reminderHours', to_jsonb(c.reminder_hours),
    'messageNoticeQuietMinutes', c.message_notice_quiet_minutes,
    'notesCosignRequired', c.notes_cosign_required,
    'bufferMinutes', c.buffer_minutes, 'minimumNoticeMinutes', c.min_notice_minutes,
    'slotStepMinutes', c.slot_step_minutes)
$$;
grant execute on function app.clinic_settings_json(app.clinics) to app_user;

-- The input field a unique or check constraint of app.clinics or app.services guards.
create or replace function app.setting_field(constraint_name text) returns text
language sql immutable
as $$
  select case constraint_name
    when 'clinics_slug_key' then 'slug'
    when 'clinics_slug_check' then 'slug'
    when 'clinics_portal_domain_key' then 'portalDomain'
    when 'clinics_portal_domain_check' then 'portalDomain'
    when 'clinics_sms_number_key' then 'smsNumber'
    when 'clinics_time_zone_check' then 'timeZone'
    when 'services_cpt_code_check' then 'cptCode'
    when 'services_name_check' then 'name'
    when 'services_duration_minutes_check' then 'durationMinutes'
    else 'body' end
$$;
grant execute on function app.setting_field(text) to app_user;

-- Sets the settings named in `s` (nullable ones cleared by null) on the caller's clinic;
-- audited with the names of the fields, not their values.
create or replace function app.update_clinic_settings(s jsonb) returns jsonb
language plpgsql
as $$
declare
  updated app.clinics;
  guard text;
begin
  begin
    update app.clinics c set
      name = case when s ? 'name' then s ->> 'name' else c.name end,
      slug = case when s ? 'slug' then s ->> 'slug' else c.slug end,
      portal_domain = case when s ? 'portalDomain' then s ->> 'portalDomain'
                           else c.portal_domain end,
      time_zone = case when s ? 'timeZone' then s ->> 'timeZone' else c.time_zone end,
      sms_number = case when s ? 'smsNumber' then s ->> 'smsNumber' else c.sms_number end,
      sms_help_reply = case when s ? 'smsHelpReply' then s ->> 'smsHelpReply'
                            else c.sms_help_reply end,
      letterhead = case when s ? 'letterhead' then s -> 'letterhead' else c.letterhead end,
      pharmacy_enabled = case when s ? 'pharmacyEnabled' then (s ->> 'pharmacyEnabled')::boolean
                              else c.pharmacy_enabled end,
      pharmacy_secret_ref = case when s ? 'pharmacySecretRef' then s ->> 'pharmacySecretRef'
                                 else c.pharmacy_secret_ref end,
      late_cancel_hours = case when s ? 'lateCancelHours'
                               then (s ->> 'lateCancelHours')::integer
                               else c.late_cancel_hours end,
      waitlist_offer_minutes = case when s ? 'waitlistOfferMinutes'
                                    then (s ->> 'waitlistOfferMinutes')::integer
                                    else c.waitlist_offer_minutes end,
      reminder_hours = case when s ? 'reminderHours'
                            then array(select h::integer
                                       from jsonb_array_elements_text(s -> 'reminderHours') h)
                            else c.reminder_hours end,
      message_notice_quiet_minutes = case when s ? 'messageNoticeQuietMinutes'
                                          then (s ->> 'messageNoticeQuietMinutes')::integer
                                          else c.message_notice_quiet_minutes end,
      notes_cosign_required = case when s ? 'notesCosignRequired'
                                   then (s ->> 'notesCosignRequired')::boolean
                                   else c.notes_cosign_required end
    where c.id = auth.org_id()
    returning * into updated;
  exception
    when unique_violation then
      get stacked diagnostics guard = constraint_name;
      perform api.fail('already_in_use', 'Another clinic already uses this value.',
                       app.setting_field(guard));
    when check_violation then
      get stacked diagnostics guard = constraint_name;
      perform api.fail('invalid_input', 'The clinic cannot take this value.',
                       app.setting_field(guard));
  end;
  if updated.id is null then
    perform api.fail('forbidden', 'Only the clinic''s admins change its settings.');
  end if;
  perform audit.record('clinic.settings.update', 'clinic', updated.id::text, 'success',
                       jsonb_build_object('fields', (select jsonb_agg(k order by k)
                                                     from jsonb_object_keys(s) k)));
  return app.clinic_settings_json(updated);
end
$$;
grant execute on function app.update_clinic_settings(jsonb) to app_user;

-- GET /api/admin/clinic. input: {}.
create or replace function api.clinic_settings(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return (select app.clinic_settings_json(c) from app.clinics c where c.id = auth.org_id());
end
$$;

-- PATCH /api/admin/clinic. input: {settings}.
create or replace function api.update_clinic_settings(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.update_clinic_settings(input -> 'settings');
end
$$;

-- A service as admins read it.
create or replace function app.service_json(v app.services) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', v.id, 'name', v.name, 'cptCode', v.cpt_code, 'durationMinutes', v.duration_minutes,
    'active', v.active, 'createdAt', app.iso(v.created_at), 'updatedAt', app.iso(v.updated_at)))
$$;
grant execute on function app.service_json(app.services) to app_user;

-- Adds or changes a service of the caller's clinic: `service` null adds one. A name another
-- active service of the clinic has, whatever its case, is a 409 naming it: a check, not a
-- constraint, since clinics already hold services of one name (a name is no key). Audited.
create or replace function app.save_service(service uuid, s jsonb) returns jsonb
language plpgsql
as $$
declare
  saved app.services;
  guard text;
begin
  if coalesce((s ->> 'active')::boolean,
              (select x.active from app.services x where x.id = service), true) and exists (
       select 1 from app.services v
       where v.org_id = auth.org_id() and v.active and v.id is distinct from service
         and lower(v.name) = lower(coalesce(s ->> 'name',
                                            (select x.name from app.services x
                                             where x.id = service)))) then
    perform api.fail('already_in_use', 'An active service of the clinic has this name.',
                     'name');
  end if;
  begin
    if service is null then
      insert into app.services (org_id, name, cpt_code, duration_minutes)
      values (auth.org_id(), s ->> 'name', s ->> 'cptCode', (s ->> 'durationMinutes')::integer)
      returning * into saved;
    else
      update app.services v set
        name = coalesce(s ->> 'name', v.name),
        cpt_code = coalesce(s ->> 'cptCode', v.cpt_code),
        duration_minutes = coalesce((s ->> 'durationMinutes')::integer, v.duration_minutes),
        active = coalesce((s ->> 'active')::boolean, v.active),
        updated_at = now()
      where v.id = service
      returning * into saved;
      if not found then
        perform api.fail('service_not_found', 'No service of your clinic has this id.', 'id');
      end if;
    end if;
  exception when check_violation then
    get stacked diagnostics guard = constraint_name;
    perform api.fail('invalid_input', 'The service cannot take this value.',
                     app.setting_field(guard));
  end;
  perform audit.record(case when service is null then 'service.create' else 'service.update' end,
                       'service', saved.id::text, 'success',
                       jsonb_build_object('fields', (select jsonb_agg(k order by k)
                                                     from jsonb_object_keys(s) k)));
  return app.service_json(saved);
end
$$;
grant execute on function app.save_service(uuid, jsonb) to app_user;

-- GET /api/admin/services. input: {}.
create or replace function api.services(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return jsonb_build_object('services', coalesce((
    select jsonb_agg(app.service_json(v) order by not v.active, lower(v.name), v.id)
    from app.services v where v.org_id = auth.org_id()), '[]'));
end
$$;

-- POST /api/admin/services. input: {name, cptCode, durationMinutes}.
create or replace function api.create_service(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.save_service(null, input);
end
$$;

-- PATCH /api/admin/services/{id}. input: {serviceId, name?, cptCode?, durationMinutes?,
-- active?}.
create or replace function api.update_service(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_admin());
  return app.save_service((input ->> 'serviceId')::uuid, input - 'serviceId');
end
$$;

grant execute on function api.clinic_settings(jsonb, jsonb),
  api.update_clinic_settings(jsonb, jsonb), api.services(jsonb, jsonb),
  api.create_service(jsonb, jsonb), api.update_service(jsonb, jsonb)
  to wardline_authenticator;
