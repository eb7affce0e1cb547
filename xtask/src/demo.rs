//! The demo data set of the local stack: two clinics, their clinicians (Dana works in both,
//! and prescribes in both), patients with their care teams, flags, and the prescription
//! queue's items. Fixed ids, so tokens minted by `cargo xtask token` stay valid across
//! restarts. Written as data once; the seed SQL and the token identities both read it.

use crate::keys::Identity;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use tokio_postgres::Client;
use uuid::{uuid, Uuid};
use wardline_shared::sealed::Keyring;

pub struct Clinic {
    pub id: Uuid,
    pub slug: &'static str,
    pub name: &'static str,
    pub time_zone: &'static str,
    pub flags: &'static str,
}

pub struct Membership {
    pub clinic: &'static str,
    pub kind: &'static str,
    pub is_admin: bool,
    pub approved: bool,
}

pub struct Clinician {
    pub id: Uuid,
    pub email: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub specialization: Option<&'static str>,
    pub memberships: &'static [Membership],
}

pub struct Patient {
    pub id: Uuid,
    pub clinic: &'static str,
    pub email: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    /// The e-mails of the clinicians in whose care the patient is.
    pub care_team: &'static [&'static str],
}

pub const CLINICS: &[Clinic] = &[
    Clinic {
        id: uuid!("c1000000-0000-4000-8000-000000000001"),
        slug: "maple",
        name: "Maple Street Therapy",
        time_zone: "America/New_York",
        flags: r#"{"therapistPatientAssignment": true, "allActivePatientsDashboard": true}"#,
    },
    Clinic {
        id: uuid!("c1000000-0000-4000-8000-000000000002"),
        slug: "harbor",
        name: "Harbor Counseling",
        time_zone: "America/Los_Angeles",
        flags: r#"{"therapistPatientAssignment": true}"#,
    },
];

const fn member(clinic: &'static str, kind: &'static str, is_admin: bool) -> Membership {
    Membership {
        clinic,
        kind,
        is_admin,
        approved: true,
    }
}

pub const CLINICIANS: &[Clinician] = &[
    Clinician {
        id: uuid!("d1000000-0000-4000-8000-000000000001"),
        email: "avery@maple.example",
        first_name: "Avery",
        last_name: "Stone",
        specialization: Some("Clinical director"),
        memberships: &[member("maple", "therapist", true)],
    },
    Clinician {
        id: uuid!("d1000000-0000-4000-8000-000000000002"),
        email: "dana@wardline.example",
        first_name: "Dana",
        last_name: "Reyes",
        specialization: Some("Psychiatry"),
        memberships: &[
            member("maple", "prescriber", false),
            member("harbor", "prescriber", false),
        ],
    },
    Clinician {
        id: uuid!("d1000000-0000-4000-8000-000000000003"),
        email: "sam@maple.example",
        first_name: "Sam",
        last_name: "Okafor",
        specialization: Some("Family therapy"),
        memberships: &[member("maple", "therapist", false)],
    },
    Clinician {
        id: uuid!("d1000000-0000-4000-8000-000000000004"),
        email: "pat@maple.example",
        first_name: "Pat",
        last_name: "Newman",
        specialization: None,
        memberships: &[Membership {
            clinic: "maple",
            kind: "therapist",
            is_admin: false,
            approved: false,
        }],
    },
    Clinician {
        id: uuid!("d1000000-0000-4000-8000-000000000005"),
        email: "lee@harbor.example",
        first_name: "Lee",
        last_name: "Park",
        specialization: Some("CBT"),
        memberships: &[member("harbor", "therapist", true)],
    },
    Clinician {
        id: uuid!("d1000000-0000-4000-8000-000000000006"),
        email: "rio@harbor.example",
        first_name: "Rio",
        last_name: "Alvarez",
        specialization: Some("Trauma"),
        memberships: &[member("harbor", "therapist", false)],
    },
];

