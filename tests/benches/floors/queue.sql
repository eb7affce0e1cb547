-- The floor of GET /api/provider/prescription-queue (first page of :page): a cross-clinic
-- request's claims, clinic set and profile set in its transaction, then the three kinds of
-- waiting item of every clinic of the set (orders: the unassigned ones per clinic and those
-- assigned to the caller), merged oldest first, under the same RLS, and the read's audit event
-- in each clinic the page shows (after the page, in clinic order).
begin;
select set_config('request.jwt.claims',
                  ((:claims::jsonb - 'org_id') || '{"scope": "cross_clinic"}')::text, true);
select set_config('request.org_ids', s.org_ids::text, true),
       set_config('request.provider_id', coalesce(s.provider_id::text, ''), true),
       set_config('role', 'app_user', true)
from auth.cross_clinic_scope() s;
-- As api.prescription_queue: planned once per connection. A custom plan of this statement,
-- with its policies' many sub-plans, costs more to make than the page costs to read.
set local plan_cache_mode = force_generic_plan;
with orders as (
  (select o.* from unnest(auth.my_org_ids()) org,
   lateral (select * from app.orders o
            where o.org_id = org and o.status = 'queued_for_provider'
              and o.assigned_provider_id is null
            order by o.queued_at, o.id limit :page::int + 1) o)
  union all
  (select * from app.orders o
   where o.assigned_provider_id = (select auth.my_provider_id()) and o.status = 'queued_for_provider'
   order by o.queued_at, o.id limit :page::int + 1)
), items as (
  (select 'invoice' as kind, i.id, i.org_id, i.patient_id, i.paid_at as queued_at,
          jsonb_build_object('description', i.description, 'amountCents', i.amount_cents,
                             'paidAt', app.iso(i.paid_at)) as detail
   from unnest(auth.my_org_ids()) org,
   lateral (select * from app.invoices i
            where i.org_id = org and i.status = 'paid' and i.prescription_status = 'pending'
            order by i.paid_at, i.id limit :page::int + 1) i)
  union all
  (select 'refill', r.id, r.org_id, r.patient_id, r.queued_at,
          jsonb_build_object('medication', r.medication, 'status', r.status)
   from unnest(auth.my_org_ids()) org,
   lateral (select * from app.refills r
            where r.org_id = org and r.status in ('APPROVED', 'PENDING_PROVIDER')
            order by r.queued_at, r.id limit :page::int + 1) r)
  union all
  (select 'order', o.id, o.org_id, o.patient_id, o.queued_at,
          jsonb_strip_nulls(jsonb_build_object(
            'medication', o.medication, 'strength', o.strength, 'quantity', o.quantity,
            'directions', o.directions, 'refills', o.refills,
            'assignedProviderId', o.assigned_provider_id, 'attempts', o.attempts,
            'lastError', o.last_error,
            'lastErrorAt', app.iso(o.last_error_at)))
   from orders o)
), page as (
  select x.*, row_number() over (order by x.queued_at, x.id) as n
  from items x order by x.queued_at, x.id limit :page::int + 1
), answer as materialized (
select case when auth.my_provider_id() is not null then jsonb_build_object(
  'items', coalesce((
    select jsonb_agg(jsonb_build_object(
             'type', x.kind, 'id', x.id, 'clinicId', x.org_id, 'clinic', app.queue_clinic(c),
             'patient', jsonb_strip_nulls(jsonb_build_object(
               'id', p.id, 'firstName', p.first_name, 'lastName', p.last_name,
               'dateOfBirth', p.date_of_birth)),
             'queuedAt', app.iso(x.queued_at))
             || x.detail
           order by x.n)
    from page x
    join app.clinics c on c.id = x.org_id
    left join app.patients p on p.id = x.patient_id
    where x.n <= :page::int), '[]'::jsonb),
  'nextCursor', (select (extract(epoch from x.queued_at) * 1000000)::bigint::text || '_' || x.id::text
                 from page x
                 where x.n = :page::int and exists (select 1 from page y where y.n > :page::int)))
  end as body
), audited as (
  select count(*)
  from (select distinct (i ->> 'clinicId')::uuid as org
        from answer a, jsonb_array_elements(a.body -> 'items') i order by 1) o,
       lateral audit.record_in(o.org, 'prescriptions.queue.read')
)
select a.body from answer a, audited;
commit;
