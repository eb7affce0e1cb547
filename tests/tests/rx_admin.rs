//! Multi-clinic providers and the admins' side of prescribing (issue 21, part 3), outside-in:
//! the 004 user flows (a provider's user, a user added to another clinic by a super admin or to
//! their own by an admin), the provider list, the admins' RX queue for a clinic admin and a
//! super admin, orders an admin queues for one prescriber, and refills from admin to
//! prescriber — each allowed and refused, with what it wrote and audited where.

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_tests::{
    all_clinics, as_user,
    prescribing::{connect_outside, paid_invoice, queued_order, refill, Prescribing},
    send, staff, Reply, TestDb,
};
use xtask::keys::Identity;

async fn call(
    db: &TestDb,
    who: &Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    db.call_as(&provider_queue::FUNCTION, who, method, path, body)
        .await
}

async fn post(db: &TestDb, who: &Identity, path: &str, body: Value) -> Reply {
    call(db, who, Method::POST, path, Some(body)).await
}

async fn get(db: &TestDb, who: &Identity, path: &str) -> Reply {
    call(db, who, Method::GET, path, None).await
}

/// `POST /api/admin/orders` as `who` with this Idempotency-Key.
async fn queue_order(db: &TestDb, who: &Identity, key: &str, body: &Value) -> Reply {
    send(
        &db.ctx,
        &provider_queue::FUNCTION,
        Method::POST,
        "/api/admin/orders",
        Some(&db.token(who)),
        &[("Idempotency-Key", key)],
        Some(&body.to_string()),
    )
    .await
}

#[track_caller]
fn assert_field(reply: &Reply, status: u16, code: &str, field: &str) {
    reply.assert_problem(status, code);
    assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
}

/// Audit events of `clinic`'s chain with this action.
async fn audited(db: &TestDb, clinic: Uuid, action: &str) -> i64 {
    db.count(
        "select count(*) from audit.events where org_id = $1 and action = $2",
        &[&clinic, &action],
    )
    .await
}

/// Everything a refused request might have written.
async fn written(db: &TestDb) -> i64 {
    db.count(
        "select (select count(*) from app.clinicians) + (select count(*) from app.clinic_memberships)
                + (select count(*) from app.providers where clinician_id is not null)
                + (select count(*) from app.provider_clinics) + (select count(*) from app.orders)
                + (select count(*) from app.outbox) + (select count(*) from audit.events)",
        &[],
    )
    .await
}

fn ids(items: &Value) -> Vec<Uuid> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("an id").parse().unwrap())
        .collect()
}

/// A prescriber profile of `clinician` (or none: without a user) assigned to `clinics`, with
/// credentials in each.
async fn provider(db: &TestDb, clinician: Option<Uuid>, clinics: &[Uuid]) -> Uuid {
    let id = Uuid::new_v4();
    db.admin
        .execute(
            "insert into app.providers (id, clinician_id) values ($1, $2)",
            &[&id, &clinician],
        )
        .await
        .unwrap();
    for clinic in clinics {
        db.admin
            .execute(
                "insert into app.provider_clinics (provider_id, org_id, dea_number,
                                                   license_number, license_state)
                 values ($1, $2, 'FA2468139', 'NY-9', 'NY')",
                &[&id, clinic],
            )
            .await
            .unwrap();
    }
    id
}

/// The ids of the prescription queue of `clinician` (signed in at `clinic`), cross-clinic.
async fn prescriber_queue(db: &TestDb, clinician: Uuid, clinic: Uuid) -> Vec<Uuid> {
    let who = staff(clinician, clinic, "therapist");
    let reply = get(db, &who, "/api/provider/prescription-queue").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    ids(&reply.body["items"])
}