pub const PATIENTS: &[Patient] = &[
    Patient {
        id: uuid!("e1000000-0000-4000-8000-000000000001"),
        clinic: "maple",
        email: "jordan@patients.example",
        first_name: "Jordan",
        last_name: "Lee",
        care_team: &["sam@maple.example", "dana@wardline.example"],
    },
    Patient {
        id: uuid!("e1000000-0000-4000-8000-000000000002"),
        clinic: "maple",
        email: "morgan@patients.example",
        first_name: "Morgan",
        last_name: "Diaz",
        care_team: &["sam@maple.example"],
    },
    Patient {
        id: RILEY,
        clinic: "maple",
        email: "riley@patients.example",
        first_name: "Riley",
        last_name: "Lee",
        care_team: &["sam@maple.example"],
    },
    Patient {
        id: uuid!("e1000000-0000-4000-8000-000000000003"),
        clinic: "harbor",
        email: "casey@patients.example",
        first_name: "Casey",
        last_name: "Nguyen",
        care_team: &["rio@harbor.example", "dana@wardline.example"],
    },
];

/// Jordan's child, in Sam's care; Jordan's portal account acts for Riley ([`GUARDIANSHIPS`]).
pub const RILEY: Uuid = uuid!("e1000000-0000-4000-8000-000000000004");

/// Jordan is Riley's parent: signed in, Jordan may act for Riley (`POST
/// /api/portal/auth/act-for`).
const GUARDIANSHIPS: &str = "
insert into app.guardianships (id, org_id, guardian_id, dependent_id, relationship, created_by)
values ('6a000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001',
        'e1000000-0000-4000-8000-000000000001', 'e1000000-0000-4000-8000-000000000004',
        'parent', 'd1000000-0000-4000-8000-000000000003')
on conflict do nothing;
";

/// A bookable service of a clinic. Its CPT code decides how a confirmation codes a session
/// (`app.cpt_codes`): a psychotherapy code is billed as the one the session's real minutes fit
/// (a 60-minute session on maple's 90837 is one unit of 90837, a 50-minute one one unit of
/// 90834), a 15-minute unit code (ABA's 97153) counts units by the 8-minute rule.
pub struct Service {
    pub id: Uuid,
    pub clinic: &'static str,
    pub name: &'static str,
    pub cpt_code: &'static str,
}

pub const SERVICES: &[Service] = &[
    Service {
        id: uuid!("a1000000-0000-4000-8000-000000000001"),
        clinic: "maple",
        name: "Psychotherapy, 60 minutes",
        cpt_code: "90837",
    },
    Service {
        id: uuid!("a1000000-0000-4000-8000-000000000002"),
        clinic: "harbor",
        name: "Psychotherapy, 45 minutes",
        cpt_code: "90834",
    },
    Service {
        id: uuid!("a1000000-0000-4000-8000-000000000003"),
        clinic: "maple",
        name: "Adaptive behavior treatment (ABA), per 15 minutes",
        cpt_code: "97153",
    },
];

/// Dana's prescriber profile: assigned to maple (primary) and harbor, with a title line, DEA
/// number and licence for each.
pub const DANA_PROVIDER: Uuid = uuid!("f1000000-0000-4000-8000-000000000001");

/// Refills: Casey's at harbor waiting for a prescriber, Jordan's at maple waiting for an
/// admin, Morgan's at maple approved.
pub const REFILLS: [Uuid; 3] = [
    uuid!("0c000000-0000-4000-8000-000000000001"),
    uuid!("0c000000-0000-4000-8000-000000000002"),
    uuid!("0c000000-0000-4000-8000-000000000003"),
];

/// An order queued for a prescriber at each clinic, oldest first (maple, then harbor).
pub const ORDERS: [Uuid; 2] = [
    uuid!("0d000000-0000-4000-8000-000000000001"),
    uuid!("0d000000-0000-4000-8000-000000000002"),
];

/// The name of a clinic's pharmacy secret in the local stack's Secrets Manager.
pub fn pharmacy_secret(slug: &str) -> String {
    format!("wardline/pharmacy/{slug}")
}

