-- Prescribers across clinics (issue 6). Queue items are read and acted on only in
-- cross-clinic requests, through auth.my_org_ids() (empty in any other request), and only by
-- a caller with an active prescriber profile. Prescriber profiles and assignments are read
-- by their owner and by super admins; only super admins write assignments.

alter table app.providers enable row level security;
alter table app.providers force row level security;

create policy "clinicians read their own prescriber profile" on app.providers
  for select to app_user
  using (clinician_id = (select auth.uid()) and (select auth.is_staff()));

create policy "super admins read every prescriber profile" on app.providers
  for select to app_user
  using ((select auth.is_super_admin()));

create policy "definer helpers read every prescriber profile" on app.providers
  for select to wardline_auth
  using (true);

alter table app.provider_clinics enable row level security;
alter table app.provider_clinics force row level security;

create policy "prescribers read their own assignments" on app.provider_clinics
  for select to app_user
  using (provider_id in (select v.id from app.providers v
                         where v.clinician_id = (select auth.uid())));

create policy "super admins read every assignment" on app.provider_clinics
  for select to app_user
  using ((select auth.is_super_admin()));

create policy "super admins create assignments" on app.provider_clinics
  for insert to app_user
  with check ((select auth.is_super_admin()) and updated_by = (select auth.uid()));

create policy "super admins change assignments" on app.provider_clinics
  for update to app_user
  using ((select auth.is_super_admin()))
  with check ((select auth.is_super_admin()) and updated_by = (select auth.uid()));

create policy "definer helpers read every assignment" on app.provider_clinics
  for select to wardline_auth
  using (true);

alter table app.invoices enable row level security;
alter table app.invoices force row level security;

create policy "prescribers read invoices of the clinics they work for" on app.invoices
  for select to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and (select auth.my_provider_id()) is not null);

create policy "prescribers process invoices of the clinics they work for" on app.invoices
  for update to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and (select auth.my_provider_id()) is not null)
  with check (org_id = any ((select auth.my_org_ids())::uuid[])
              and processed_by = (select auth.my_provider_id()));

create policy "definer helpers read every invoice" on app.invoices
  for select to wardline_auth
  using (true);

alter table app.refills enable row level security;
alter table app.refills force row level security;

create policy "prescribers read refills of the clinics they work for" on app.refills
  for select to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and (select auth.my_provider_id()) is not null);

alter table app.orders enable row level security;
alter table app.orders force row level security;

create policy "prescribers read orders of the clinics they work for" on app.orders
  for select to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and (select auth.my_provider_id()) is not null);

-- Only queued orders: a sent one is history. Marking one sent needs, at that moment, an
-- active assignment with DEA number and licence at the order's clinic (api.order_to_send
-- checks the same before the pharmacy call; this holds even if it was revoked meanwhile).
create policy "prescribers approve orders of the clinics they work for" on app.orders
  for update to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and status = 'queued_for_provider' and (select auth.my_provider_id()) is not null)
  with check (org_id = any ((select auth.my_org_ids())::uuid[])
              and (approved_by is null or approved_by = (select auth.my_provider_id()))
              and (status <> 'sent' or exists (
                select 1 from app.provider_clinics a
                where a.provider_id = (select auth.my_provider_id()) and a.org_id = orders.org_id
                  and a.active and a.dea_number is not null and a.license_number is not null
                  and a.license_state is not null)));

create policy "definer helpers read every order" on app.orders
  for select to wardline_auth
  using (true);
