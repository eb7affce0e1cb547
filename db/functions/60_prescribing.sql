-- Prescribers across clinics (provider-queue): the clinics a clinician works for, the
-- cross-clinic request, the merged queue, invoices, orders and assignments.

-- ---------------------------------------------------------------------------------------
-- Who a clinician works for.

-- Whether this request is cross-clinic (begun by auth.begin_cross_clinic_request).
create or replace function auth.cross_clinic() returns boolean
language sql stable
as $$ select coalesce(auth.claim('scope') = 'cross_clinic', false) $$;
grant execute on function auth.cross_clinic() to app_user, wardline_auth, wardline_authenticator;

-- Every source of a clinician's clinics, one row each, counted or not: the clinic on their
-- user record, their user–clinic access rows (memberships), their prescriber assignments and
-- the legacy clinic of their prescriber profile. auth.my_org_ids() is the counted ones; the
-- support explanation (GET /api/providers/debug) shows them all. Only the clinician themself
-- or a super admin may ask.
create or replace function auth.org_sources(clinician uuid)
returns table (org_id uuid, source text, counted boolean, detail jsonb)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
  with person as (
    select c.id, c.home_org_id, c.active from app.clinicians c
    where c.id = clinician
      and (clinician = auth.uid() or auth.is_super_admin())
  )
  select p.home_org_id, 'user_record', p.active,
         jsonb_build_object('clinicianActive', p.active)
  from person p where p.home_org_id is not null
  union all
  select m.org_id, 'user_clinic_access', p.active and m.active and m.approved,
         jsonb_build_object('clinicianActive', p.active, 'kind', m.kind, 'active', m.active,
                            'approved', m.approved)
  from person p join app.clinic_memberships m on m.clinician_id = p.id
  union all
  select a.org_id, 'provider_assignment', p.active and v.active and a.active,
         jsonb_build_object('clinicianActive', p.active, 'providerId', v.id,
                            'providerActive', v.active, 'active', a.active,
                            'isPrimary', a.is_primary)
  from person p join app.providers v on v.clinician_id = p.id
  join app.provider_clinics a on a.provider_id = v.id
  union all
  select v.legacy_org_id, 'provider_record', p.active and v.active,
         jsonb_build_object('clinicianActive', p.active, 'providerId', v.id,
                            'providerActive', v.active)
  from person p join app.providers v on v.clinician_id = p.id
  where v.legacy_org_id is not null;
end
$$;
grant execute on function auth.org_sources(uuid) to app_user;

-- What a cross-clinic request works with, worked out once when it begins: the clinics the
-- caller works for (their counted sources) and their active prescriber profile, if any.
create or replace function auth.cross_clinic_scope(out org_ids uuid[], out provider_id uuid)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  org_ids := (select coalesce(array_agg(distinct s.org_id), '{}')
              from auth.org_sources(auth.uid()) s where s.counted);
  provider_id := (select v.id from app.providers v join app.clinicians c on c.id = v.clinician_id
                  where v.clinician_id = auth.uid() and v.active and c.active);
end
$$;
grant execute on function auth.cross_clinic_scope() to wardline_authenticator;

-- The caller's active prescriber profile, in a cross-clinic request (null in any other).
-- Inlined into policies; the value was set when the request began.
create or replace function auth.my_provider_id() returns uuid
language sql stable
as $$
  select case when auth.cross_clinic() and auth.is_staff()
              then nullif(current_setting('request.provider_id', true), '')::uuid end
$$;
grant execute on function auth.my_provider_id() to app_user;

-- The clinic of any invoice, refill or order, whoever may read it: what tells "not in your
-- clinics" (403) from "no such thing" (404), as the prescription queue's routes answer.
create or replace function auth.clinic_of(kind text, id uuid) returns uuid
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if kind = 'invoice' then
    return (select i.org_id from app.invoices i where i.id = clinic_of.id);
  elsif kind = 'refill' then
    return (select r.org_id from app.refills r where r.id = clinic_of.id);
  elsif kind = 'order' then
    return (select o.org_id from app.orders o where o.id = clinic_of.id);
  end if;
  return null;
end
$$;
grant execute on function auth.clinic_of(text, uuid) to app_user;