#[tokio::test]
async fn a_super_admin_gives_a_provider_its_user_in_every_clinic_it_is_assigned_to() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, b, c) = (p.w.clinic_a, p.w.clinic_b, p.clinic_c);
    let imported = provider(&db, None, &[a, b, c]).await;
    db.admin
        .execute(
            "update app.provider_clinics set active = false where provider_id = $1 and org_id = $2",
            &[&imported, &c],
        )
        .await
        .unwrap();
    let order_b = queued_order(&db, b, p.w.patient_b, 10).await;
    let path = format!("/api/super-admin/providers/{imported}/user");
    let body = json!({ "email": " Nia@Test.Example ", "firstName": "Nia", "lastName": "Newton" });

    // Only super admins; bad input names its field; all of it writes nothing.
    let stranded = provider(&db, None, &[]).await;
    let before = written(&db).await;
    for who in [p.w.admin_of_a(), p.w.therapist_of_a()] {
        post(&db, &who, &path, body.clone())
            .await
            .assert_problem(403, "forbidden");
    }
    let root = p.super_admin();
    for (bad, field) in [
        (
            json!({ "email": "nia", "firstName": "Nia", "lastName": "Newton" }),
            "email",
        ),
        (
            json!({ "email": "nia@test.example", "firstName": "Nia" }),
            "lastName",
        ),
        (
            json!({ "email": "nia@test.example", "firstName": " ", "lastName": "N" }),
            "firstName",
        ),
    ] {
        assert_field(
            &post(&db, &root, &path, bad).await,
            400,
            "invalid_input",
            field,
        );
    }
    post(
        &db,
        &root,
        &format!("/api/super-admin/providers/{}/user", Uuid::new_v4()),
        body.clone(),
    )
    .await
    .assert_problem(404, "not_found");
    post(
        &db,
        &root,
        &format!("/api/super-admin/providers/{stranded}/user"),
        body.clone(),
    )
    .await
    .assert_problem(400, "no_clinics");
    // The e-mail of a user who prescribes already: that user cannot take a second profile.
    let taken = json!({ "email": "both@test.example", "firstName": "B", "lastName": "B" });
    assert_field(
        &post(&db, &root, &path, taken).await,
        409,
        "user_is_a_provider",
        "email",
    );
    assert_eq!(written(&db).await, before);

    let reply = post(&db, &root, &path, body.clone()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["userCreated"], true);
    assert_eq!(reply.body["user"]["email"], "nia@test.example");
    let user: Uuid = reply.body["user"]["id"].as_str().unwrap().parse().unwrap();
    let clinics: Vec<&Value> = reply.body["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["clinicId"])
        .collect();
    assert_eq!(
        clinics.len(),
        2,
        "A and B, not C (inactive there): {reply:?}"
    );
    let memberships = db
        .count(
            "select count(*) from app.clinic_memberships
             where clinician_id = $1 and kind = 'prescriber' and active and approved
               and org_id = any($2)",
            &[&user, &vec![a, b]],
        )
        .await;
    assert_eq!(memberships, 2);
    for clinic in [a, b] {
        assert_eq!(audited(&db, clinic, "provider.user_link").await, 1);
        assert_eq!(audited(&db, clinic, "clinic_user.add").await, 1);
        assert_eq!(db.first_broken_link(clinic).await, None);
        let invite: Value = db
            .admin
            .query_one(
                "select payload from app.outbox
                 where org_id = $1 and kind = 'staff_access' and recipient = 'nia@test.example'",
                &[&clinic],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(invite, json!({ "clinicianId": user }), "ids only");
    }
    assert_eq!(audited(&db, c, "provider.user_link").await, 0);

    // The new user prescribes: their queue has B's order.
    assert!(prescriber_queue(&db, user, a).await.contains(&order_b));

    // Once only.
    let before = written(&db).await;
    post(&db, &root, &path, body)
        .await
        .assert_problem(409, "provider_has_user");
    assert_eq!(written(&db).await, before);

    // An existing user is reused: therapist_b, by e-mail (names ignored), at B.
    let second = provider(&db, None, &[b]).await;
    let reply = post(
        &db,
        &root,
        &format!("/api/super-admin/providers/{second}/user"),
        json!({ "email": "therapist.b@test.example", "firstName": "X", "lastName": "Y" }),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["userCreated"], false);
    assert_eq!(reply.body["user"]["id"], json!(p.w.therapist_b));
    assert_eq!(reply.body["user"]["lastName"], "Beta");
}

#[tokio::test]
async fn a_provider_added_to_a_second_clinic_sees_its_orders_in_the_unified_queue() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, b) = (p.w.clinic_a, p.w.clinic_b);
    let tom = p.w.therapist_a;
    let toms = provider(&db, Some(tom), &[a]).await;
    let order_a = queued_order(&db, a, p.w.patient_a, 20).await;
    let order_b = queued_order(&db, b, p.w.patient_b, 10).await;
    assert_eq!(prescriber_queue(&db, tom, a).await, vec![order_a]);

    let path = format!("/api/super-admin/clinics/{b}/users");
    let body = json!({
        "userId": tom,
        "asProvider": { "deaNumber": "fa2468139", "licenseNumber": "NJ-7", "licenseState": "nj",
                        "titleLine": "Tom Alpha, NP" },
    });
    let before = written(&db).await;
    post(&db, &p.w.admin_of_b(), &path, body.clone())
        .await
        .assert_problem(403, "forbidden");
    let root = p.super_admin();
    let unknown = format!("/api/super-admin/clinics/{}/users", Uuid::new_v4());
    assert_field(
        &post(&db, &root, &unknown, body.clone()).await,
        422,
        "unknown_clinic",
        "id",
    );
    assert_field(
        &post(&db, &root, &path, json!({ "userId": Uuid::new_v4() })).await,
        422,
        "clinician_not_found",
        "userId",
    );
    assert_field(
        &post(
            &db,
            &root,
            &path,
            json!({ "userId": tom, "email": "t@test.example" }),
        )
        .await,
        400,
        "invalid_input",
        "email",
    );
    assert_field(
        &post(
            &db,
            &root,
            &path,
            json!({ "userId": tom, "asProvider": { "deaNumber": "FA2468130" } }),
        )
        .await,
        400,
        "invalid_input",
        "asProvider.deaNumber",
    );
    assert_field(
        &post(&db, &root, &path, json!({ "userId": tom, "kind": "nurse" })).await,
        400,
        "invalid_input",
        "kind",
    );
    assert_eq!(written(&db).await, before);

    let reply = post(&db, &root, &path, body.clone()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["created"], true);
    assert_eq!(
        reply.body["membership"],
        json!({ "clinicId": b, "kind": "prescriber", "isAdmin": false, "active": true,
                "approved": true })
    );
    assert_eq!(reply.body["provider"]["providerId"], json!(toms));
    let assignment = &reply.body["provider"]["assignment"];
    assert_eq!(
        (
            &assignment["clinicId"],
            &assignment["deaNumber"],
            &assignment["licenseState"]
        ),
        (&json!(b), &json!("FA2468139"), &json!("NJ"))
    );
    // Shared: one queue of A and B, oldest first.
    assert_eq!(prescriber_queue(&db, tom, a).await, vec![order_a, order_b]);
    for action in ["clinic_user.add", "provider_clinic.create"] {
        assert_eq!(audited(&db, b, action).await, 1, "{action}");
        assert_eq!(audited(&db, a, action).await, 0, "{action}");
    }
    assert_eq!(
        db.count(
            "select count(*) from app.outbox where org_id = $1 and kind = 'staff_access'",
            &[&b]
        )
        .await,
        1
    );

    // Again: the membership exists (200), nothing changes and no second e-mail.
    let before = written(&db).await;
    let reply = post(&db, &root, &path, body).await;
    assert_eq!(
        (reply.status.as_u16(), &reply.body["created"]),
        (200, &json!(false))
    );
    assert_eq!(written(&db).await, before);
}