/// The prescription queue's demo data: Dana's profile and assignments, a profile imported
/// without a user at harbor (`POST /api/super-admin/providers/{id}/user` gives it one), each
/// clinic's letterhead and pharmacy secret, and a paid invoice, refills
/// and an order per clinic.
const PRESCRIBING: &str = r#"
insert into app.providers (id, clinician_id) values
  ('f1000000-0000-4000-8000-000000000001', 'd1000000-0000-4000-8000-000000000002'),
  ('f1000000-0000-4000-8000-000000000002', null)
on conflict do nothing;
insert into app.provider_clinics (provider_id, org_id, is_primary, title_line, dea_number,
                                  license_number, license_state) values
  ('f1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', true,
   'Dana Reyes, MD - Psychiatry', 'AR1234563', 'NY-204417', 'NY'),
  ('f1000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000002', false,
   'Dana Reyes, MD, Consulting Psychiatrist', 'BR7654329', 'CA-A98231', 'CA'),
  ('f1000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000002', true,
   'Jamie Fox, PMHNP', 'MF1357917', 'CA-N5521', 'CA')
on conflict do nothing;
update app.clinics set pharmacy_enabled = true,
       pharmacy_secret_ref = 'wardline/pharmacy/' || slug,
       letterhead = case slug
         when 'maple' then '{"address": "12 Maple Street, Albany NY", "phone": "+1 518 555 0100"}'
         else '{"address": "3 Harbor Way, San Diego CA", "phone": "+1 619 555 0100"}'
       end::jsonb
where slug in ('maple', 'harbor');
insert into app.invoices (id, org_id, patient_id, description, amount_cents, status, paid_at) values
  ('0b000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001',
   'e1000000-0000-4000-8000-000000000001', 'Medication management visit', 18000, 'paid',
   now() - interval '3 hours'),
  ('0b000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000002',
   'e1000000-0000-4000-8000-000000000003', 'Psychiatric evaluation', 32000, 'paid',
   now() - interval '2 hours')
on conflict do nothing;
insert into app.refills (id, org_id, patient_id, medication, status, queued_at) values
  ('0c000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000002',
   'e1000000-0000-4000-8000-000000000003', 'Sertraline 50 mg', 'PENDING_PROVIDER',
   now() - interval '150 minutes'),
  ('0c000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000001',
   'e1000000-0000-4000-8000-000000000001', 'Bupropion XL 150 mg', 'PENDING_ADMIN',
   now() - interval '140 minutes'),
  ('0c000000-0000-4000-8000-000000000003', 'c1000000-0000-4000-8000-000000000001',
   'e1000000-0000-4000-8000-000000000002', 'Lamotrigine 100 mg', 'APPROVED',
   now() - interval '130 minutes')
on conflict do nothing;
insert into app.orders (id, org_id, patient_id, medication, strength, quantity, directions,
                        refills, queued_at) values
  ('0d000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001',
   'e1000000-0000-4000-8000-000000000001', 'Bupropion XL', '150 mg', '30 tablets',
   'Take one tablet by mouth every morning.', 1, now() - interval '100 minutes'),
  ('0d000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000002',
   'e1000000-0000-4000-8000-000000000003', 'Sertraline', '50 mg', '30 tablets',
   'Take one tablet by mouth daily with food.', 2, now() - interval '90 minutes')
on conflict do nothing;
"#;

/// Dana's day off at maple (Friday 2027-03-12, New York time), the demo's time off.
pub const TIME_OFF: Uuid = uuid!("0e000000-0000-4000-8000-000000000001");

