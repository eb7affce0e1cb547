//! Every status Wardline returns, in one place: the problem+json shape (RFC 9457), the
//! constructors handlers use, and the SQLSTATE table that turns database errors into HTTP.
//! Nothing else in Wardline maps an error to a status.

use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;

/// A variable of the environment that is missing or malformed: fails the cold start with a
/// message naming it. Here rather than in `config`, so the modules that parse their own
/// settings (`portal`, `sealed`) need not import the module that reads them.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            name,
            problem: problem.into(),
        }
    }
}

/// One problem with one input field, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

/// An error a request ends with: a boxed [`Problem`], so `Result`s stay small.
#[derive(Debug)]
pub struct Error(Box<Problem>);

/// `detail` and `errors` are shown to the client; `internal` is only logged, so database
/// messages and internals never reach a response.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// RFC 9457 extension members (e.g. the `conflicts` of a 409), merged into the body.
    pub extensions: serde_json::Map<String, Value>,
    /// Extra response headers (`WWW-Authenticate`, `Allow`, `Retry-After`).
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    pub internal: Option<String>,
}

impl Error {
    /// An error with a code of the contract ([`crate::codes`]), at the status it gives; a debug
    /// build panics for any other, so a test reaching it fails.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        debug_assert_eq!(
            crate::codes::status_of(code),
            Some(status),
            "{code} at {status}: not what the error contract (shared::codes) says"
        );
        Error(Box::new(Problem {
            status,
            code: code.to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            headers: Vec::new(),
            internal: None,
        }))
    }

    pub fn into_problem(self) -> Problem {
        *self.0
    }

    /// 400 naming the field that is wrong.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut error = Error::new(StatusCode::BAD_REQUEST, "invalid_input", detail.clone());
        error.errors.push(FieldError {
            field: field.into(),
            detail,
        });
        error
    }

    /// 422 naming `field`: well-formed, but contradicting what it restates.
    pub fn unprocessable(code: &str, field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut error = Error::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail.clone());
        error.errors.push(FieldError {
            field: field.to_owned(),
            detail,
        });
        error
    }

    /// 401 with the `WWW-Authenticate` challenge RFC 6750 asks for.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Error::new(StatusCode::UNAUTHORIZED, "invalid_token", detail).with_header(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        )
    }

    pub fn forbidden(code: &str, detail: impl Into<String>) -> Self {
        Error::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found() -> Self {
        Error::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such resource on this route.",
        )
    }

    pub fn method_not_allowed(allowed: &[&http::Method]) -> Self {
        let allow = allowed
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let error = Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("This route accepts {allow}."),
        );
        match HeaderValue::from_str(&allow) {
            Ok(value) => error.with_header(http::header::ALLOW, value),
            Err(_) => error,
        }
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// 500 whose cause is logged and never shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut error = Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. It has been logged.",
        );
        error.internal = Some(cause.to_string());
        error
    }

    pub fn unavailable(code: &str, detail: impl Into<String>) -> Self {
        Error::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    /// 503 `database_unavailable` with `Retry-After`: the connection failed (refused, reset,
    /// closed, the server shutting down or starting, no connection free in time). Nothing
    /// about SQL or data is shown; the cause is logged.
    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        let mut error = Error::unavailable(
            "database_unavailable",
            "The database cannot be reached right now. Try again shortly.",
        )
        .retry_after(RETRY_AFTER_SECONDS);
        error.internal = Some(cause.to_string());
        error
    }

    /// 503 `busy` with `Retry-After`: the request hit its statement deadline
    /// (`WARDLINE_DB_STATEMENT_TIMEOUT_MS`) and was cancelled; nothing it did was kept.
    pub fn statement_timeout(cause: impl std::fmt::Display) -> Self {
        let mut error =
            Error::unavailable("busy", QUERY_CANCELED_DETAIL).retry_after(RETRY_AFTER_SECONDS);
        error.internal = Some(cause.to_string());
        error
    }

    fn retry_after(self, seconds: u64) -> Self {
        self.with_header(http::header::RETRY_AFTER, HeaderValue::from(seconds))
    }

    /// 502: a service Wardline depends on (e.g. a pharmacy) failed the request.
    pub fn bad_gateway(code: &str, detail: impl Into<String>) -> Self {
        Error::new(StatusCode::BAD_GATEWAY, code, detail)
    }

    pub fn with_header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The RFC 9457 body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("urn:wardline:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        if let Value::Object(members) = &mut body {
            for (name, value) in &self.extensions {
                members.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        body
    }
}

