-- The floor of GET /v2/doctor/patients/tenant-doctors: claims and role set in the request's
-- transaction, then one statement that checks the caller's membership and the clinic's flag and
-- lists the colleagues, under the same RLS.
begin;
select set_config('request.jwt.claims', :claims, true), set_config('role', 'app_user', true);
select case
  when exists (select 1 from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
               where m.clinician_id = auth.uid() and m.org_id = auth.org_id()
                 and m.active and m.approved and c.active)
   and coalesce((select c.feature_flags -> 'therapistPatientAssignment' = 'true'::jsonb
                 from app.clinics c where c.id = auth.org_id()), false)
  then coalesce((
    select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
             'id', c.id, 'firstName', c.first_name, 'lastName', c.last_name, 'email', c.email,
             'specialization', c.specialization))
           order by c.last_name, c.first_name, c.id)
    from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
    where m.active and m.approved and m.kind in ('therapist', 'prescriber') and c.active
      and m.clinician_id <> auth.uid()), '[]'::jsonb)
  end;
commit;
