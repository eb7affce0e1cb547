-- "My suspended patients" (hidden even from the all-patients dashboard) searched as "my active
-- patients" is: by clinic and clinician, within the status.
create index care_team_suspended_clinician_idx on app.care_team (org_id, clinician_id, patient_id)
  where status = 'suspended';