#[tokio::test]
async fn a_clinic_admin_adds_users_to_their_own_clinic_only() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, b) = (p.w.clinic_a, p.w.clinic_b);
    let path = "/api/admin/clinic/users";

    // A new user, by e-mail and names.
    let reply = post(
        &db,
        &p.w.admin_of_a(),
        path,
        json!({ "email": "Ray@Test.Example", "firstName": "Ray", "lastName": "Reed", "isAdmin": true }),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["userCreated"], true);
    assert_eq!(
        reply.body["membership"],
        json!({ "clinicId": a, "kind": "therapist", "isAdmin": true, "active": true,
                "approved": true })
    );
    let ray: Uuid = reply.body["user"]["id"].as_str().unwrap().parse().unwrap();
    // Signed in with that id as `sub`, Ray is an admin of A.
    let reply = get(
        &db,
        &staff(ray, a, "admin"),
        "/api/admin/prescription-queue",
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // An existing user of B, as a prescriber: a profile is made and A joins their set.
    let order_a = queued_order(&db, a, p.w.patient_a, 5).await;
    let reply = post(
        &db,
        &p.w.admin_of_a(),
        path,
        json!({ "email": "therapist.b@test.example",
                "asProvider": { "deaNumber": "FA2468139", "licenseNumber": "NY-3",
                                "licenseState": "NY" } }),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["userCreated"], false);
    assert_eq!(reply.body["membership"]["kind"], "prescriber");
    assert!(reply.body["provider"]["providerId"].is_string());
    assert_eq!(
        prescriber_queue(&db, p.w.therapist_b, b).await,
        vec![order_a]
    );
    assert_eq!(audited(&db, a, "clinic_user.add").await, 2);
    assert_eq!(audited(&db, a, "provider_clinic.create").await, 1);
    assert_eq!(audited(&db, b, "clinic_user.add").await, 0);

    // Refused, writing nothing: an unknown e-mail without names, a userId, a therapist, a
    // deactivated user.
    let before = written(&db).await;
    assert_field(
        &post(
            &db,
            &p.w.admin_of_a(),
            path,
            json!({ "email": "nobody@test.example" }),
        )
        .await,
        422,
        "clinician_not_found",
        "firstName",
    );
    assert_field(
        &post(
            &db,
            &p.w.admin_of_a(),
            path,
            json!({ "email": "x@test.example", "userId": ray }),
        )
        .await,
        400,
        "invalid_input",
        "userId",
    );
    assert_field(
        &post(&db, &p.w.admin_of_a(), path, json!({ "kind": "staff" })).await,
        400,
        "invalid_input",
        "email",
    );
    post(
        &db,
        &p.w.therapist_of_a(),
        path,
        json!({ "email": "ray@test.example" }),
    )
    .await
    .assert_problem(403, "forbidden");
    db.admin
        .execute(
            "update app.clinicians set active = false where id = $1",
            &[&p.w.therapist_b],
        )
        .await
        .unwrap();
    assert_field(
        &post(
            &db,
            &p.w.admin_of_b(),
            path,
            json!({ "email": "therapist.b@test.example" }),
        )
        .await,
        422,
        "clinician_inactive",
        "email",
    );
    assert_eq!(written(&db).await, before);

    // B's admin adds to B only, and in SQL neither adds to nor changes A's staff.
    let reply = post(
        &db,
        &p.w.admin_of_b(),
        path,
        json!({ "email": "ray@test.example" }),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["membership"]["clinicId"], json!(b));
    let mut user = db.authenticator().await;
    let insert = as_user(
        &mut user,
        &p.w.admin_of_b(),
        "insert into app.clinic_memberships (org_id, clinician_id, is_admin, approved)
         values ($1, $2, true, true)",
        &[&a, &p.w.admin_b],
    )
    .await;
    assert_eq!(
        insert.unwrap_err().code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let update = as_user(
        &mut user,
        &p.w.admin_of_b(),
        "update app.clinic_memberships set active = false where org_id = $1 returning 1",
        &[&a],
    )
    .await
    .unwrap();
    assert!(update.is_empty());
}

#[tokio::test]
async fn the_provider_list_is_the_callers_clinic_or_a_super_admins_named_one() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, c) = (p.w.clinic_a, p.clinic_c);
    let imported = provider(&db, None, &[a]).await;
    let retired = provider(&db, Some(p.w.therapist_a), &[a]).await;
    db.admin
        .execute(
            "update app.providers set active = false where id = $1",
            &[&retired],
        )
        .await
        .unwrap();

    let reply = get(&db, &p.w.therapist_of_a(), "/api/providers").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["clinicId"], json!(a));
    let providers = reply.body["providers"].as_array().unwrap();
    assert_eq!(
        providers.len(),
        1,
        "staff see their members' active profiles: {reply:?}"
    );
    let bea = &providers[0];
    assert_eq!(
        (
            &bea["providerId"],
            &bea["userId"],
            &bea["lastName"],
            &bea["credentialed"],
            &bea["isPrimary"]
        ),
        (
            &json!(p.provider),
            &json!(p.w.both),
            &json!("Both"),
            &json!(true),
            &json!(true)
        )
    );
    // The token's own clinic may be named; another is 403 for anyone but a super admin.
    let own = get(
        &db,
        &p.w.admin_of_a(),
        &format!("/api/providers?clinicId={a}"),
    )
    .await;
    assert_eq!(own.body, reply.body);
    assert_field(
        &get(
            &db,
            &p.w.admin_of_a(),
            &format!("/api/providers?clinicId={c}"),
        )
        .await,
        403,
        "forbidden",
        "clinicId",
    );
    assert_field(
        &get(&db, &p.w.admin_of_a(), "/api/providers?clinicId=maple").await,
        400,
        "invalid_input",
        "clinicId",
    );

    // A super admin names any clinic, and sees a profile without a user too.
    let root = p.super_admin();
    let reply = get(&db, &root, &format!("/api/providers?clinicId={a}")).await;
    let listed: Vec<&Value> = reply.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["providerId"])
        .collect();
    assert_eq!(listed.len(), 2, "{reply:?}");
    assert!(listed.contains(&&json!(imported)));
    let reply = get(&db, &root, &format!("/api/providers?clinicId={c}")).await;
    assert_eq!(reply.body, json!({ "clinicId": c, "providers": [] }));
    assert_field(
        &get(
            &db,
            &root,
            &format!("/api/providers?clinicId={}", Uuid::new_v4()),
        )
        .await,
        422,
        "unknown_clinic",
        "clinicId",
    );
}

