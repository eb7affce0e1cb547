-- GET /v2/doctor/patients/tenant-doctors: the active, approved clinicians of the caller's
-- current clinic (an active membership of an active clinician record), except the caller. There is no org filter here on purpose: RLS on
-- app.clinic_memberships shows only the current clinic's rows.
create or replace function api.tenant_doctors(claims jsonb, input jsonb) returns jsonb
language plpgsql
as $$
begin
  perform auth.begin_request(claims);
  perform api.require(auth.is_staff());
  perform api.require_flag('therapistPatientAssignment');
  return coalesce((
    select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
             'id', c.id,
             'firstName', c.first_name,
             'lastName', c.last_name,
             'email', c.email,
             'specialization', c.specialization))
           order by c.last_name, c.first_name, c.id)
    from app.clinic_memberships m
    join app.clinicians c on c.id = m.clinician_id
    where m.active and m.approved and c.active and m.kind in ('therapist', 'prescriber')
      and m.clinician_id <> (select auth.uid())
  ), '[]'::jsonb);
end
$$;
grant execute on function api.tenant_doctors(jsonb, jsonb) to wardline_authenticator;
