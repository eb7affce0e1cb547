//! The HTTP edge of a function: its route table (each route's method, path, name, access and
//! handler), matching, the body limit, authentication and the role check before any parsing,
//! typed JSON input with field-named 400s, JSON and problem+json output, the request id, and
//! one log line per request, which is also its metrics ([`metrics`]; never PHI: the route's
//! name and template are logged, not the path).

use crate::{
    auth::{AppRole, Claims},
    error::Error,
    metrics, Context,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, RequestExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::{future::Future, pin::Pin, time::Instant};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What every handler is, called once [`dispatch`] has authenticated the caller and checked
/// their role: parse → one transaction → respond.
pub type Handler = for<'a> fn(&'a Context, Claims, Incoming) -> BoxFuture<'a, Result<Reply, Error>>;

/// Turns `async fn name(&Context, Claims, Incoming) -> Result<Reply, Error>` into a
/// [`Handler`].
#[macro_export]
macro_rules! handler {
    ($name:path) => {{
        fn boxed<'a>(
            ctx: &'a $crate::Context,
            caller: $crate::auth::Claims,
            req: $crate::http::Incoming,
        ) -> $crate::http::BoxFuture<
            'a,
            ::std::result::Result<$crate::http::Reply, $crate::error::Error>,
        > {
            ::std::boxed::Box::pin($name(ctx, caller, req))
        }
        boxed as $crate::http::Handler
    }};
}

/// Every clinician role: what a staff route allows unless its SQL narrows it.
pub const CLINICIANS: &[AppRole] = &[AppRole::Therapist, AppRole::Admin, AppRole::SuperAdmin];
/// Clinic admins (and super admins).
pub const ADMINS: &[AppRole] = &[AppRole::Admin, AppRole::SuperAdmin];
/// Super admins only.
pub const SUPER_ADMINS: &[AppRole] = &[AppRole::SuperAdmin];

/// How a route's caller proves who they are, and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A staff token from the identity provider, whose `app_role` is one of these (the roles
    /// the route's `api.*` function admits). In AWS the HTTP API's JWT authorizer checks it
    /// before the function runs; the function verifies it again.
    Staff(&'static [AppRole]),
    /// A patient signed in to the portal: a token Wardline's portal issued, as a bearer token
    /// or the access cookie. A staff token is a 403 `patients_only`.
    Patient,
    /// Twilio's webhook: the handler verifies `X-Twilio-Signature` itself.
    TwilioSignature,
    /// SendGrid's Signed Event Webhook: the handler verifies
    /// `X-Twilio-Email-Event-Webhook-Signature` itself.
    SendGridSignature,
    /// Nobody is signed in yet (the portal's sign-in routes); the handler gets
    /// [`Claims::anonymous`].
    Public,
}

impl Access {
    /// Whether API Gateway's JWT authorizer (the identity provider's tokens) guards the route.
    pub fn staff_jwt(self) -> bool {
        matches!(self, Access::Staff(_))
    }

    /// The verified caller, or the 401/403 that stops the request before its input is read.
    pub async fn authenticate(self, ctx: &Context, request: &Incoming) -> Result<Claims, Error> {
        match self {
            Access::Staff(roles) => {
                let caller = ctx
                    .auth
                    .verify_header(&request.headers, &request.request_id)
                    .await?;
                if !roles.contains(&caller.app_role) {
                    return Err(Error::forbidden(
                        "forbidden",
                        "This operation is not available to your role.",
                    ));
                }
                Ok(caller)
            }
            Access::Patient => ctx.patient(request).await,
            Access::TwilioSignature | Access::SendGridSignature | Access::Public => {
                Ok(Claims::anonymous(&request.request_id))
            }
        }
    }
}

/// One route: the single declaration that the Lambda router, the local gateway, template.yaml's
/// events and the cargo-lambda router are generated from or checked against.
pub struct Route {
    pub method: Method,
    /// API Gateway syntax: `/sessions/{id}/cancel`.
    pub path: &'static str,
    /// The route's name in template.yaml (its HttpApi event), e.g. `CancelSession`.
    pub name: &'static str,
    pub access: Access,
    pub handler: Handler,
}

/// A deployable function: its name (the crate, the binary and the SAM resource) and routes.
pub struct Function {
    pub name: &'static str,
    pub routes: &'static [Route],
}

/// Where a request landed: the route and the values of its `{params}`.
pub struct Matched<'r> {
    pub route: &'r Route,
    pub params: Vec<(&'static str, String)>,
}

impl Function {
    /// 404 when no route has the path, 405 (with `Allow`) when none has the method.
    pub fn route(&self, method: &Method, path: &str) -> Result<Matched<'_>, Error> {
        let mut allowed = Vec::new();
        for route in self.routes {
            if let Some(params) = match_path(route.path, path) {
                if route.method == *method {
                    return Ok(Matched { route, params });
                }
                allowed.push(&route.method);
            }
        }
        if allowed.is_empty() {
            Err(Error::not_found())
        } else {
            Err(Error::method_not_allowed(&allowed))
        }
    }
}