#[tokio::test]
async fn the_admin_queue_is_one_clinic_for_an_admin_and_every_clinic_for_a_super_admin() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, b, c) = (p.w.clinic_a, p.w.clinic_b, p.clinic_c);
    let mut of = std::collections::HashMap::new();
    for (n, clinic) in [a, b, c].into_iter().enumerate() {
        let patient = p.patient_of(clinic);
        let base = 100 - 30 * n as i32;
        let assigned = queued_order(&db, clinic, patient, base - 5).await;
        if clinic != c {
            db.admin
                .execute(
                    "update app.orders set assigned_provider_id = $2 where id = $1",
                    &[&assigned, &p.provider],
                )
                .await
                .unwrap();
        }
        let items = vec![
            paid_invoice(&db, clinic, patient, base).await,
            assigned,
            refill(&db, clinic, patient, "PENDING_ADMIN", base - 10).await,
            refill(&db, clinic, patient, "APPROVED", base - 15).await,
            refill(&db, clinic, patient, "PENDING_PROVIDER", base - 20).await,
        ];
        // Handled: not in any queue.
        refill(&db, clinic, patient, "PRESCRIBED", base - 1).await;
        of.insert(clinic, items);
    }
    let queue = "/api/admin/prescription-queue";

    // A clinic admin: their clinic's items, oldest first, with the assignee of an order.
    let reply = get(&db, &p.w.admin_of_a(), queue).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(ids(&reply.body["items"]), of[&a]);
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items[1]["assignedProviderId"], json!(p.provider));
    assert_eq!(items[2]["status"], "PENDING_ADMIN");
    assert!(items
        .iter()
        .all(|i| i["clinicId"] == json!(a) && i["patient"]["firstName"] == "Pia"));
    assert_eq!(
        get(&db, &p.w.admin_of_a(), &format!("{queue}?clinicId={a}"))
            .await
            .body,
        reply.body
    );
    // Pages of two walk the same list.
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = get(&db, &p.w.admin_of_a(), &format!("{queue}{query}")).await;
        walked.extend(ids(&page.body["items"]));
        match page.body["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, of[&a]);
    assert_eq!(
        ids(&get(&db, &p.w.admin_of_b(), queue).await.body["items"]),
        of[&b]
    );
    assert_field(
        &get(&db, &p.w.admin_of_a(), &format!("{queue}?clinicId={b}")).await,
        403,
        "forbidden",
        "clinicId",
    );
    get(&db, &p.w.therapist_of_a(), queue)
        .await
        .assert_problem(403, "forbidden");
    assert_field(
        &get(&db, &p.w.admin_of_a(), &format!("{queue}?limit=0")).await,
        400,
        "invalid_input",
        "limit",
    );

    // A super admin: every clinic without clinicId, one with it.
    let root = p.super_admin();
    let reply = get(&db, &root, &format!("{queue}?limit=200")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let all: Vec<Uuid> = [c, b, a]
        .iter()
        .flat_map(|clinic| of[clinic].clone())
        .collect();
    let mut got = ids(&reply.body["items"]);
    let mut expected = all.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["patient"]["id"].is_string()));
    assert_eq!(
        ids(&get(&db, &root, &format!("{queue}?clinicId={c}")).await.body["items"]),
        of[&c]
    );
    assert_field(
        &get(&db, &root, &format!("{queue}?clinicId={}", Uuid::new_v4())).await,
        422,
        "unknown_clinic",
        "clinicId",
    );

    // In SQL: an admin of A reads none of B's or C's work; a super admin signed in at A reads
    // A's alone, and every clinic's only in an all-clinics request.
    let mut user = db.authenticator().await;
    for (who, clinics) in [
        (p.w.admin_of_a(), vec![a]),
        (p.super_admin(), vec![a]),
        (all_clinics(p.super_admin), vec![a, b, c]),
        (p.w.therapist_of_a(), vec![]),
    ] {
        for table in ["app.invoices", "app.refills", "app.orders"] {
            let rows = as_user(
                &mut user,
                &who,
                &format!("select count(*) filter (where org_id <> all($1)), count(*) from {table}"),
                &[&clinics],
            )
            .await
            .unwrap();
            let (outside, seen): (i64, i64) = (rows[0].get(0), rows[0].get(1));
            assert_eq!(outside, 0, "{who:?} {table}");
            assert_eq!(seen > 0, !clinics.is_empty(), "{who:?} {table}");
        }
    }
}

