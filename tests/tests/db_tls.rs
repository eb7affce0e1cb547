//! The functions' database connection with TLS, `WARDLINE_DB_SSLMODE=verify-full`: against a
//! server whose certificate a CA of the test's own signed (`WARDLINE_DB_CA_FILE`), a real
//! request works and the server saw TLS (`pg_stat_ssl`); trusting another CA, the same request
//! is a retryable 503, not a 500. TLS is switched on in this binary's own cluster (and off
//! again); the certificates are removed afterwards.

use http::Method;
use std::time::{Duration, Instant};
use wardline_shared::{config::SslMode, Context};
use wardline_tests::{call_with, tls::Pki, TestDb, World};

const PATH: &str = "/v2/doctor/patients/tenant-doctors";

/// Turns TLS on in the binary's cluster with a server certificate of the test's CA, and waits until new connections
/// get it.
async fn serve_tls(db: &TestDb, cluster: &xtask::pg::Cluster, pki: &Pki) {
    let ca = pki.ca("wardline-test-ca");
    let server = pki.server(&ca, "server");
    let (cert, key) = cluster
        .install_tls(&server.cert, &server.key)
        .expect("installing the server certificate");
    // One statement at a time: ALTER SYSTEM refuses a transaction block.
    for setting in [
        format!("ssl_cert_file = '{}'", cert.display()),
        format!("ssl_key_file = '{}'", key.display()),
        "ssl = on".to_owned(),
    ] {
        db.admin
            .batch_execute(&format!("alter system set {setting}"))
            .await
            .unwrap();
    }
    db.admin
        .batch_execute("select pg_reload_conf()")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = db.superuser().await;
        let on: String = fresh
            .query_one("select current_setting('ssl')", &[])
            .await
            .unwrap()
            .get(0);
        if on == "on" {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not turn TLS on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn verify_full_against_the_tests_ca_works_and_another_ca_is_a_503() {
    let db = TestDb::new().await;
    let Some(cluster) = wardline_tests::cluster() else {
        eprintln!("skipped: DATABASE_URL names a server this test must not reconfigure");
        return;
    };
    let w = World::create(&db).await;
    let pki = Pki::new();
    serve_tls(&db, cluster, &pki).await;
    let verifying = |ca: &std::path::Path| {
        let ca = ca.to_owned();
        Context::new(db.config(|c| {
            c.db.ssl_mode = SslMode::VerifyFull;
            c.db.ca_file = Some(ca);
        }))
        .unwrap()
    };
    let token = db.token(&w.therapist_of_a());

    let trusted = verifying(&pki.dir.join("wardline-test-ca.pem"));
    let reply = call_with(
        &trusted,
        &tenant_doctors::FUNCTION,
        Method::GET,
        PATH,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body.as_array().map(Vec::len), Some(2), "{reply:?}");
    // The functions' connections to this database, as the server sees them: all TLS.
    let seen: Vec<(bool, Option<String>)> = db
        .admin
        .query(
            "select s.ssl, s.version from pg_stat_ssl s join pg_stat_activity a using (pid)
             where a.usename = 'wardline_authenticator' and a.datname = $1",
            &[&db.name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(!seen.is_empty(), "no connection of the functions");
    assert!(
        seen.iter()
            .all(|(ssl, version)| *ssl && version.as_deref() == Some("TLSv1.3")),
        "{seen:?}"
    );

    // Trusting only a CA that did not sign the server's certificate: refused, retryable.
    let other_ca = pki.ca("another-ca");
    let untrusted = verifying(&other_ca.cert);
    let reply = call_with(
        &untrusted,
        &tenant_doctors::FUNCTION,
        Method::GET,
        PATH,
        Some(&token),
        None,
    )
    .await;
    reply.assert_problem(503, "database_unavailable");
    assert!(reply.headers.contains_key("retry-after"), "{reply:?}");

    drop((trusted, untrusted));
    for statement in ["alter system reset ssl", "select pg_reload_conf()"] {
        db.admin.batch_execute(statement).await.unwrap();
    }
}
