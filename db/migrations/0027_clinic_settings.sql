-- Clinic administration (issue 21): the settings a clinic's admins change and the services
-- catalogue (name, CPT code, duration). Which rows: RLS (db/policies/clinics.sql,
-- scheduling.sql); which columns: these grants.

alter table app.services
  add column duration_minutes integer check (duration_minutes between 5 and 480),
  add column updated_at timestamptz not null default now();

grant insert (org_id, name, cpt_code, duration_minutes),
  update (name, cpt_code, duration_minutes, active, updated_at) on app.services to app_user;
grant update (name, slug, portal_domain, time_zone, sms_number, sms_help_reply, letterhead,
              pharmacy_enabled, pharmacy_secret_ref, late_cancel_hours, waitlist_offer_minutes,
              reminder_hours, message_notice_quiet_minutes)
  on app.clinics to app_user;