/// Weekly hours in each clinic's zone: Dana at maple Monday to Thursday 09:00–17:00 and at
/// harbor Friday 09:00–13:00, Sam at maple Monday to Friday with a lunch hour, Rio at harbor
/// Monday to Friday 10:00–18:00; Dana's day off; a 10-minute buffer at maple.
const AVAILABILITY: &str = r#"
insert into app.availability_hours (org_id, clinician_id, weekday, starts, ends)
select c.id, h.clinician_id, d, h.starts, h.ends
from (values
  ('maple', 'd1000000-0000-4000-8000-000000000002'::uuid, 1, 4, '09:00'::time, '17:00'::time),
  ('harbor', 'd1000000-0000-4000-8000-000000000002', 5, 5, '09:00', '13:00'),
  ('maple', 'd1000000-0000-4000-8000-000000000003', 1, 5, '09:00', '12:00'),
  ('maple', 'd1000000-0000-4000-8000-000000000003', 1, 5, '13:00', '17:00'),
  ('harbor', 'd1000000-0000-4000-8000-000000000006', 1, 5, '10:00', '18:00')
) as h (slug, clinician_id, first_day, last_day, starts, ends)
join app.clinics c on c.slug = h.slug
cross join lateral generate_series(h.first_day, h.last_day) d
on conflict do nothing;
insert into app.time_off (id, org_id, clinician_id, starts_at, ends_at, reason, created_by)
values ('0e000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001',
        'd1000000-0000-4000-8000-000000000002', '2027-03-12T00:00:00-05:00',
        '2027-03-13T00:00:00-05:00', 'Conference', 'd1000000-0000-4000-8000-000000000002')
on conflict do nothing;
update app.clinics set buffer_minutes = 10 where slug = 'maple';
"#;

