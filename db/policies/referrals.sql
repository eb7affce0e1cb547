-- Referrals: a patient creates, reads and revokes their own links; staff attribute the patients
-- they invite (the code is looked up by app.referral_link_by_code, as wardline_auth, so staff
-- read no link and learn no referrer); admins read their clinic's links and attributions (the
-- report). A referrer counts their attributions through app.referred_count; they read none.

alter table app.referral_links enable row level security;
alter table app.referral_links force row level security;

create policy "patients read their own referral links" on app.referral_links
  for select to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id()));

create policy "patients create their own referral links" on app.referral_links
  for insert to app_user
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and (select auth.is_patient()) and revoked_at is null);

create policy "patients revoke their own referral links" on app.referral_links
  for update to app_user
  using (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
         and (select auth.is_patient()))
  with check (org_id = (select auth.org_id()) and patient_id = (select auth.patient_id())
              and revoked_at is not null);

create policy "admins read their clinic's referral links" on app.referral_links
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "definer helpers read every referral link" on app.referral_links
  for select to wardline_auth
  using (true);

alter table app.referral_attributions enable row level security;
alter table app.referral_attributions force row level security;

create policy "staff attribute the patients they invite" on app.referral_attributions
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_staff())
              and created_by = (select auth.uid())
              and app.created_in_this_request(referred_id));

create policy "admins read their clinic's referral attributions" on app.referral_attributions
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.app_role()) = 'admin');

create policy "definer helpers read every referral attribution" on app.referral_attributions
  for select to wardline_auth
  using (true);
