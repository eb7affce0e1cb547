//! Calling the portal as a patient's browser would: at a clinic's portal host, from a source
//! address (as API Gateway reports it), with cookies; and reading the codes that were queued,
//! the way message-sender opens them.

use crate::{dispatch, Reply, TestDb, NOTES_KEYS, PORTAL_BASE_DOMAIN, TWILIO_AUTH_TOKEN};
use base64::{engine::general_purpose::STANDARD, Engine};
use http::Method;
use lambda_http::{aws_lambda_events::apigw::ApiGatewayV2httpRequestContext, RequestExt};
use serde_json::Value;
use uuid::Uuid;
use wardline_shared::sealed::{otp_code_context, Keyring, Sealed};

pub const OTP: &str = "/api/portal/auth/otp";
pub const VERIFY: &str = "/api/portal/auth/verify";
pub const REFRESH: &str = "/api/portal/auth/refresh";
pub const LOGOUT: &str = "/api/portal/auth/logout";
pub const ME: &str = "/api/portal/me";
pub const CONSENT: &str = "/api/portal/consent";
pub const PREFERENCES: &str = "/api/portal/preferences";
pub const APPOINTMENTS: &str = "/api/portal/appointments";
pub const TWILIO: &str = "/api/webhooks/twilio";

/// The portal host of clinic `slug`.
pub fn host(slug: &str) -> String {
    format!("{slug}.portal.{PORTAL_BASE_DOMAIN}")
}

/// One request as a patient's browser (or a provider's webhook) makes it, to the function
/// that serves its path.
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    pub host: String,
    pub source_ip: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<String>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: &'a str, host: impl Into<String>) -> Call<'a> {
        Call {
            method,
            path,
            host: host.into(),
            source_ip: "198.51.100.7",
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub fn from_ip(mut self, ip: &'a str) -> Self {
        self.source_ip = ip;
        self
    }

    pub async fn send(self, db: &TestDb) -> Reply {
        // The function that serves this path: portal-otp signs in, portal serves the signed-in
        // patient, provider-webhooks takes the providers' calls.
        let route = self.path.split('?').next().unwrap_or_default();
        let function = xtask::FUNCTIONS
            .iter()
            .find(|f| {
                f.routes
                    .iter()
                    .any(|r| wardline_shared::http::match_path(r.path, route).is_some())
            })
            .copied()
            .unwrap_or(&portal_otp::FUNCTION);
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(self.path)
            .header("host", &self.host);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let body = match self.body {
            Some(text) => lambda_http::Body::Text(text),
            None => lambda_http::Body::Empty,
        };
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = Some(self.source_ip.to_owned());
        let request = request
            .body(body)
            .expect("building a request")
            .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context));
        dispatch(&db.ctx, function, request).await
    }
}

/// A signed-in patient's call to clinic `slug`'s portal as `who`, with a JSON body when there
/// is one.
pub async fn as_patient(
    db: &TestDb,
    slug: &str,
    who: &xtask::keys::Identity,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let call = Call::new(method, path, host(slug)).bearer(&db.token(who));
    match body {
        Some(body) => call.json(body),
        None => call,
    }
    .send(db)
    .await
}

/// Asks clinic `slug`'s portal for a code for `identifier` (`{"email": …}` or `{"phone": …}`).
pub async fn request_code(db: &TestDb, slug: &str, identifier: Value) -> Reply {
    Call::new(Method::POST, OTP, host(slug))
        .json(identifier)
        .send(db)
        .await
}

/// Verifies `code` for `identifier` at clinic `slug`'s portal.
pub async fn verify(db: &TestDb, slug: &str, identifier: Value, code: &str) -> Reply {
    let mut body = identifier;
    body["code"] = Value::String(code.to_owned());
    Call::new(Method::POST, VERIFY, host(slug))
        .json(body)
        .send(db)
        .await
}

/// The codes queued for `recipient`, oldest first, opened as message-sender opens them.
pub async fn queued_codes(db: &TestDb, recipient: &str) -> Vec<String> {
    let keys = Keyring::parse("WARDLINE_NOTES_KEYS", NOTES_KEYS).expect("the test keyring");
    db.admin
        .query(
            "select id, payload -> 'sealedCode' from app.outbox
             where kind = 'portal_otp' and recipient = $1 order by created_at, id",
            &[&recipient],
        )
        .await
        .expect("reading the outbox")
        .iter()
        .map(|row| {
            let id: Uuid = row.get(0);
            let sealed: Value = row.get(1);
            keys.open(
                &otp_code_context(id),
                &Sealed::from_json(&sealed).expect("a sealed code"),
            )
            .expect("the code opens")
        })
        .collect()
}

/// Requests a code for `identifier` at `slug` and returns it (the newest queued for `recipient`).
pub async fn fresh_code(db: &TestDb, slug: &str, identifier: Value, recipient: &str) -> String {
    request_code(db, slug, identifier).await;
    queued_codes(db, recipient)
        .await
        .pop()
        .expect("a code was queued")
}

/// Makes every send of every identifier look `seconds` older (so the 60-second resend gap and
/// the hourly limit can be crossed without waiting).
pub async fn age_sends(db: &TestDb, seconds: i32) {
    db.admin
        .execute(
            "update app.portal_sign_in
             set sends = array(select s - make_interval(secs => $1) from unnest(sends) s)",
            &[&f64::from(seconds)],
        )
        .await
        .expect("ageing sends");
}

/// A new invite of `patient` to `org` (by `created_by`) expiring `expires_in` from now (an SQL
/// interval; negative for one already expired); its token.
pub async fn invite(
    db: &TestDb,
    org: Uuid,
    patient: Uuid,
    created_by: Uuid,
    expires_in: &str,
) -> String {
    let token = wardline_shared::secret::token();
    db.admin
        .execute(
            "insert into app.patient_invites (org_id, patient_id, token_hash, expires_at, created_by,
                                              created_at)
             values ($1, $2, sha256(convert_to($3, 'UTF8')), now() + $5::text::interval, $4,
                     least(now(), now() + $5::text::interval - interval '1 day'))",
            &[&org, &patient, &token, &created_by, &expires_in],
        )
        .await
        .expect("inserting an invite");
    token
}

/// Twilio's signature of a webhook call to `url`: base64 HMAC-SHA1 of the URL and sorted
/// parameters.
pub fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    use hmac::{Hmac, Mac};
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(TWILIO_AUTH_TOKEN.as_bytes())
        .expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The form body of a webhook call.
pub fn form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}