fn clinic(slug: &str) -> Result<&'static Clinic> {
    match CLINICS.iter().find(|c| c.slug == slug) {
        Some(clinic) => Ok(clinic),
        None => bail!(
            "no demo clinic {slug:?}; try one of: {}",
            CLINICS
                .iter()
                .map(|c| c.slug)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Who `email` is at clinic `slug`: admin, therapist or patient.
pub fn identity(slug: &str, email: &str) -> Result<Identity> {
    let clinic = clinic(slug)?;
    for clinician in CLINICIANS.iter().filter(|c| c.email == email) {
        if let Some(m) = clinician.memberships.iter().find(|m| m.clinic == slug) {
            return Ok(Identity {
                sub: clinician.id,
                org_id: Some(clinic.id),
                app_role: if m.is_admin { "admin" } else { "therapist" },
                patient_id: None,
            });
        }
    }
    if let Some(patient) = PATIENTS
        .iter()
        .find(|p| p.email == email && p.clinic == slug)
    {
        return Ok(Identity {
            sub: patient.id,
            org_id: Some(clinic.id),
            app_role: "patient",
            patient_id: Some(patient.id),
        });
    }
    bail!("{email} has no role at {slug}; see xtask/src/demo.rs for the demo identities")
}

/// Inserts the demo data (as the superuser; idempotent).
pub async fn seed(admin: &Client, notes_keys: &Keyring) -> Result<()> {
    for c in CLINICS {
        admin
            .execute(
                "insert into app.clinics (id, slug, name, time_zone, feature_flags)
                 values ($1, $2, $3, $4, $5::text::jsonb) on conflict (id) do nothing",
                &[&c.id, &c.slug, &c.name, &c.time_zone, &c.flags],
            )
            .await?;
    }
    for c in CLINICIANS {
        admin
            .execute(
                "insert into app.clinicians (id, email, first_name, last_name, specialization)
                 values ($1, $2, $3, $4, $5) on conflict (id) do nothing",
                &[
                    &c.id,
                    &c.email,
                    &c.first_name,
                    &c.last_name,
                    &c.specialization,
                ],
            )
            .await?;
        for m in c.memberships {
            admin
                .execute(
                    "insert into app.clinic_memberships (org_id, clinician_id, kind, is_admin, approved)
                     values ($1, $2, $3, $4, $5) on conflict do nothing",
                    &[&clinic(m.clinic)?.id, &c.id, &m.kind, &m.is_admin, &m.approved],
                )
                .await?;
        }
    }
    for p in PATIENTS {
        admin
            .execute(
                "insert into app.patients (id, org_id, email, first_name, last_name)
                 values ($1, $2, $3, $4, $5) on conflict (id) do nothing",
                &[
                    &p.id,
                    &clinic(p.clinic)?.id,
                    &p.email,
                    &p.first_name,
                    &p.last_name,
                ],
            )
            .await?;
        for email in p.care_team {
            admin
                .execute(
                    "insert into app.care_team (org_id, patient_id, clinician_id, assigned_by,
                                                updated_by)
                     select $1, $2, c.id, c.id, c.id from app.clinicians c where c.email = $3
                     on conflict do nothing",
                    &[&clinic(p.clinic)?.id, &p.id, email],
                )
                .await?;
        }
    }
    for v in SERVICES {
        admin
            .execute(
                "insert into app.services (id, org_id, name, cpt_code)
                 values ($1, $2, $3, $4) on conflict (id) do nothing",
                &[&v.id, &clinic(v.clinic)?.id, &v.name, &v.cpt_code],
            )
            .await?;
    }
    admin.batch_execute(PRESCRIBING).await?;
    admin.batch_execute(APPOINTMENTS).await?;
    seed_messages(admin, notes_keys).await?;
    seed_intake(admin, notes_keys).await?;
    admin.batch_execute(AVAILABILITY).await?;
    admin.batch_execute(GUARDIANSHIPS).await?;
    Ok(())
}

/// Jordan's booked session with Sam on Tuesday 2027-03-09, 10:00–10:50 in maple (for the
/// portal's confirm, cancel and reschedule-request lines, and staff moves).
pub const JORDANS_SESSION: Uuid = uuid!("5e000000-0000-4000-8000-000000000001");
/// Morgan's session with Sam on 2026-11-16, past (for attendance).
pub const MORGANS_PAST_SESSION: Uuid = uuid!("5e000000-0000-4000-8000-000000000002");

/// The appointments of the demo: the two sessions above, and Morgan on Sam's waitlist for
/// March 2027, so cancelling Jordan's session offers its time to Morgan.
const APPOINTMENTS: &str = "
insert into app.sessions (id, org_id, clinician_id, patient_id, status, during, service_id,
                          cpt_code, cpt_units, created_by)
values
  ('5e000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001',
   'd1000000-0000-4000-8000-000000000003', 'e1000000-0000-4000-8000-000000000001', 'scheduled',
   '[2027-03-09 15:00Z, 2027-03-09 15:50Z)', 'a1000000-0000-4000-8000-000000000001', '90834', 1,
   'd1000000-0000-4000-8000-000000000003'),
  ('5e000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-000000000001',
   'd1000000-0000-4000-8000-000000000003', 'e1000000-0000-4000-8000-000000000002', 'scheduled',
   '[2026-11-16 15:00Z, 2026-11-16 15:50Z)', 'a1000000-0000-4000-8000-000000000001', '90834', 1,
   'd1000000-0000-4000-8000-000000000003')
on conflict do nothing;
insert into app.waitlist_entries (id, org_id, patient_id, clinician_id, earliest, latest)
values ('3a000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001',
        'e1000000-0000-4000-8000-000000000002', 'd1000000-0000-4000-8000-000000000003',
        '2027-03-01 05:00Z', '2027-04-01 04:00Z')
on conflict do nothing;
";

/// Jordan's conversation with their care team at maple (Sam and Dana read it).
pub const JORDANS_THREAD: Uuid = uuid!("7e000000-0000-4000-8000-000000000001");

/// The conversation's messages, oldest first: (id, sender, sender's id, text).
const THREAD_MESSAGES: [(Uuid, &str, Uuid, &str); 2] = [
    (
        uuid!("7e000000-0000-4000-8000-000000000101"),
        "patient",
        uuid!("e1000000-0000-4000-8000-000000000001"),
        "Is it fine to move Tuesday's session to the afternoon?",
    ),
    (
        uuid!("7e000000-0000-4000-8000-000000000102"),
        "staff",
        uuid!("d1000000-0000-4000-8000-000000000003"),
        "Yes: ask for a new time in the portal and I will approve it.",
    ),
];

/// Seeds Jordan's conversation, its text sealed with the stack's notes key as the functions
/// seal it (bound to the clinic and the message id).
async fn seed_messages(admin: &Client, keys: &Keyring) -> Result<()> {
    let maple = clinic("maple")?.id;
    let jordan = PATIENTS[0].id;
    admin
        .execute(
            "insert into app.threads (id, org_id, patient_id, created_by, last_sender,
                                      last_message_at)
             values ($1, $2, $3, $3, 'staff', '2026-11-20 15:00Z') on conflict do nothing",
            &[&JORDANS_THREAD, &maple, &jordan],
        )
        .await?;
    for (n, (id, sender, sender_id, text)) in THREAD_MESSAGES.iter().enumerate() {
        let bound = wardline_shared::messages::context(
            Some(maple),
            *id,
            JORDANS_THREAD,
            sender,
            *sender_id,
        );
        let sealed = keys.seal(&bound, text)?;
        admin
            .execute(
                "insert into app.messages (id, org_id, thread_id, patient_id, sender, sender_id,
                                           key_id, nonce, ciphertext, created_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                         '2026-11-20 14:00Z'::timestamptz + $10::int * interval '1 hour')
                 on conflict do nothing",
                &[
                    id,
                    &maple,
                    &JORDANS_THREAD,
                    &jordan,
                    sender,
                    sender_id,
                    &sealed.key_id,
                    &sealed.nonce,
                    &sealed.ciphertext,
                    &(n as i32),
                ],
            )
            .await?;
    }
    Ok(())
}