-- The prescriber an order of the caller's clinics is assigned to (null: any of them), which
-- the orders' policies hide from the others: what tells "assigned to someone else" (403) from
-- "no such order" (404).
create or replace function auth.assignee_of(id uuid) returns uuid
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select o.assigned_provider_id from app.orders o
          where o.id = assignee_of.id and o.org_id = any (auth.my_org_ids()));
end
$$;
grant execute on function auth.assignee_of(uuid) to app_user;


-- Whether the signed-in clinician exists and is active (a super admin also still one): the
-- recognition of a cross-clinic request, which has no current clinic to check membership in.
create or replace function auth.clinician_is_recognised() returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return exists (
    select 1 from app.clinicians c
    where c.id = auth.uid() and c.active
      and (not auth.is_super_admin() or c.is_super_admin));
end
$$;
grant execute on function auth.clinician_is_recognised() to wardline_authenticator;

-- The start of a cross-clinic request: clinicians only, the token's current clinic dropped
-- (nothing clinic-scoped applies), auth.my_org_ids() and auth.my_provider_id() switched on,
-- each computed here once (transaction-local settings) rather than by every policy check.
create or replace function auth.begin_cross_clinic_request(claims jsonb) returns void
language plpgsql
as $$
declare
  scope record;
begin
  perform set_config('request.jwt.claims',
    ((claims - 'org_id') || '{"scope": "cross_clinic"}')::text, true);
  if not auth.is_staff() then
    perform api.fail('forbidden', 'This operation is for clinicians.');
  end if;
  if not auth.clinician_is_recognised() then
    perform api.fail('not_a_member', 'The signed-in user is not an active clinician.');
  end if;
  select * into scope from auth.cross_clinic_scope();
  perform set_config('request.org_ids', scope.org_ids::text, true);
  perform set_config('request.provider_id', coalesce(scope.provider_id::text, ''), true);
  perform set_config('role', 'app_user', true);
end
$$;
grant execute on function auth.begin_cross_clinic_request(jsonb) to wardline_authenticator;

-- The clinics the caller works for, in a cross-clinic request; empty in every other request.
-- The set was computed when the request began; policies call it as (select auth.my_org_ids()).
create or replace function auth.my_org_ids() returns uuid[]
language sql stable
as $$
  select case when auth.cross_clinic() and auth.is_staff()
              then coalesce(nullif(current_setting('request.org_ids', true), '')::uuid[], '{}')
              else '{}' end
$$;
grant execute on function auth.my_org_ids() to app_user, wardline_auth;

-- ---------------------------------------------------------------------------------------
-- The routes of provider-queue. Every one is a cross-clinic request. The api.* functions are
-- compiled as wardline_authenticator, which may not use schema app: `record` variables.

-- The caller's prescriber profile, or a 403.
create or replace function api.require_prescriber() returns uuid
language plpgsql stable
as $$
declare
  provider uuid := auth.my_provider_id();
begin
  if provider is null then
    perform api.fail('not_a_prescriber', 'This operation is for active prescribers.');
  end if;
  return provider;
end
$$;
grant execute on function api.require_prescriber() to app_user;

-- The clinic of an invoice, refill or order the caller may act on: 404 when there is no such
-- item, 403 when it belongs to a clinic outside the caller's set or is an order assigned to
-- another prescriber (naming them).
create or replace function api.require_item_clinic(kind text, id uuid) returns uuid
language plpgsql stable
as $$
declare
  org uuid := auth.clinic_of(kind, id);
  assignee uuid;
begin
  if org is null then
    perform api.fail('not_found', format('There is no such %s.', kind));
  elsif not org = any (auth.my_org_ids()) then
    perform api.fail('clinic_not_in_set',
      format('This %s belongs to a clinic you do not work for.', kind));
  elsif kind = 'order' then
    assignee := auth.assignee_of(id);
    if assignee <> auth.my_provider_id() then
      perform api.fail_with('assigned_to_another_provider',
        'An admin queued this order for another prescriber.',
        jsonb_build_object('assignedProviderId', assignee));
    end if;
  end if;
  return org;
end
$$;
grant execute on function api.require_item_clinic(text, uuid) to app_user;