impl std::ops::Deref for Error {
    type Target = Problem;
    fn deref(&self) -> &Problem {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut Problem {
        &mut self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)?;
        if let Some(internal) = &self.internal {
            write!(f, " ({internal})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// How a SQLSTATE surfaces: status, stable code and the detail shown to the client.
struct SqlStateRule {
    state: SqlState,
    status: StatusCode,
    code: &'static str,
    detail: &'static str,
}

/// The SQLSTATE table. `P0001` is handled apart: Wardline's own SQL functions raise a stable
/// code (`api.fail`), whose status the error contract ([`crate::codes`]) gives.
const SQLSTATE_TABLE: &[SqlStateRule] = &[
    SqlStateRule {
        state: SqlState::EXCLUSION_VIOLATION,
        status: StatusCode::CONFLICT,
        code: "conflict",
        detail: "That time is already taken.",
    },
    SqlStateRule {
        state: SqlState::T_R_DEADLOCK_DETECTED,
        status: StatusCode::CONFLICT,
        code: "conflict",
        detail: "A concurrent request changed the same data. Try again.",
    },
    SqlStateRule {
        state: SqlState::T_R_SERIALIZATION_FAILURE,
        status: StatusCode::CONFLICT,
        code: "conflict",
        detail: "A concurrent request changed the same data. Try again.",
    },
    // Wardline cancels only at the statement deadline (shared::db); the role's own
    // statement_timeout (db/migrations/0001_roles.sql) raises the same.
    SqlStateRule {
        state: SqlState::QUERY_CANCELED,
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "busy",
        detail: QUERY_CANCELED_DETAIL,
    },
    // lock_timeout (`WARDLINE_DB_LOCK_TIMEOUT_MS`, set per request by shared::db).
    SqlStateRule {
        state: SqlState::LOCK_NOT_AVAILABLE,
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "busy",
        detail: "The request waited too long on concurrent work. Try again.",
    },
    SqlStateRule {
        state: SqlState::UNIQUE_VIOLATION,
        status: StatusCode::CONFLICT,
        code: "already_exists",
        detail: "That already exists.",
    },
    // jsonb refuses \u0000 in any string a client sent; handlers check the fields they know.
    SqlStateRule {
        state: SqlState::UNTRANSLATABLE_CHARACTER,
        status: StatusCode::BAD_REQUEST,
        code: "invalid_input",
        detail: "Text may not contain the character \\u0000.",
    },
    SqlStateRule {
        state: SqlState::INSUFFICIENT_PRIVILEGE,
        status: StatusCode::FORBIDDEN,
        code: "forbidden",
        detail: "You may not do that here.",
    },
];

/// Seconds a client is asked to wait after a 503 of the database: a restart or a failover is
/// noticed by the next request (shared::db retires the pool), so a second is enough.
const RETRY_AFTER_SECONDS: u64 = 1;

const QUERY_CANCELED_DETAIL: &str = "The request took too long. Try again shortly.";

/// Whether `err` is the connection failing rather than the statement: the socket refused,
/// reset or closed, the session ended by the server (any FATAL or PANIC, e.g. 57P01
/// `admin_shutdown` from `pg_terminate_backend` or a fast shutdown), a crash restart (57P02),
/// a server starting up (57P03), a connection exception (class 08), or no slot free (53300).
/// Such an error says nothing about the request, so it is a retryable 503, never a 500.
pub fn is_connection_failure(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::Severity;
    match err.as_db_error() {
        Some(db) => {
            matches!(
                db.parsed_severity(),
                Some(Severity::Fatal | Severity::Panic)
            ) || db.code().code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(db.code())
        }
        None => {
            err.is_closed()
                || std::error::Error::source(err).is_some_and(|cause| cause.is::<std::io::Error>())
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        if is_connection_failure(&err) {
            return Error::database_unavailable(format!("database connection: {err}"));
        }
        let Some(db) = err.as_db_error() else {
            return Error::internal(format!("database: {err}"));
        };
        if *db.code() == SqlState::RAISE_EXCEPTION {
            if let Some(error) = wardline_raise(db) {
                return error;
            }
        }
        match SQLSTATE_TABLE.iter().find(|rule| rule.state == *db.code()) {
            Some(rule) => {
                let mut error = Error::new(rule.status, rule.code, rule.detail);
                if rule.status == StatusCode::SERVICE_UNAVAILABLE {
                    error = error.retry_after(RETRY_AFTER_SECONDS);
                }
                error.internal = Some(format!("{}: {}", db.code().code(), db.message()));
                error
            }
            None => Error::internal(format!("database {}: {}", db.code().code(), db.message())),
        }
    }
}

/// A `P0001` from `api.fail`: MESSAGE is the code, DETAIL the client-facing text, COLUMN the
/// input field, HINT (from `api.fail_with`) a JSON object of extension members. Anything else
/// raised, or a code not in the contract, is a 500.
fn wardline_raise(db: &tokio_postgres::error::DbError) -> Option<Error> {
    let extensions = match db.hint().map(serde_json::from_str::<Value>) {
        None => serde_json::Map::new(),
        Some(Ok(Value::Object(members))) => members,
        Some(_) => return None,
    };
    Error::raised(
        db.message(),
        db.detail().unwrap_or(""),
        db.column(),
        extensions,
    )
}

impl Error {
    /// An `api.committed_failure` answer (`{"committedProblem": {code, detail, field?, …}}`):
    /// the SQL function kept its work and reports a 4xx (naming `field` when it is given). `None` for any other value.
    pub fn committed(value: &Value) -> Option<Error> {
        let Value::Object(mut members) = value.get("committedProblem")?.clone() else {
            return None;
        };
        let code = members.remove("code")?.as_str()?.to_owned();
        let detail = members.remove("detail")?.as_str()?.to_owned();
        let field = members
            .remove("field")
            .and_then(|f| f.as_str().map(str::to_owned));
        Error::raised(&code, &detail, field.as_deref(), members)
    }

    /// A Wardline error raised or reported by SQL; `None` when the code is not in the table.
    fn raised(
        code: &str,
        detail: &str,
        field: Option<&str>,
        extensions: serde_json::Map<String, Value>,
    ) -> Option<Error> {
        let status = crate::codes::status_of(code)?;
        let mut error = Error::new(status, code, detail);
        if let Some(field) = field {
            error.errors.push(FieldError {
                field: field.to_owned(),
                detail: detail.to_owned(),
            });
        }
        if let Some(seconds) = extensions.get("retryAfterSeconds").and_then(Value::as_u64) {
            error = error.with_header(http::header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        error.extensions = extensions;
        Some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_body_has_the_rfc9457_members_and_field_errors() {
        let body = Error::invalid_field("start_time", "must be before end_time").body();
        assert_eq!(body["status"], 400);
        assert_eq!(body["code"], "invalid_input");
        assert_eq!(body["type"], "urn:wardline:problem:invalid_input");
        assert_eq!(body["title"], "Bad Request");
        assert_eq!(body["errors"][0]["field"], "start_time");
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let error = Error::internal("password authentication failed for user x");
        assert!(!error.body().to_string().contains("password"));
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