/// Maple's intake forms: a PHQ-9 screening and a new-client questionnaire (each at version 1).
pub const FORMS: [Uuid; 2] = [
    uuid!("fa000000-0000-4000-8000-000000000001"),
    uuid!("fa000000-0000-4000-8000-000000000002"),
];
/// Their versions 1, in the same order.
pub const FORM_VERSIONS: [Uuid; 2] = [
    uuid!("fb000000-0000-4000-8000-000000000001"),
    uuid!("fb000000-0000-4000-8000-000000000002"),
];

/// The schemas of [`FORM_VERSIONS`].
fn form_schemas() -> [(&'static str, Value); 2] {
    [
        (
            "Depression screening (PHQ-9)",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["phq9"],
                "additionalProperties": false,
                "properties": {
                    "phq9": {"type": "integer", "minimum": 0, "maximum": 27,
                             "title": "Total score"},
                    "difficulty": {"enum": ["not difficult", "somewhat", "very", "extremely"],
                                   "title": "How difficult have these problems made things?"},
                },
            }),
        ),
        (
            "New client questionnaire",
            json!({
                "type": "object",
                "required": ["reason"],
                "properties": {
                    "reason": {"type": "string", "minLength": 1, "maxLength": 2000,
                               "title": "What brings you to us?"},
                    "medications": {"type": "string", "maxLength": 2000},
                    "firstSymptoms": {"type": "string", "format": "date"},
                },
            }),
        ),
    ]
}

/// Jordan's tasks from Sam at maple: the PHQ-9 (open), an insurance card to upload (open),
/// telehealth consent (open), the questionnaire (handed in) and an earlier PHQ-9 (handed in).
pub const JORDANS_TASKS: [Uuid; 5] = [
    uuid!("fc000000-0000-4000-8000-000000000001"),
    uuid!("fc000000-0000-4000-8000-000000000002"),
    uuid!("fc000000-0000-4000-8000-000000000003"),
    uuid!("fc000000-0000-4000-8000-000000000004"),
    uuid!("fc000000-0000-4000-8000-000000000005"),
];

/// One of Jordan's demo tasks, as Sam assigned it.
struct DemoTask {
    kind: &'static str,
    title: &'static str,
    due_on: Option<&'static str>,
    form_version: Option<Uuid>,
    consent_type: Option<&'static str>,
    status: &'static str,
}