-- Whether the caller, in a cross-clinic request, may prescribe at `org`: an active assignment
-- there with a DEA number and a licence. Asked by the policies that let a prescriber send an
-- order or prescribe a refill, at the moment they do.
create or replace function app.credentialed_at(org uuid) returns boolean
language plpgsql stable
as $$
begin
  return exists (
    select 1 from app.provider_clinics a
    where a.provider_id = auth.my_provider_id() and a.org_id = org and a.active
      and a.dea_number is not null and a.license_number is not null
      and a.license_state is not null);
end
$$;
grant execute on function app.credentialed_at(uuid) to app_user;

-- A clinic as the queue shows it.
create or replace function app.queue_clinic(c app.clinics) returns jsonb
language sql stable
as $$
  select jsonb_build_object('id', c.id, 'name', c.name, 'subdomain', c.slug,
    'pharmacy', jsonb_build_object('enabled', c.pharmacy_enabled,
                                   'configured', c.pharmacy_secret_ref is not null))
$$;

-- Keyset cursors of the queue: (queued time in whole microseconds since the epoch, id).
create or replace function app.queue_cursor(at timestamptz, id uuid) returns text
language sql immutable
as $$ select (extract(epoch from at) * 1000000)::bigint::text || '_' || id::text $$;

-- One page of the merged queue of clinics `orgs`, oldest first: a prescriber's (`prescriber`:
-- paid invoices, refills approved or waiting for a prescriber, the clinics' unassigned orders
-- and the orders assigned to them) or, with `prescriber` null, the admins' (refills waiting
-- for an admin too, and every queued order, whoever it is assigned to). Each source is read
-- per clinic of the set, in its partial index's order and cut to the page, before the merge
-- (an `org_id = any (…)` scan would read and sort every waiting item of every clinic); the
-- sources of one side only are switched off as a whole (`prescriber is null` is a one-time
-- filter), so each keeps its constant statuses and its index.
create or replace function app.prescription_queue_page(
  orgs uuid[], prescriber uuid, page_size integer, after_micros bigint, after_id uuid
) returns jsonb
language plpgsql stable
set plan_cache_mode = force_generic_plan
as $$
begin
  -- PL/pgSQL on a generic plan: planned once per connection, not on every page.
  return (
  with mine as (
    select orgs,
           case when after_micros is null then null
                else 'epoch'::timestamptz + (after_micros::text || ' microseconds')::interval
           end as after_at
  ), orders as (
    (select o.* from mine, unnest(mine.orgs) org,
     lateral (select * from app.orders o
              where prescriber is null and o.org_id = org and o.status = 'queued_for_provider'
                and (mine.after_at is null or (o.queued_at, o.id) > (mine.after_at, after_id))
              order by o.queued_at, o.id limit page_size + 1) o)
    union all
    (select o.* from mine, unnest(mine.orgs) org,
     lateral (select * from app.orders o
              where prescriber is not null and o.org_id = org
                and o.status = 'queued_for_provider' and o.assigned_provider_id is null
                and (mine.after_at is null or (o.queued_at, o.id) > (mine.after_at, after_id))
              order by o.queued_at, o.id limit page_size + 1) o)
    union all
    (select o.* from mine,
     lateral (select * from app.orders o
              where o.assigned_provider_id = prescriber and o.status = 'queued_for_provider'
                and o.org_id = any (mine.orgs)
                and (mine.after_at is null or (o.queued_at, o.id) > (mine.after_at, after_id))
              order by o.queued_at, o.id limit page_size + 1) o)
  ), items as (
    (select 'invoice' as kind, i.id, i.org_id, i.patient_id, i.paid_at as queued_at,
            jsonb_build_object('description', i.description, 'amountCents', i.amount_cents,
                               'paidAt', app.iso(i.paid_at)) as detail
     from mine, unnest(mine.orgs) org,
     lateral (select * from app.invoices i
              where i.org_id = org and i.status = 'paid' and i.prescription_status = 'pending'
                and (mine.after_at is null or (i.paid_at, i.id) > (mine.after_at, after_id))
              order by i.paid_at, i.id limit page_size + 1) i)
    union all
    (select 'refill', r.id, r.org_id, r.patient_id, r.queued_at,
            jsonb_build_object('medication', r.medication, 'status', r.status)
     from mine, unnest(mine.orgs) org,
     lateral (select * from app.refills r
              where r.org_id = org and r.status in ('APPROVED', 'PENDING_PROVIDER')
                and (mine.after_at is null or (r.queued_at, r.id) > (mine.after_at, after_id))
              order by r.queued_at, r.id limit page_size + 1) r)
    union all
    (select 'refill', r.id, r.org_id, r.patient_id, r.queued_at,
            jsonb_build_object('medication', r.medication, 'status', r.status)
     from mine, unnest(mine.orgs) org,
     lateral (select * from app.refills r
              where prescriber is null and r.org_id = org and r.status = 'PENDING_ADMIN'
                and (mine.after_at is null or (r.queued_at, r.id) > (mine.after_at, after_id))
              order by r.queued_at, r.id limit page_size + 1) r)
    union all
    (select 'order', o.id, o.org_id, o.patient_id, o.queued_at,
            jsonb_strip_nulls(jsonb_build_object(
              'medication', o.medication, 'strength', o.strength, 'quantity', o.quantity,
              'directions', o.directions, 'refills', o.refills,
              'assignedProviderId', o.assigned_provider_id, 'attempts', o.attempts,
              'lastError', o.last_error, 'lastErrorAt', app.iso(o.last_error_at)))
     from orders o)
  ), page as (
    select x.*, row_number() over (order by x.queued_at, x.id) as n
    from items x order by x.queued_at, x.id limit page_size + 1
  )
  select jsonb_build_object(
    'items', coalesce((
      select jsonb_agg(jsonb_build_object(
               'type', x.kind, 'id', x.id, 'clinicId', x.org_id, 'clinic', app.queue_clinic(c),
               'patient', jsonb_strip_nulls(jsonb_build_object(
                 'id', p.id, 'firstName', p.first_name, 'lastName', p.last_name,
                 'dateOfBirth', p.date_of_birth)),
               'queuedAt', app.iso(x.queued_at)) || x.detail
             order by x.n)
      from page x
      join app.clinics c on c.id = x.org_id
      left join app.patients p on p.id = x.patient_id
      where x.n <= page_size), '[]'::jsonb),
    'nextCursor', (select app.queue_cursor(x.queued_at, x.id) from page x
                   where x.n = page_size
                     and exists (select 1 from page y where y.n > page_size))));