/// Matches `/a/{x}/b` against `/a/42/b`; a parameter is one non-empty segment.
pub fn match_path(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut actual = path.trim_end_matches('/').split('/');
    for expected in template.split('/') {
        let segment = actual.next()?;
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => params.push((name, segment.to_owned())),
            Some(_) => return None,
            None if expected == segment => {}
            None => return None,
        }
    }
    actual.next().is_none().then_some(params)
}

/// A request as handlers see it: already routed, body within the limit.
pub struct Incoming {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub params: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub request_id: String,
    /// The client's address as API Gateway saw it (`requestContext.http.sourceIp`); not a
    /// header, so a client cannot choose it.
    pub source_ip: Option<String>,
}

impl Incoming {
    /// A header's value as text, when it is present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of cookie `name`, when the request carries it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.trim_matches('"'))
            .filter(|value| !value.is_empty())
    }

    /// A `{param}` of the route; routing guarantees it is there.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// A `{param}` that is an id; a 400 names it when it is not a UUID.
    pub fn uuid_param(&self, name: &str) -> Result<uuid::Uuid, Error> {
        self.param(name)
            .parse()
            .map_err(|_| Error::invalid_field(name, "An id is a UUID."))
    }

    /// The body as `T`; a 400 names the first field that does not fit. Types used here should
    /// `deny_unknown_fields`, so leftover input is rejected too. A number with a zero fraction
    /// (`30.0`) is the integer JSON Schema says it is: where one stops an integer field, the
    /// body is read again with such numbers as integers.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        // A request body is an object: serde would also read a struct from an array of its
        // fields in order (`[null, null]`), which no client means.
        self.json_opening_with(b'{', "A JSON object is required.")
    }

    /// The body as `T`, a JSON array (a provider's batch of events); as [`Incoming::json`]
    /// otherwise.
    pub fn json_array<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.json_opening_with(b'[', "A JSON array is required.")
    }

    fn json_opening_with<T: DeserializeOwned>(
        &self,
        opening: u8,
        expected: &str,
    ) -> Result<T, Error> {
        if self.body.is_empty() {
            return Err(Error::invalid_field("body", "A JSON body is required."));
        }
        if self.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&opening) {
            return Err(Error::invalid_field("body", expected));
        }
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        let value = match serde_path_to_error::deserialize(&mut de) {
            Ok(value) => value,
            Err(err)
                if err
                    .inner()
                    .to_string()
                    .starts_with("invalid type: floating point") =>
            {
                return self.json_with_integral_floats(err);
            }
            Err(err) => return Err(body_error(err)),
        };
        de.end().map_err(|e| {
            Error::invalid_field(
                "body",
                format!("Unexpected input after the JSON value: {e}"),
            )
        })?;
        Ok(value)
    }

    /// [`Incoming::json`] again, with every number that has a zero fraction made an integer;
    /// `first` is the error to answer if that changes nothing.
    fn json_with_integral_floats<T: DeserializeOwned>(
        &self,
        first: serde_path_to_error::Error<serde_json::Error>,
    ) -> Result<T, Error> {
        let Ok(mut value) = serde_json::from_slice::<Value>(&self.body) else {
            return Err(body_error(first));
        };
        if !integral_floats_to_integers(&mut value) {
            return Err(body_error(first));
        }
        serde_path_to_error::deserialize(value).map_err(body_error)
    }

    /// The `Idempotency-Key` header that routes which create things require: 1–255 visible
    /// ASCII characters, chosen by the client once per intended change and reused on retries.
    pub fn idempotency_key(&self) -> Result<String, Error> {
        const FIELD: &str = "Idempotency-Key";
        let value = self.headers.get(FIELD).ok_or_else(|| {
            Error::invalid_field(
                FIELD,
                "This route requires an Idempotency-Key header: a unique value per change, reused when retrying it.",
            )
        })?;
        value
            .to_str()
            .ok()
            .filter(|key| {
                (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
            })
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_field(FIELD, "Use 1 to 255 visible ASCII characters."))
    }

    /// The query string as `name → value`: each name at most once and among `allowed`; a 400
    /// names any other.
    pub fn query_params(&self, allowed: &[&str]) -> Result<Vec<(&str, &str)>, Error> {
        let mut seen: Vec<(&str, &str)> = Vec::with_capacity(self.query.len());
        for (name, value) in &self.query {
            if !allowed.contains(&name.as_str()) {
                return Err(Error::invalid_field(
                    name.clone(),
                    format!(
                        "Unknown query parameter; this route takes {}.",
                        allowed.join(", ")
                    ),
                ));
            }
            if seen.iter().any(|(n, _)| n == name) {
                return Err(Error::invalid_field(name.clone(), "Given more than once."));
            }
            seen.push((name, value));
        }
        Ok(seen)
    }

    /// For routes whose input is all in the path and query: a body is a 400.
    pub fn expect_no_body(&self) -> Result<(), Error> {
        if !self.body.is_empty() {
            return Err(Error::invalid_field("body", "This route takes no body."));
        }
        Ok(())
    }

    /// For routes that take no body and no query string: anything sent is a 400.
    pub fn expect_nothing(&self) -> Result<(), Error> {
        self.expect_no_body()?;
        if let Some((name, _)) = self.query.first() {
            return Err(Error::invalid_field(
                name.clone(),
                "This route takes no query parameters.",
            ));
        }
        Ok(())
    }
}