#[tokio::test]
async fn an_admin_queued_order_reaches_its_assigned_prescriber_only() {
    let mut db = TestDb::new().await;
    connect_outside(&mut db);
    let p = Prescribing::create(&db).await;
    let (a, b) = (p.w.clinic_a, p.w.clinic_b);
    let tom = p.w.therapist_a;
    provider(&db, Some(tom), &[a]).await;
    let elsewhere = provider(&db, Some(p.w.therapist_b), &[b]).await;
    let body = json!({
        "patientId": p.w.patient_a, "providerId": p.provider, "medication": "Lithium carbonate",
        "strength": "300 mg", "quantity": "60 capsules", "directions": "One twice daily.",
        "refills": 1,
    });

    // Refused, writing nothing.
    let before = written(&db).await;
    for (who, bad, status, code, field) in [
        (
            p.w.admin_of_a(),
            json!({ "providerId": elsewhere }),
            422,
            "provider_not_at_clinic",
            "providerId",
        ),
        (
            p.w.admin_of_a(),
            json!({ "patientId": p.w.patient_b }),
            422,
            "unknown_patient",
            "patientId",
        ),
        (
            p.w.admin_of_b(),
            json!({}),
            422,
            "unknown_patient",
            "patientId",
        ),
        (
            p.w.admin_of_a(),
            json!({ "refills": 12 }),
            400,
            "invalid_input",
            "refills",
        ),
        (
            p.w.admin_of_a(),
            json!({ "medication": "" }),
            400,
            "invalid_input",
            "medication",
        ),
        (
            p.w.admin_of_a(),
            json!({ "sig": "x" }),
            400,
            "invalid_input",
            "sig",
        ),
    ] {
        let mut sent = body.clone();
        sent.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let reply = queue_order(&db, &who, &Uuid::new_v4().to_string(), &sent).await;
        assert_field(&reply, status, code, field);
    }
    post(&db, &p.w.admin_of_a(), "/api/admin/orders", body.clone())
        .await
        .assert_problem(400, "invalid_input");
    queue_order(&db, &p.w.therapist_of_a(), "k", &body)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(written(&db).await, before);

    // Queued once, whatever the retries.
    let reply = queue_order(&db, &p.w.admin_of_a(), "order-1", &body).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["assignedProviderId"], json!(p.provider));
    assert_eq!(reply.body["status"], "queued_for_provider");
    let order: Uuid = reply.body["id"].as_str().unwrap().parse().unwrap();
    let again = queue_order(&db, &p.w.admin_of_a(), "order-1", &body).await;
    assert_eq!((again.status.as_u16(), &again.body), (201, &reply.body));
    assert_eq!(
        db.count(
            "select count(*) from app.orders where assigned_provider_id is not null",
            &[]
        )
        .await,
        1
    );
    assert_eq!(audited(&db, a, "order.queue").await, 1);

    // The assigned prescriber sees it; another prescriber of A neither sees nor sends it.
    assert!(prescriber_queue(&db, p.w.both, a).await.contains(&order));
    assert!(!prescriber_queue(&db, tom, a).await.contains(&order));
    let approve = format!("/api/orders/{order}/approve-and-send");
    let reply = post(&db, &staff(tom, a, "therapist"), &approve, json!({})).await;
    reply.assert_problem(403, "assigned_to_another_provider");
    assert_eq!(reply.body["assignedProviderId"], json!(p.provider));
    let reply = post(&db, &p.prescriber_at(b), &approve, json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["status"], "sent");
}