/// [`JORDANS_TASKS`], in the same order.
const TASKS: [DemoTask; 5] = [
    DemoTask {
        kind: "form",
        title: "Complete the PHQ-9 before your next session",
        due_on: Some("2027-03-08"),
        form_version: Some(FORM_VERSIONS[0]),
        consent_type: None,
        status: "open",
    },
    DemoTask {
        kind: "upload",
        title: "Upload a photo of your insurance card",
        due_on: None,
        form_version: None,
        consent_type: None,
        status: "open",
    },
    DemoTask {
        kind: "consent",
        title: "Consent to telehealth sessions",
        due_on: None,
        form_version: None,
        consent_type: Some("telehealth"),
        status: "open",
    },
    DemoTask {
        kind: "form",
        title: "Tell us about yourself",
        due_on: None,
        form_version: Some(FORM_VERSIONS[1]),
        consent_type: None,
        status: "submitted",
    },
    DemoTask {
        kind: "form",
        title: "PHQ-9 at intake",
        due_on: None,
        form_version: Some(FORM_VERSIONS[0]),
        consent_type: None,
        status: "submitted",
    },
];

/// What Jordan handed in for the last two tasks: (submission, task, form version, answers).
fn jordans_submissions() -> [(Uuid, Uuid, Uuid, Value); 2] {
    [
        (
            uuid!("fd000000-0000-4000-8000-000000000001"),
            JORDANS_TASKS[3],
            FORM_VERSIONS[1],
            json!({"reason": "Trouble sleeping and low mood since the summer.",
                   "firstSymptoms": "2026-07-01"}),
        ),
        (
            uuid!("fd000000-0000-4000-8000-000000000002"),
            JORDANS_TASKS[4],
            FORM_VERSIONS[0],
            json!({"phq9": 14, "difficulty": "somewhat"}),
        ),
    ]
}

/// Seeds maple's forms and Jordan's tasks, the answers sealed with the stack's notes key as
/// the portal seals them (bound to the clinic, the submission, its task and its version).
async fn seed_intake(admin: &Client, keys: &Keyring) -> Result<()> {
    let maple = clinic("maple")?.id;
    let (jordan, sam) = (PATIENTS[0].id, CLINICIANS[2].id);
    for ((form, version), (name, schema)) in FORMS.iter().zip(FORM_VERSIONS).zip(form_schemas()) {
        admin
            .execute(
                "with form as (
                   insert into app.forms (id, org_id, name, created_by, created_at)
                   values ($1, $3, $4, $6, '2026-11-01 15:00Z') on conflict do nothing
                 )
                 insert into app.form_versions (id, org_id, form_id, version, schema, created_by,
                                                created_at)
                 values ($2, $3, $1, 1, $5, $6, '2026-11-01 15:00Z') on conflict do nothing",
                &[form, &version, &maple, &name, &schema, &CLINICIANS[0].id],
            )
            .await?;
    }
    for (n, (id, task)) in JORDANS_TASKS.iter().zip(TASKS).enumerate() {
        admin
            .execute(
                "insert into app.patient_tasks (id, org_id, patient_id, kind, title, due_on,
                                                form_version_id, consent_type, status,
                                                assigned_by, assigned_at, updated_by)
                 values ($1, $2, $3, $4, $5, $6::text::date, $7, $8, $9, $10,
                         '2026-11-18 15:00Z'::timestamptz + $11::int * interval '1 minute',
                         case $9 when 'open' then $10::uuid else $3::uuid end)
                 on conflict do nothing",
                &[
                    id,
                    &maple,
                    &jordan,
                    &task.kind,
                    &task.title,
                    &task.due_on,
                    &task.form_version,
                    &task.consent_type,
                    &task.status,
                    &sam,
                    &(n as i32),
                ],
            )
            .await?;
    }
    for (submission, task, version, answers) in jordans_submissions() {
        let bound =
            wardline_shared::sealed::task_answers_context(Some(maple), submission, task, version);
        let sealed = keys.seal(&bound, &answers.to_string())?;
        admin
            .execute(
                "insert into app.task_submissions (id, org_id, task_id, patient_id,
                                                   form_version_id, key_id, nonce, ciphertext,
                                                   submitted_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, '2026-11-19 15:00Z')
                 on conflict do nothing",
                &[
                    &submission,
                    &maple,
                    &task,
                    &jordan,
                    &version,
                    &sealed.key_id,
                    &sealed.nonce,
                    &sealed.ciphertext,
                ],
            )
            .await?;
    }
    Ok(())
}