/// A successful response: status, JSON body (or text of another type), extra headers.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// A body that is not JSON (e.g. TwiML): content type and text, sent instead of `body`.
    pub text: Option<(&'static str, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            headers: Vec::new(),
            text: None,
        }
    }

    /// 202: accepted for work that happens later (a message to be sent).
    pub fn accepted(body: Value) -> Reply {
        Reply {
            status: StatusCode::ACCEPTED,
            ..Reply::ok(body)
        }
    }

    /// 200 with a body of `content_type` that is not JSON.
    pub fn text(content_type: &'static str, text: String) -> Reply {
        Reply {
            text: Some((content_type, text)),
            ..Reply::ok(Value::Null)
        }
    }

    /// 200 with JSON already written (`Db::relay`), sent as it is.
    pub fn json_text(json: Box<serde_json::value::RawValue>) -> Reply {
        Reply::text("application/json", Box::<str>::from(json).into_string())
    }

    /// Adds a header; one that is not a valid header value is a 500 (it is built by Wardline).
    pub fn with_header(mut self, name: http::HeaderName, value: &str) -> Result<Reply, Error> {
        self.headers
            .push((name, HeaderValue::from_str(value).map_err(Error::internal)?));
        Ok(self)
    }

    /// 201: the request made something new.
    pub fn created(body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            ..Reply::ok(body)
        }
    }
}

