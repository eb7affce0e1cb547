-- The floor of the patient pages (GET /v2/doctor/patients/all and /summary, first page of
-- :page): the clinic's live patients in name order (for /summary only those in the caller's care),
-- each with their connected clinicians, under the same RLS, and the read's audit event (one row
-- into the clinic's chain, after the page), in one statement.
begin;
select set_config('request.jwt.claims', :claims, true), set_config('role', 'app_user', true);
-- As app.patients_page: the page is a walk of the name index, never a sort of the clinic.
set local enable_sort = off;
with page as (
  select p.id, p.first_name, p.last_name, p.email, p.phone, p.date_of_birth, p.created_at,
         row_number() over (order by p.last_name, p.first_name, p.id) as n
  from app.patients p
  where p.org_id = (select auth.org_id()) and p.deleted_at is null
    -- {mine}: the bench writes here, for /summary, the caller's own active care teams.
  order by p.last_name, p.first_name, p.id
  limit :page::int + 1
)
select case
  when exists (select 1 from app.clinic_memberships m join app.clinicians c on c.id = m.clinician_id
               where m.clinician_id = auth.uid() and m.org_id = auth.org_id()
                 and m.active and m.approved and c.active)
   and (:summary::boolean or coalesce((select c.feature_flags -> 'allActivePatientsDashboard'
                                              = 'true'::jsonb
                                       from app.clinics c where c.id = auth.org_id()), false))
  then jsonb_build_object(
    'patients', coalesce((
      select jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'id', x.id, 'firstName', x.first_name, 'lastName', x.last_name,
               'email', x.email, 'phone', x.phone, 'dateOfBirth', x.date_of_birth,
               'createdAt', app.iso(x.created_at)))
             || coalesce(tm.team, '{"connectedTherapists": [], "isConnectedToMe": false}')
             order by x.n)
      from page x
      left join (
        select t.patient_id, jsonb_build_object(
                 'connectedTherapists', jsonb_agg(jsonb_build_object(
                   'id', c.id, 'firstName', c.first_name, 'lastName', c.last_name)
                   order by c.last_name, c.first_name, c.id),
                 'isConnectedToMe', bool_or(c.id = (select auth.uid()))) as team
        from app.care_team t
        join app.clinic_memberships m
          on m.org_id = t.org_id and m.clinician_id = t.clinician_id and m.active and m.approved
        join app.clinicians c on c.id = t.clinician_id
        where t.status = 'active' and t.patient_id = any (array(select y.id from page y))
        group by t.patient_id) tm on tm.patient_id = x.id
      where x.n <= :page::int), '[]'::jsonb),
    'nextCursor', (select x.id from page x
                   where x.n = :page::int and exists (select 1 from page y where y.n > :page::int)))
  end,
  -- After the page in the target list, so the chain's head is locked only once it is read.
  audit.record('patients.list', null, null, 'success',
               jsonb_build_object('scope', case when :summary::boolean then 'mine' else 'all' end));
commit;
