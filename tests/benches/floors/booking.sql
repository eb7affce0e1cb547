-- The floor of a booking (hold + confirm): the request's claims and role, then one insert of a
-- booked session into a table of the same row shape with the same two exclusion constraints
-- (bench_floor.sessions, made by the bench) under an RLS policy on the clinic, the patient's
-- notice (one e-mail into the outbox) and one audit row, in one statement. Client :client_id
-- books its own clinician and patient, hour :n.
\set n :n + 1
begin;
select set_config('request.jwt.claims', :claims, true), set_config('role', 'app_user', true);
with booked as (
  insert into bench_floor.sessions (org_id, clinician_id, patient_id, status, during, service_id,
                                    cpt_code, cpt_units, created_by)
  values (auth.org_id(), (:therapists::uuid[])[:client_id::int + 1],
          (:patients::uuid[])[:client_id::int + 1], 'scheduled',
          tstzrange(:first::timestamptz + (:phase::int * 100000 + :n::int) * interval '1 hour',
                    :first::timestamptz + (:phase::int * 100000 + :n::int) * interval '1 hour'
                      + interval '50 minutes'),
          :service::uuid, '90834', 1, auth.uid())
  returning id, patient_id, lower(during) as starts_at
), notice as (
  insert into app.outbox (org_id, kind, channel, recipient, payload, created_by)
  select auth.org_id(), 'session.booked', 'email', 'p-' || b.patient_id || '@bench.example',
         jsonb_build_object('sessionId', b.id, 'startsAt', app.iso(b.starts_at)), auth.uid()
  from booked b
)
select audit.record('session.confirm', 'session', (select b.id::text from booked b), 'success', '{}');
commit;