/// Routes, authenticates and authorizes (by the route's [`Access`]), runs and answers one
/// request; never fails (errors become problem+json).
pub async fn dispatch(
    function: &Function,
    ctx: &Context,
    request: lambda_http::Request,
) -> lambda_http::Response<Body> {
    let started = Instant::now();
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .or_else(|| {
            request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 128)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();

    let (name, template, (result, database)) = match function.route(&method, &path) {
        Err(error) => ("(unmatched)", "(unmatched)", (Err(error), None)),
        Ok(matched) => {
            let route = matched.route;
            let result = metrics::timing_database(async {
                let incoming = incoming(
                    request,
                    matched.params,
                    &request_id,
                    ctx.config.max_body_bytes,
                )?;
                let caller = route.access.authenticate(ctx, &incoming).await?;
                (route.handler)(ctx, caller, incoming).await
            })
            .await;
            (route.name, route.path, result)
        }
    };

    let mut code = None;
    let mut response = match result {
        Ok(Reply {
            status,
            headers,
            text: Some((content_type, text)),
            ..
        }) => respond_text(status, content_type, text, headers),
        Ok(reply) => respond(reply.status, "application/json", &reply.body, reply.headers),
        Err(error) => {
            if let Some(internal) = &error.internal {
                tracing::error!(request_id = %request_id, function = function.name, route = template, cause = %internal, "request failed");
            }
            code = Some(error.code.clone());
            problem_response(error)
        }
    };
    metrics::emit(&metrics::Request {
        request_id: &request_id,
        function: function.name,
        method: method.as_str(),
        route: name,
        template,
        status: response.status().as_u16(),
        code: code.as_deref(),
        latency: started.elapsed(),
        database,
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn incoming(
    request: lambda_http::Request,
    params: Vec<(&'static str, String)>,
    request_id: &str,
    max_body_bytes: usize,
) -> Result<Incoming, Error> {
    let query = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let source_ip = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.http.source_ip.clone()
        }
        _ => None,
    };
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    if body.len() > max_body_bytes {
        return Err(Error::payload_too_large(max_body_bytes));
    }
    Ok(Incoming {
        method: parts.method,
        headers: parts.headers,
        query,
        params,
        body,
        request_id: request_id.to_owned(),
        source_ip,
    })
}

/// The problem+json response for `error`.
pub fn problem_response(error: Error) -> lambda_http::Response<Body> {
    let body = error.body();
    let problem = error.into_problem();
    respond(
        problem.status,
        "application/problem+json",
        &body,
        problem.headers,
    )
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: &Value,
    headers: Vec<(http::HeaderName, HeaderValue)>,
) -> lambda_http::Response<Body> {
    respond_text(status, content_type, body.to_string(), headers)
}

fn respond_text(
    status: StatusCode,
    content_type: &'static str,
    text: String,
    headers: Vec<(http::HeaderName, HeaderValue)>,
) -> lambda_http::Response<Body> {
    let mut response = lambda_http::Response::new(Body::Text(text));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    map.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    for (name, value) in headers {
        map.append(name, value);
    }
    response
}

/// A 400 naming where `err` happened: the field, the missing field itself, or the body.
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    // Broken JSON is the body's fault, wherever the parser was.
    let path = if err.inner().is_syntax() || err.inner().is_eof() {
        ".".to_owned()
    } else {
        err.path().to_string()
    };
    let detail = err.into_inner().to_string();
    // serde reports a missing field at its parent: name the field itself.
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path.as_str(), missing) {
        ("." | "?", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        ("." | "?", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    };
    Error::invalid_field(field, detail)
}

/// Makes every float in `value` with a zero fraction that fits an `i64` or `u64` that integer;
/// whether it changed any.
fn integral_floats_to_integers(value: &mut Value) -> bool {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 || !f.is_finite() {
                return false;
            }
            let integer = if f < 0.0 && f >= i64::MIN as f64 {
                serde_json::Number::from(f as i64)
            } else if (0.0..u64::MAX as f64).contains(&f) {
                serde_json::Number::from(f as u64)
            } else {
                return false;
            };
            *n = integer;
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) | changed),
        Value::Object(members) => members
            .values_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut value = serde_json::json!({"a": 30.0, "b": [1.5, -2.0], "c": "x"});
        assert!(super::integral_floats_to_integers(&mut value));
        assert_eq!(
            value,
            serde_json::json!({"a": 30, "b": [1.5, -2], "c": "x"})
        );
        let mut fractional = serde_json::json!({"a": 1.5});
        assert!(!super::integral_floats_to_integers(&mut fractional));
    }

    use super::*;

    fn with_body(body: &str) -> Incoming {
        Incoming {
            method: Method::POST,
            headers: HeaderMap::new(),
            query: Vec::new(),
            params: Vec::new(),
            body: Bytes::from(body.to_owned()),
            request_id: "r".into(),
            source_ip: None,
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Hold {
        therapist_id: uuid::Uuid,
        occurrences: Vec<Occurrence>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Occurrence {
        start_time: String,
    }

    fn field_of(body: &str) -> String {
        let err = with_body(body).json::<Hold>().unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        err.errors[0].field.clone()
    }

    #[test]
    fn a_body_is_an_object_and_a_batch_an_array() {
        // serde reads a struct from an array of its fields too: refused, naming the body.
        assert_eq!(field_of(r#"[null, []]"#), "body");
        assert_eq!(field_of(" \n 7"), "body");
        let batch: Vec<u8> = with_body(" [1, 2]").json_array().unwrap();
        assert_eq!(batch, [1, 2]);
        let refused = with_body(r#"{"a": 1}"#)
            .json_array::<Vec<u8>>()
            .unwrap_err();
        assert_eq!(refused.errors[0].field, "body");
    }

    #[test]
    fn json_errors_name_the_field() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            field_of(r#"{"therapist_id": "nope", "occurrences": []}"#),
            "therapist_id"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"therapist_id": "{id}", "occurrences": [{{"start_time": 5}}]}}"#
            )),
            "occurrences[0].start_time"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"therapist_id": "{id}", "occurrences": [], "extra": 1}}"#
            )),
            "extra"
        );
        assert_eq!(field_of(r#"{"occurrences": []}"#), "therapist_id");
        assert_eq!(
            field_of(&format!(
                r#"{{"therapist_id": "{id}", "occurrences": [{{}}]}}"#
            )),
            "occurrences[0].start_time"
        );
        assert_eq!(field_of("{not json"), "body");
        assert_eq!(
            field_of(&format!(
                r#"{{"therapist_id": "{id}", "occurrences": []}} junk"#
            )),
            "body"
        );
        assert_eq!(field_of(""), "body");
    }

    #[test]
    fn paths_match_templates_segment_by_segment() {
        assert_eq!(match_path("/a/b", "/a/b"), Some(vec![]));
        assert_eq!(match_path("/a/b", "/a/b/"), Some(vec![]));
        assert_eq!(
            match_path("/sessions/{id}/cancel", "/sessions/42/cancel"),
            Some(vec![("id", "42".to_owned())])
        );
        assert_eq!(
            match_path("/sessions/{id}/cancel", "/sessions//cancel"),
            None
        );
        assert_eq!(match_path("/a/b", "/a/b/c"), None);
        assert_eq!(match_path("/a/b/c", "/a/b"), None);
        assert_eq!(match_path("/a/b", "/a/c"), None);
    }
}