end
$$;
grant execute on function app.queue_clinic(app.clinics), app.queue_cursor(timestamptz, uuid),
  app.prescription_queue_page(uuid[], uuid, integer, bigint, uuid) to app_user;

-- A page of the queue, its read audited once in each clinic whose items it shows (each clinic's
-- chain is its own; taken in id order, so two readers lock the chain heads in one order).
create or replace function app.audit_queue_read(page jsonb) returns jsonb
language plpgsql
as $$
declare
  org uuid;
begin
  for org in select distinct (i ->> 'clinicId')::uuid from jsonb_array_elements(page -> 'items') i
             order by 1 loop
    perform audit.record_in(org, 'prescriptions.queue.read');
  end loop;
  return page;
end
$$;
grant execute on function app.audit_queue_read(jsonb) to app_user;

-- GET /api/provider/prescription-queue. input: {limit, afterMicros?, afterId?}. The read
-- audited.
create or replace function api.prescription_queue(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  provider uuid;
  orgs uuid[];
begin
  perform auth.begin_cross_clinic_request(claims);
  provider := api.require_prescriber();
  orgs := auth.my_org_ids();
  if cardinality(orgs) = 0 then
    perform api.fail('no_clinics', 'Provider must be associated with at least one clinic');
  end if;
  return app.audit_queue_read(app.prescription_queue_page(
    orgs, provider, (input ->> 'limit')::integer, (input ->> 'afterMicros')::bigint,
    (input ->> 'afterId')::uuid));
end
$$;
grant execute on function api.prescription_queue(jsonb, jsonb) to wardline_authenticator;

-- An invoice as its routes answer it.
create or replace function app.invoice_json(i app.invoices, changed boolean) returns jsonb
language sql stable
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', i.id, 'clinicId', i.org_id, 'patientId', i.patient_id, 'status', i.status,
    'paidAt', app.iso(i.paid_at), 'prescriptionStatus', i.prescription_status,
    'reason', i.status_reason, 'processedAt', app.iso(i.processed_at),
    'processedBy', i.processed_by)) || jsonb_build_object('changed', changed)