#[tokio::test]
async fn refills_go_from_admin_to_prescriber_and_refuse_the_wrong_state() {
    let db = TestDb::new().await;
    let p = Prescribing::create(&db).await;
    let (a, b, c) = (p.w.clinic_a, p.w.clinic_b, p.clinic_c);
    let waiting = refill(&db, a, p.w.patient_a, "PENDING_ADMIN", 30).await;
    let approve = format!("/api/admin/refills/{waiting}/approve");
    let prescribe = format!("/api/provider/refills/{waiting}/prescribe");
    let prescriber = p.prescriber_at(a);

    // Not yet the prescriber's.
    let reply = post(&db, &prescriber, &prescribe, json!({})).await;
    reply.assert_problem(409, "refill_wrong_state");
    assert_eq!(reply.body["refillStatus"], "PENDING_ADMIN");
    // Another clinic's admin does not find it; a therapist may not approve.
    post(&db, &p.w.admin_of_b(), &approve, json!({}))
        .await
        .assert_problem(404, "not_found");
    post(&db, &p.w.therapist_of_a(), &approve, json!({}))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(audited(&db, a, "refill.approve").await, 0);

    let reply = post(&db, &p.w.admin_of_a(), &approve, json!({})).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (&reply.body["status"], &reply.body["approvedBy"]),
        (&json!("APPROVED"), &json!(p.w.admin_a))
    );
    let reply = post(&db, &p.w.admin_of_a(), &approve, json!({})).await;
    reply.assert_problem(409, "refill_wrong_state");
    assert_eq!(reply.body["refillStatus"], "APPROVED");
    assert!(prescriber_queue(&db, p.w.both, a).await.contains(&waiting));

    let reply = call(&db, &prescriber, Method::POST, &prescribe, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (&reply.body["status"], &reply.body["decidedBy"]),
        (&json!("PRESCRIBED"), &json!(p.provider))
    );
    for path in [
        prescribe.clone(),
        format!("/api/provider/refills/{waiting}/deny"),
    ] {
        let reply = post(&db, &prescriber, &path, json!({ "reason": "Twice" })).await;
        if path.ends_with("prescribe") {
            assert_field(&reply, 400, "invalid_input", "reason");
        } else {
            reply.assert_problem(409, "refill_wrong_state");
            assert_eq!(reply.body["refillStatus"], "PRESCRIBED");
        }
    }
    assert!(!prescriber_queue(&db, p.w.both, a).await.contains(&waiting));

    // Denied at B, with a reason; C's is out of the set, an unknown one does not exist.
    let at_b = refill(&db, b, p.w.patient_b, "PENDING_PROVIDER", 20).await;
    let deny = format!("/api/provider/refills/{at_b}/deny");
    assert_field(
        &post(&db, &prescriber, &deny, json!({ "reason": " " })).await,
        400,
        "invalid_input",
        "reason",
    );
    assert_field(
        &post(&db, &prescriber, &deny, json!({})).await,
        400,
        "invalid_input",
        "reason",
    );
    let reply = post(
        &db,
        &prescriber,
        &deny,
        json!({ "reason": "Needs a visit first." }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        (&reply.body["status"], &reply.body["reason"]),
        (&json!("DENIED"), &json!("Needs a visit first."))
    );
    let at_c = refill(&db, c, p.patient_c, "APPROVED", 10).await;
    post(
        &db,
        &prescriber,
        &format!("/api/provider/refills/{at_c}/prescribe"),
        json!({}),
    )
    .await
    .assert_problem(403, "clinic_not_in_set");
    post(
        &db,
        &prescriber,
        &format!("/api/provider/refills/{}/prescribe", Uuid::new_v4()),
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(
        db.count(
            "select count(*) from app.refills where id = $1 and status = 'APPROVED'",
            &[&at_c]
        )
        .await,
        1
    );

    // Without credentials at B, no prescribing there (a denial still goes).
    db.admin
        .execute(
            "update app.provider_clinics set dea_number = null where provider_id = $1 and org_id = $2",
            &[&p.provider, &b],
        )
        .await
        .unwrap();
    let uncredentialed = refill(&db, b, p.w.patient_b, "APPROVED", 5).await;
    post(
        &db,
        &prescriber,
        &format!("/api/provider/refills/{uncredentialed}/prescribe"),
        json!({}),
    )
    .await
    .assert_problem(409, "not_credentialed");

    // Audited in each refill's own clinic.
    assert_eq!(audited(&db, a, "refill.approve").await, 1);
    assert_eq!(audited(&db, a, "refill.prescribed").await, 1);
    assert_eq!(audited(&db, b, "refill.denied").await, 1);
    assert_eq!(audited(&db, b, "refill.prescribed").await, 0);
    for clinic in [a, b] {
        assert_eq!(db.first_broken_link(clinic).await, None);
    }
}
