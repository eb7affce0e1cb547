-- The archived patients of a clinic (issue 21): app.my_patients leaves them out of every
-- care-team policy on every statement, so finding them must be an index search over the few
-- archived rows, not a scan of the clinic's patients (the live-patient indexes are partial on
-- `deleted_at is null`).
create index patients_org_archived_idx on app.patients (org_id) where deleted_at is not null;
