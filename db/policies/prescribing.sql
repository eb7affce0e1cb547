-- Prescribers across clinics (issue 6). Queue items are read and acted on by prescribers only
-- in cross-clinic requests, through auth.my_org_ids() (empty in any other request), and only
-- by a caller with an active prescriber profile; an order an admin assigned to one prescriber
-- is that prescriber's alone. Admins read their clinic's items in clinic-scoped requests,
-- queue orders and approve refills there; a super admin reads every clinic's only in an
-- all-clinics request (auth.all_clinics(), the admins' queue without a clinic). Prescriber
-- profiles and assignments are read by their owner, by the staff of a clinic they work in and
-- by super admins; super admins write assignments anywhere, admins in their own clinic
-- (issue 21).

alter table app.providers enable row level security;
alter table app.providers force row level security;

create policy "clinicians read their own prescriber profile" on app.providers
  for select to app_user
  using (clinician_id = (select auth.uid()) and (select auth.is_staff()));

create policy "super admins read every prescriber profile" on app.providers
  for select to app_user
  using ((select auth.is_super_admin()));

-- The profiles of the current clinic's members: what the clinic's provider list and an
-- admin adding a prescriber see. (Not by assignment: the assignments' own policy reads
-- profiles, and a policy may not read its table back.)
create policy "staff read the prescriber profiles of their current clinic's members"
  on app.providers
  for select to app_user
  using ((select auth.is_staff())
         and clinician_id in (select m.clinician_id from app.clinic_memberships m
                              where m.org_id = (select auth.org_id())));

create policy "admins create prescriber profiles for members of their current clinic"
  on app.providers
  for insert to app_user
  with check ((select auth.is_admin())
              and clinician_id in (select m.clinician_id from app.clinic_memberships m
                                   where m.org_id = (select auth.org_id())));

create policy "super admins give a prescriber profile its user" on app.providers
  for update to app_user
  using ((select auth.is_super_admin()) and clinician_id is null)
  with check ((select auth.is_super_admin()) and clinician_id is not null);

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

create policy "staff read their current clinic's assignments" on app.provider_clinics
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_staff()));

create policy "admins assign prescribers to their current clinic" on app.provider_clinics
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and updated_by = (select auth.uid()));

create policy "admins change their current clinic's assignments" on app.provider_clinics
  for update to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()))
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and updated_by = (select auth.uid()));

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

create policy "admins read their clinic's prescription work" on app.invoices
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "super admins read every clinic's prescription work in an all-clinics request"
  on app.invoices
  for select to app_user
  using ((select auth.all_clinics()));

create policy "definer helpers read every invoice" on app.invoices
  for select to wardline_auth
  using (true);

alter table app.refills enable row level security;
alter table app.refills force row level security;

create policy "prescribers read refills of the clinics they work for" on app.refills
  for select to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and (select auth.my_provider_id()) is not null);

-- Prescribing needs, at that moment, the credentials of an active assignment there.
create policy "prescribers prescribe or deny refills of the clinics they work for" on app.refills
  for update to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and status in ('APPROVED', 'PENDING_PROVIDER')
         and (select auth.my_provider_id()) is not null)
  with check (org_id = any ((select auth.my_org_ids())::uuid[])
              and decided_by = (select auth.my_provider_id())
              and status in ('PRESCRIBED', 'DENIED')
              and (status <> 'PRESCRIBED' or app.credentialed_at(org_id)));

create policy "admins read their clinic's prescription work" on app.refills
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "super admins read every clinic's prescription work in an all-clinics request"
  on app.refills
  for select to app_user
  using ((select auth.all_clinics()));

create policy "admins approve their clinic's refills" on app.refills
  for update to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin())
         and status = 'PENDING_ADMIN')
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and status = 'APPROVED' and approved_by = (select auth.uid()));

create policy "definer helpers read every refill" on app.refills
  for select to wardline_auth
  using (true);

alter table app.orders enable row level security;
alter table app.orders force row level security;

create policy "prescribers read orders of the clinics they work for" on app.orders
  for select to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and (select auth.my_provider_id()) is not null
         and (assigned_provider_id is null
              or assigned_provider_id = (select auth.my_provider_id())));

-- Only queued orders: a sent one is history. Marking one sent needs, at that moment, an
-- active assignment with DEA number and licence at the order's clinic (api.order_to_send
-- checks the same before the pharmacy call; this holds even if it was revoked meanwhile).
create policy "prescribers approve orders of the clinics they work for" on app.orders
  for update to app_user
  using ((select auth.cross_clinic()) and org_id = any ((select auth.my_org_ids())::uuid[])
         and status = 'queued_for_provider' and (select auth.my_provider_id()) is not null
         and (assigned_provider_id is null
              or assigned_provider_id = (select auth.my_provider_id())))
  with check (org_id = any ((select auth.my_org_ids())::uuid[])
              and (approved_by is null or approved_by = (select auth.my_provider_id()))
              and (status <> 'sent' or app.credentialed_at(org_id)));

create policy "admins read their clinic's prescription work" on app.orders
  for select to app_user
  using (org_id = (select auth.org_id()) and (select auth.is_admin()));

create policy "super admins read every clinic's prescription work in an all-clinics request"
  on app.orders
  for select to app_user
  using ((select auth.all_clinics()));

-- For a prescriber with an active assignment at the order's clinic.
create policy "admins queue orders for their clinic's prescribers" on app.orders
  for insert to app_user
  with check (org_id = (select auth.org_id()) and (select auth.is_admin())
              and status = 'queued_for_provider' and queued_by = (select auth.uid())
              and assigned_provider_id in (select a.provider_id from app.provider_clinics a
                                           where a.org_id = orders.org_id and a.active));

create policy "definer helpers read every order" on app.orders
  for select to wardline_auth
  using (true);
