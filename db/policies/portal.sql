-- The patient portal. Pre-login calls (app_anon) see only rows of the clinic the request
-- resolved and entered (auth.enter_clinic), and only the sign-in tables; a signed-in patient
-- sees their own consents, preferences and opt-out; the clinic's admins read them; the sender
-- (app_service) reads opt-outs and the clinics it delivers for.

alter table app.portal_sign_in enable row level security;
alter table app.portal_sign_in force row level security;

create policy "the portal keeps sign-in state of the clinic it serves" on app.portal_sign_in
  for all to app_anon
  using (org_id = (select auth.org_id()))
  with check (org_id = (select auth.org_id()));

alter table app.portal_rate enable row level security;
alter table app.portal_rate force row level security;

create policy "the portal counts requests to the clinic it serves" on app.portal_rate
  for all to app_anon
  using (org_id = (select auth.org_id()))
  with check (org_id = (select auth.org_id()));

alter table app.portal_refresh_tokens enable row level security;
alter table app.portal_refresh_tokens force row level security;

create policy "the portal keeps sessions of the clinic it serves" on app.portal_refresh_tokens
  for all to app_anon
  using (org_id = (select auth.org_id()))
  with check (org_id = (select auth.org_id()));

alter table app.portal_consents enable row level security;
alter table app.portal_consents force row level security;

create policy "patients record their own consent" on app.portal_consents
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients read their own consents" on app.portal_consents
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "admins read their clinic's consents" on app.portal_consents
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

alter table app.patient_preferences enable row level security;
alter table app.patient_preferences force row level security;

create policy "patients keep their own preferences" on app.patient_preferences
  for all to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()))
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "admins read their clinic's preferences" on app.patient_preferences
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

alter table app.sms_opt_outs enable row level security;
alter table app.sms_opt_outs force row level security;

create policy "the portal keeps opt-outs of the clinic it serves" on app.sms_opt_outs
  for all to app_anon
  using (org_id = (select auth.org_id()))
  with check (org_id = (select auth.org_id()));

create policy "patients read the opt-out of their own number" on app.sms_opt_outs
  for select to app_user
  using (org_id = (select auth.org_id())
         and phone = (select p.phone from app.patients p where p.id = (select auth.patient_id())));

create policy "staff read their clinic's opt-outs" on app.sms_opt_outs
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "the sender reads every opt-out" on app.sms_opt_outs
  for select to app_service
  using (true);

alter table app.inbound_sms enable row level security;
alter table app.inbound_sms force row level security;

create policy "the webhook records texts to the clinic it serves" on app.inbound_sms
  for all to app_anon
  using (org_id = (select auth.org_id()))
  with check (org_id = (select auth.org_id()));

-- The portal reads the clinic it serves; the sender every clinic it delivers for.
create policy "the portal reads the clinic it serves" on app.clinics
  for select to app_anon
  using (id = (select auth.org_id()));

create policy "the sender reads every clinic" on app.clinics
  for select to app_service
  using (true);

-- Signing in with an invite uses it up.
create policy "the portal reads invites of the clinic it serves" on app.patient_invites
  for select to app_anon
  using (org_id = (select auth.org_id()));

create policy "the portal uses up invites of the clinic it serves" on app.patient_invites
  for update to app_anon
  using (org_id = (select auth.org_id()) and used_at is null)
  with check (org_id = (select auth.org_id()));

create policy "definer helpers read every invite" on app.patient_invites
  for select to wardline_auth
  using (true);

-- Pre-login requests queue sign-in codes only.
create policy "the portal queues sign-in codes of the clinic it serves" on app.outbox
  for insert to app_anon
  with check (org_id = (select auth.org_id()) and kind = 'portal_otp' and created_by is null
              and status = 'pending');
