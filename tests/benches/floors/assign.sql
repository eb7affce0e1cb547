-- The floor of POST /v2/doctor/patients/assign for a patient already in the caller's care (the
-- benchmark's case, `changed: false`): the checks and the care-team row, in one statement.
\set i random(1, :assignable)
begin;
select set_config('request.jwt.claims', :claims, true), set_config('role', 'app_user', true);
select case
  when exists (select 1 from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
               where m.clinician_id = auth.uid() and m.org_id = auth.org_id()
                 and m.active and m.approved and c.active
                 and m.kind in ('therapist', 'prescriber'))
   and coalesce((select c.feature_flags -> 'therapistPatientAssignment' = 'true'::jsonb
                 from app.clinics c where c.id = auth.org_id()), false)
   and exists (select 1 from app.patients p where p.id = (:patients::uuid[])[:i::int])
  then (select jsonb_strip_nulls(jsonb_build_object(
                 'patientId', t.patient_id, 'therapistId', t.clinician_id, 'status', t.status,
                 'notes', t.notes, 'assignedBy', t.assigned_by,
                 'assignedAt', app.iso(t.assigned_at),
                 'changed', false))
        from app.care_team t
        where t.patient_id = (:patients::uuid[])[:i::int] and t.clinician_id = auth.uid()
          and t.status = 'active')
  end;
commit;
