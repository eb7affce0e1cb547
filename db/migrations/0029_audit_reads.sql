-- Reads of PHI are audited (issue 22): an event may name the patient whose record it touched,
-- so a clinic's admins can filter the trail by patient and a patient can see who looked.
-- The digest covers patient_id only when it is set (db/functions/10_audit.sql), so the hashes
-- of earlier events stand.

alter table audit.events add column patient_id uuid;
create index events_patient_idx on audit.events (org_id, patient_id, chain_seq)
  where patient_id is not null;
create index events_actor_idx on audit.events (org_id, actor_id, chain_seq);
-- The admins' export of a time range finds where the range begins and ends in the chain.
create index events_org_time_idx on audit.events (org_id, occurred_at);
