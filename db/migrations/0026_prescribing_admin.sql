-- Multi-clinic providers and the admins' side of prescribing (issue 21, part 3): staff made and
-- added to clinics by admins, prescriber profiles that exist before their user, orders an admin
-- queues for one prescriber, and refills someone acts on. Functions:
-- db/functions/65_prescribing_admin.sql; policies: db/policies/prescribing.sql, clinics.sql,
-- patients.sql.

-- A prescriber profile may come before its user (imported with the clinic's records); POST
-- /api/super-admin/providers/{id}/user gives it one. A profile without a user prescribes
-- nowhere: every source of auth.org_sources starts from the user.
alter table app.providers alter column clinician_id drop not null;

-- Admins make staff: a user (its id is the identity provider's subject, the token's `sub`) and
-- memberships of their clinic; a prescriber profile for a member. Super admins give a profile
-- without a user its user.
grant insert (id, email, first_name, last_name) on app.clinicians to app_user;
grant insert (org_id, clinician_id, kind, is_admin, active, approved),
      update (kind, is_admin, active, approved)
  on app.clinic_memberships to app_user;
grant insert (id, clinician_id), update (clinician_id) on app.providers to app_user;

-- An order an admin queues for one prescriber, who alone sees and sends it. The prescribers'
-- queue reads a clinic's unassigned orders and a prescriber's assigned ones, each by its own
-- partial index (orders_queue_idx, every queued order of a clinic, is the admins' queue's).
alter table app.orders
  add column assigned_provider_id uuid references app.providers (id),
  add column queued_by uuid references app.clinicians (id);
create index orders_open_queue_idx on app.orders (org_id, queued_at, id)
  where status = 'queued_for_provider' and assigned_provider_id is null;
create index orders_assigned_queue_idx on app.orders (assigned_provider_id, queued_at, id)
  where status = 'queued_for_provider';
grant insert (id, org_id, patient_id, medication, strength, quantity, directions, refills,
              assigned_provider_id, queued_by)
  on app.orders to app_user;

-- A refill's way: an admin approves it (PENDING_ADMIN → APPROVED), then a prescriber of its
-- clinic prescribes or denies it (APPROVED or PENDING_PROVIDER → PRESCRIBED or DENIED, a
-- denial with its reason). The admins' queue walks the refills waiting for them.
alter table app.refills
  add column approved_by uuid references app.clinicians (id),
  add column approved_at timestamptz,
  add column decided_by uuid references app.providers (id),
  add column decided_at timestamptz,
  add column denial_reason text check (length(denial_reason) between 1 and 1000),
  add constraint refills_approval_check check ((approved_by is null) = (approved_at is null)),
  add constraint refills_decision_check check (
    (decided_by is null) = (decided_at is null)
    and (decided_by is null or status in ('PRESCRIBED', 'DENIED'))
    and (decided_by is null or (status = 'DENIED') = (denial_reason is not null)));
create index refills_admin_queue_idx on app.refills (org_id, queued_at, id)
  where status = 'PENDING_ADMIN';
grant update (status, approved_by, approved_at, decided_by, decided_at, denial_reason)
  on app.refills to app_user;
-- auth.clinic_of tells a refill of another clinic (403) from no refill (404), as for invoices
-- and orders.
grant select on app.refills to wardline_auth;
