//! The patient lists: pagination, search, and one SQL statement per page on a clinic with
//! 5,000 patients and 3 clinicians each (counted with pg_stat_statements).

use http::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wardline_shared::Context;
use wardline_tests::{call_with, TestDb, World};

const ALL: &str = "/v2/doctor/patients/all";
const SUMMARY: &str = "/v2/doctor/patients/summary";

fn ids(body: &Value) -> Vec<Uuid> {
    body["patients"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn named(db: &TestDb, org: Uuid, names: &[(&str, &str)]) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for (first, last) in names {
        let id = db.patient(org).await;
        db.admin
            .execute(
                "update app.patients set first_name = $2, last_name = $3 where id = $1",
                &[&id, first, last],
            )
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn pages_follow_the_cursor_in_name_order_and_search_matches_names() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.set_flag(w.clinic_a, "allActivePatientsDashboard", true)
        .await;
    let people = named(
        &db,
        w.clinic_a,
        &[
            ("Ann", "Smith"),
            ("Bob", "Smith"),
            ("Cy", "Adams"),
            ("Di", "Zane"),
            ("Eve", "100%_Real"),
            ("Fay", "Smithers"),
        ],
    )
    .await;
    let admin = w.admin_of_a();

    // The order the database itself gives by (last name, first name, id):
    let mut expected: Vec<(String, String, Uuid)> = db
        .admin
        .query(
            "select last_name, first_name, id from app.patients where org_id = $1
             order by last_name, first_name, id",
            &[&w.clinic_a],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(expected.len(), people.len() + 1);
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{ALL}?limit=3&cursor={c}"),
            None => format!("{ALL}?limit=3"),
        };
        let page = db.care(&admin, Method::GET, &path, None).await;
        assert_eq!(page.status, 200, "{page:?}");
        walked.extend(ids(&page.body));
        pages += 1;
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3, "7 patients in pages of 3");
    assert_eq!(
        walked,
        expected.drain(..).map(|(_, _, id)| id).collect::<Vec<_>>()
    );

    // Search is case-insensitive over first, last and full name; % and _ are literal.
    let search = |q: &str| {
        let path = format!("{ALL}?search={q}");
        let db = &db;
        async move { ids(&db.care(&admin, Method::GET, &path, None).await.body) }
    };
    assert_eq!(search("smith").await.len(), 3);
    assert_eq!(search("ann%20smith").await, vec![people[0]]);
    assert_eq!(search("%25").await, vec![people[4]]);
    assert_eq!(search("_").await, vec![people[4]]);
    assert_eq!(search("nobody").await, Vec::<Uuid>::new());

    // A cursor is a patient id the caller can see.
    for (query, field) in [
        ("cursor=Smith", "cursor"),
        (&*format!("cursor={}", w.patient_b), "cursor"),
        ("limit=500", "limit"),
        ("order=name", "order"),
    ] {
        let reply = db
            .care(&admin, Method::GET, &format!("{ALL}?{query}"), None)
            .await;
        reply.assert_problem(400, "invalid_input");
        assert_eq!(reply.body["errors"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn each_page_of_5000_patients_is_one_statement() {
    let db = TestDb::new().await;
    let w = World::create(&db).await;
    db.big_clinic(&w).await;
    db.admin
        .batch_execute(&format!(
            "create extension if not exists pg_stat_statements;
             alter database {} set pg_stat_statements.track = 'all'",
            db.name
        ))
        .await
        .expect("pg_stat_statements must be loaded (xtask's cluster preloads it)");
    // A fresh pool: its connections start with the tracking setting.
    let ctx = Context::new(db.config(|_| {})).unwrap();
    let token = db.token(&w.therapist_of_a());
    db.admin
        .execute(
            "select pg_stat_statements_reset(0, (select oid from pg_database
                                                 where datname = current_database()), 0)",
            &[],
        )
        .await
        .unwrap();

    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut requests = 0i64;
    // The summary last without the dashboard: visibility then comes from the care team.
    for (route, dashboard) in [(ALL, true), (SUMMARY, true), (SUMMARY, false)] {
        db.set_flag(w.clinic_a, "allActivePatientsDashboard", dashboard)
            .await;
        loop {
            let path = match &cursor {
                Some(c) => format!("{route}?limit=200&cursor={c}"),
                None => format!("{route}?limit=200"),
            };
            let page = call_with(
                &ctx,
                &assign::FUNCTION,
                Method::GET,
                &path,
                Some(&token),
                None,
            )
            .await;
            assert_eq!(page.status, 200, "{page:?}");
            requests += 1;
            for patient in page.body["patients"].as_array().unwrap() {
                // The fixture's own patient has two clinicians; the 5,000 have three.
                let team = if patient["id"] == json!(w.patient_a) {
                    2
                } else {
                    3
                };
                assert_eq!(
                    patient["connectedTherapists"].as_array().unwrap().len(),
                    team
                );
                assert_eq!(patient["isConnectedToMe"], json!(true));
                if route == ALL {
                    assert!(seen.insert(patient["id"].as_str().unwrap().to_owned()));
                }
            }
            match page.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        cursor = None;
    }
    // Pages of 200: 25 full ones, then 1 patient of the fixture, for each walk.
    assert_eq!(seen.len(), 5_001);
    assert_eq!(requests, 3 * 26);

    let statements: Vec<(String, i64)> = db
        .admin
        .query(
            "select query, calls from pg_stat_statements
             where dbid = (select oid from pg_database where datname = current_database())
               and query not like '%pg_stat_statements%'
             order by calls desc",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let report = statements
        .iter()
        .map(|(q, n)| {
            format!(
                "{n:>6}  {}",
                q.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    // Nothing ran once per patient (that would be 200 a page): the request's own statements
    // and the policies' flag lookups (once per table a statement reads) only…
    assert!(
        statements.iter().all(|(_, calls)| *calls <= 4 * requests),
        "a statement ran for every row:\n{report}"
    );
    // …and the page itself is one statement, run once per request.
    let page_runs: i64 = statements
        .iter()
        .filter(|(q, _)| {
            q.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains("from app.care_team t join app.clinic_memberships m")
        })
        .map(|(_, n)| n)
        .sum();
    assert_eq!(page_runs, requests, "{report}");
}