$$;
grant execute on function app.invoice_json(app.invoices, boolean) to app_user;

-- PATCH /api/provider/prescription-queue/{invoiceId}. input: {invoiceId, status, reason?}.
-- A repeat of the change already made is a 200 that changes nothing; any other change of a
-- processed or declined invoice is a 409.
create or replace function api.process_invoice(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  invoice uuid := (input ->> 'invoiceId')::uuid;
  wanted text := input ->> 'status';
  provider uuid;
  org uuid;
  current record;
begin
  perform auth.begin_cross_clinic_request(claims);
  provider := api.require_prescriber();
  org := api.require_item_clinic('invoice', invoice);
  select i.status, i.prescription_status into current
  from app.invoices i where i.id = invoice for update;
  if current.prescription_status = wanted then
    return (select app.invoice_json(i, false) from app.invoices i where i.id = invoice);
  elsif current.prescription_status <> 'pending' then
    perform api.fail('already_processed',
      format('This invoice was already %s.', current.prescription_status), 'status');
  elsif current.status <> 'paid' then
    perform api.fail('invoice_not_paid', 'Only paid invoices can be processed.');
  end if;
  update app.invoices i
  set prescription_status = wanted, status_reason = input ->> 'reason', processed_at = now(),
      processed_by = provider
  where i.id = invoice;
  perform audit.record_in(org, 'invoice.' || wanted, 'invoice', invoice::text, 'success',
                          jsonb_build_object('providerId', provider));
  return (select app.invoice_json(i, true) from app.invoices i where i.id = invoice);
end
$$;
grant execute on function api.process_invoice(jsonb, jsonb) to wardline_authenticator;

-- POST /api/orders/{id}/approve-and-send, first call. input: {orderId}. Claims the order for
-- sending and answers the claim's token with everything the prescription needs: the order's
-- clinic's letterhead and pharmacy secret and the caller's credentials for that clinic.
--
-- The claim (0010_order_sending_claim.sql) is one conditional update, so of two approvals at
-- once the second waits for the first's commit, finds the claim live and answers 409
-- order_being_sent. It is taken first and rolled back with any refusal below, so only a call
-- that goes on to send holds one. The lease is twice the provider-queue function's timeout
-- (template.yaml, 30 s): a live sender never loses its claim, a crashed one's expires.
create or replace function api.order_to_send(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target uuid := (input ->> 'orderId')::uuid;
  provider uuid;
  org uuid;
  claim uuid;
  o record;
  cred record;
begin
  perform auth.begin_cross_clinic_request(claims);
  provider := api.require_prescriber();
  org := api.require_item_clinic('order', target);
  update app.orders x
  set sending_claim = gen_random_uuid(), sending_until = now() + interval '60 seconds'
  where x.id = target and x.status = 'queued_for_provider'
    and (x.sending_until is null or x.sending_until <= now())
  returning x.sending_claim into claim;
  select x.id, x.status, x.sending_until, x.medication, x.strength, x.quantity, x.directions,
         x.refills, x.queued_at, x.attempts, p.first_name, p.last_name, p.date_of_birth,
         c.name as clinic_name, c.slug, c.letterhead, c.pharmacy_enabled, c.pharmacy_secret_ref
  into o
  from app.orders x
  join app.clinics c on c.id = x.org_id
  left join app.patients p on p.id = x.patient_id
  where x.id = target;
  if o.status <> 'queued_for_provider' then
    perform api.fail_with('order_not_queued',
      format('This order is %s, not queued for a prescriber.', o.status),
      jsonb_build_object('status', o.status));
  end if;
  select a.title_line, a.dea_number, a.license_number, a.license_state, c.first_name,
         c.last_name, c.npi
  into cred
  from app.provider_clinics a
  join app.providers v on v.id = a.provider_id
  join app.clinicians c on c.id = v.clinician_id
  where a.provider_id = provider and a.org_id = org and a.active;
  if cred.dea_number is null or cred.license_number is null or cred.license_state is null then
    perform api.fail('not_credentialed', format(
      'You have no active assignment with a DEA number and licence at %s.', o.clinic_name));
  end if;
  if not o.pharmacy_enabled or o.pharmacy_secret_ref is null then
    perform api.fail('pharmacy_not_configured',
      format('%s has no pharmacy connection.', o.clinic_name));
  end if;
  -- Last, so a caller who may not send at all hears why rather than that someone else is.
  if claim is null then
    perform api.fail_with('order_being_sent',
      'Another approval is sending this order now; it is sent or back in the queue by sendingUntil.',
      jsonb_strip_nulls(jsonb_build_object('sendingUntil', app.iso(o.sending_until))));
  end if;
  return jsonb_build_object(
    'claim', claim,
    'order', jsonb_strip_nulls(jsonb_build_object(
      'id', o.id, 'medication', o.medication, 'strength', o.strength, 'quantity', o.quantity,
      'directions', o.directions, 'refills', o.refills, 'attempts', o.attempts)),
    'patient', jsonb_strip_nulls(jsonb_build_object(
      'firstName', o.first_name, 'lastName', o.last_name, 'dateOfBirth', o.date_of_birth)),
    'clinic', jsonb_build_object('id', org, 'name', o.clinic_name, 'subdomain', o.slug,
                                 'letterhead', o.letterhead,
                                 'pharmacySecretRef', o.pharmacy_secret_ref),
    'prescriber', jsonb_strip_nulls(jsonb_build_object(
      'firstName', cred.first_name, 'lastName', cred.last_name,
      'npi', cred.npi, 'titleLine', cred.title_line, 'deaNumber', cred.dea_number,
      'licenseNumber', cred.license_number, 'licenseState', cred.license_state)));
end
$$;
grant execute on function api.order_to_send(jsonb, jsonb) to wardline_authenticator;

-- POST /api/orders/{id}/approve-and-send, second call. input: {orderId, claim, outcome:
-- 'sent', pharmacyReference, pdfKey} or {orderId, claim, outcome: 'failed', stage, error}.
-- A send marks the order sent and ends any claim: the pharmacy holds the prescription, even if
-- this call's claim expired meanwhile (a later approval that got the same pharmacy reference
-- agrees with it). A failure leaves the order queued, records the error and releases the
-- claim, but only while the claim is this call's own: one that expired and was taken over is
-- the new holder's. Both are audited.
create or replace function api.settle_order(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  target uuid := (input ->> 'orderId')::uuid;
  provider uuid;
  org uuid;
  o record;
begin
  perform auth.begin_cross_clinic_request(claims);
  provider := api.require_prescriber();
  org := api.require_item_clinic('order', target);
  if input ->> 'outcome' = 'sent' then
    update app.orders x
    set status = 'sent', approved_by = provider, approved_at = now(), sent_at = now(),
        pharmacy_reference = input ->> 'pharmacyReference', pdf_key = input ->> 'pdfKey',
        sending_claim = null, sending_until = null
    where x.id = target and x.status = 'queued_for_provider';
    if found then
      perform audit.record_in(org, 'order.approve_and_send', 'order', target::text, 'success',
        jsonb_build_object('providerId', provider,
                           'pharmacyReference', input ->> 'pharmacyReference'));
    end if;
  else
    update app.orders x
    set attempts = x.attempts + 1, last_error = left(input ->> 'error', 1000),
        last_error_at = now(), sending_claim = null, sending_until = null
    where x.id = target and x.status = 'queued_for_provider'
      and x.sending_claim = (input ->> 'claim')::uuid;
    if found then
      perform audit.record_in(org, 'order.approve_and_send', 'order', target::text, 'failure',
        jsonb_build_object('providerId', provider, 'stage', input ->> 'stage'));
    end if;
  end if;
  select x.status, x.approved_by, x.approved_at, x.sent_at, x.pharmacy_reference, x.attempts,
         x.last_error
  into o from app.orders x where x.id = target;
  if input ->> 'outcome' = 'sent'
     and o.pharmacy_reference is distinct from input ->> 'pharmacyReference' then
    perform api.fail_with('order_not_queued',
      format('This order is %s, not queued for a prescriber.', o.status),
      jsonb_build_object('status', o.status));
  end if;
  return jsonb_strip_nulls(jsonb_build_object(
    'id', target, 'clinicId', org, 'status', o.status, 'approvedBy', o.approved_by,
    'approvedAt', app.iso(o.approved_at), 'sentAt', app.iso(o.sent_at),
    'pharmacyReference', o.pharmacy_reference, 'attempts', o.attempts,
    'lastError', o.last_error));
end
$$;
grant execute on function api.settle_order(jsonb, jsonb) to wardline_authenticator;

-- A prescriber's clinic assignment, and all of them, as their routes answer them.
create or replace function app.provider_clinic_json(a app.provider_clinics, c app.clinics)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'clinicId', a.org_id, 'clinic', jsonb_build_object('name', c.name, 'subdomain', c.slug),
    'isPrimary', a.is_primary, 'titleLine', a.title_line, 'deaNumber', a.dea_number,
    'licenseNumber', a.license_number, 'licenseState', a.license_state, 'active', a.active,
    'createdAt', app.iso(a.created_at), 'updatedAt', app.iso(a.updated_at))
$$;
create or replace function app.provider_clinics_json(provider uuid) returns jsonb
language sql stable
as $$
  select jsonb_build_object('providerId', provider, 'clinics', coalesce(jsonb_agg(
    app.provider_clinic_json(a, c) order by a.is_primary desc, c.name, a.org_id), '[]'::jsonb))
  from app.provider_clinics a join app.clinics c on c.id = a.org_id
  where a.provider_id = provider
$$;

grant execute on function app.provider_clinic_json(app.provider_clinics, app.clinics)
  to app_user;
grant execute on function app.provider_clinics_json(uuid) to app_user;

-- GET /api/providers/{id}/clinics (the prescriber themself or a super admin) and
-- GET /api/super-admin/providers/{id}/clinics (super admins). input: {providerId, superAdmin}.
create or replace function api.provider_clinics(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  provider uuid := (input ->> 'providerId')::uuid;
begin
  perform auth.begin_cross_clinic_request(claims);
  perform api.require(not coalesce((input ->> 'superAdmin')::boolean, false)
                      or auth.is_super_admin());
  -- RLS shows a profile to its owner and to super admins only.
  if not exists (select 1 from app.providers v where v.id = provider) then
    perform api.fail('not_found', 'There is no such provider.');
  end if;
  return app.provider_clinics_json(provider);
end
$$;
grant execute on function api.provider_clinics(jsonb, jsonb) to wardline_authenticator;

-- Creates `provider`'s assignment to clinic `org`, or changes the fields `fields` names
-- (isPrimary, titleLine, deaNumber, licenseNumber, licenseState, active; one left out stays as
-- it is, null clears it), as the caller, whom the policies allow: a super admin anywhere, an
-- admin in their current clinic. Audited in `org` when anything changed. → {created,
-- assignment}.
create or replace function app.save_assignment(provider uuid, org uuid, fields jsonb)
returns jsonb
language plpgsql
as $$
declare
  before jsonb;
  after jsonb;
begin
  select app.provider_clinic_json(a, c) into before
  from app.provider_clinics a join app.clinics c on c.id = a.org_id
  where a.provider_id = provider and a.org_id = org
  for update of a;
  insert into app.provider_clinics as a (provider_id, org_id, is_primary, title_line,
    dea_number, license_number, license_state, active, updated_by)
  values (provider, org, coalesce((fields ->> 'isPrimary')::boolean, false),
          fields ->> 'titleLine', fields ->> 'deaNumber', fields ->> 'licenseNumber',
          fields ->> 'licenseState', coalesce((fields ->> 'active')::boolean, true),
          (select auth.uid()))
  on conflict (provider_id, org_id) do update set
    is_primary = case when fields ? 'isPrimary' then excluded.is_primary else a.is_primary end,
    title_line = case when fields ? 'titleLine' then excluded.title_line else a.title_line end,
    dea_number = case when fields ? 'deaNumber' then excluded.dea_number else a.dea_number end,
    license_number = case when fields ? 'licenseNumber' then excluded.license_number
                          else a.license_number end,
    license_state = case when fields ? 'licenseState' then excluded.license_state
                         else a.license_state end,
    active = case when fields ? 'active' then excluded.active else a.active end,
    updated_at = now(), updated_by = excluded.updated_by;
  select app.provider_clinic_json(a, c) into after
  from app.provider_clinics a join app.clinics c on c.id = a.org_id
  where a.provider_id = provider and a.org_id = org;
  if before is null or (before - 'updatedAt') <> (after - 'updatedAt') then
    perform audit.record_in(org,
      case when before is null then 'provider_clinic.create' else 'provider_clinic.update' end,
      'provider', provider::text, 'success', jsonb_build_object('clinicId', org));
  end if;
  return jsonb_build_object('created', before is null, 'assignment', after);
end
$$;
grant execute on function app.save_assignment(uuid, uuid, jsonb) to app_user;

-- POST /api/super-admin/providers/{id}/clinics. input: {providerId, clinicId, and any of
-- isPrimary, titleLine, deaNumber, licenseNumber, licenseState, active}. Creates the
-- assignment or changes the fields given; a new primary clinic demotes the old one.
create or replace function api.save_provider_clinic(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  provider uuid := (input ->> 'providerId')::uuid;
  org uuid := (input ->> 'clinicId')::uuid;
  demoted record;
begin
  perform auth.begin_cross_clinic_request(claims);
  perform api.require(auth.is_super_admin());
  if not exists (select 1 from app.providers v where v.id = provider) then
    perform api.fail('not_found', 'There is no such provider.');
  end if;
  if not exists (select 1 from app.clinics c where c.id = org) then
    perform api.fail('unknown_clinic', 'There is no clinic with this id.', 'clinicId');
  end if;
  if coalesce((input ->> 'isPrimary')::boolean, false) then
    for demoted in
      update app.provider_clinics a set is_primary = false, updated_at = now(),
             updated_by = (select auth.uid())
      where a.provider_id = provider and a.org_id <> org and a.is_primary
      returning a.org_id
    loop
      perform audit.record_in(demoted.org_id, 'provider_clinic.update', 'provider',
                              provider::text, 'success',
                              jsonb_build_object('clinicId', demoted.org_id, 'isPrimary', false));
    end loop;
  end if;
  return app.save_assignment(provider, org, input - 'providerId' - 'clinicId');
end
$$;
grant execute on function api.save_provider_clinic(jsonb, jsonb) to wardline_authenticator;

-- GET /api/providers/debug (super admins). input: {providerId} or {clinicianId}. How the
-- prescriber's set of clinics is derived: every source, counted or not, and the result.
create or replace function api.provider_debug(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
declare
  who record;
begin
  perform auth.begin_cross_clinic_request(claims);
  perform api.require(auth.is_super_admin());
  -- A profile may have no user yet (its set is then empty).
  select c.id as clinician_id, c.active, v.id as provider_id, v.active as provider_active
  into who
  from app.clinicians c full join app.providers v on v.clinician_id = c.id
  where c.id = (input ->> 'clinicianId')::uuid or v.id = (input ->> 'providerId')::uuid;
  if who.clinician_id is null and who.provider_id is null then
    perform api.fail('not_found', 'There is no such provider or clinician.');
  end if;
  return (
    with sources as (
      select s.*, c.name, c.slug from auth.org_sources(who.clinician_id) s
      left join app.clinics c on c.id = s.org_id
    )
    select jsonb_build_object(
      'clinicianId', who.clinician_id, 'clinicianActive', who.active,
      'providerId', who.provider_id, 'providerActive', who.provider_active,
      'clinicIds', coalesce((select jsonb_agg(distinct s.org_id) from sources s
                             where s.counted), '[]'::jsonb),
      'sources', coalesce((select jsonb_agg(jsonb_build_object(
                   'source', s.source, 'clinicId', s.org_id,
                   'clinic', jsonb_build_object('name', s.name, 'subdomain', s.slug),
                   'counted', s.counted, 'detail', s.detail)
                 order by s.source, s.org_id) from sources s), '[]'::jsonb)));
end
$$;
grant execute on function api.provider_debug(jsonb, jsonb) to wardline_authenticator;
