//! The local gateway: every function behind one HTTP server with the production routes, plus
//! the dev JWKS, the API description (`GET /openapi.json`) and its reference page (`GET /docs`,
//! [`crate::api_reference`]). Like API Gateway's HTTP API, it
//! runs the JWT authorizer before a staff route's function (401 `{"message":"Unauthorized"}`
//! without calling it) and passes the client's address as `requestContext.http.sourceIp`.
//! Requests go through the same `dispatch` the Lambda runtime calls.

use crate::{api_reference, openapi, FUNCTIONS};
use axum::{
    body::Body as AxumBody,
    extract::connect_info::IntoMakeServiceWithConnectInfo,
    extract::{ConnectInfo, Request},
    response::Response,
};
use http::{
    header::{CONTENT_TYPE, WWW_AUTHENTICATE},
    HeaderValue, Method, StatusCode,
};
use lambda_http::{
    aws_lambda_events::apigw::ApiGatewayV2httpRequestContext, request::RequestContext, Body,
    RequestExt,
};
use serde_json::Value;
use std::{net::SocketAddr, sync::Arc};
use wardline_shared::{
    auth::{bearer, Verifier},
    http::{dispatch, match_path, problem_response},
    Context, Error,
};

/// API Gateway's own payload limit; the functions apply their smaller one.
const GATEWAY_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The gateway as a service that knows each connection's peer (serve it with `axum::serve`).
pub fn router(
    ctx: Arc<Context>,
    jwks: Value,
) -> Result<IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>, Error> {
    let authorizer = Arc::new(Authorizer::new(&ctx)?);
    Ok(crate::keys::jwks_router(jwks)
        .fallback(move |request: Request| {
            let (ctx, authorizer) = (ctx.clone(), authorizer.clone());
            async move { forward(&ctx, &authorizer, request).await }
        })
        .into_make_service_with_connect_info::<SocketAddr>())
}

/// The HTTP API's JWT authorizer (template.yaml's `WardlineJwt`): the `Authorization` header's
/// Bearer token, signed by a key of the identity provider's JWKS — it knows no portal key —
/// with the configured `iss` and `aud`, within `exp`/`nbf`.
struct Authorizer(Verifier);

impl Authorizer {
    fn new(ctx: &Context) -> Result<Authorizer, Error> {
        Verifier::new(ctx.config.jwt.clone(), None).map(Authorizer)
    }

    /// `None` when the request may go on to the function, else API Gateway's answer: 401
    /// `{"message":"Unauthorized"}`, with `www-authenticate` saying why when a token was sent.
    async fn refuse(&self, headers: &http::HeaderMap) -> Option<lambda_http::Response<Body>> {
        let presented = headers.contains_key(http::header::AUTHORIZATION);
        let problem = match bearer(headers) {
            Ok(token) => self.0.verify_jwt(token).await.err()?,
            Err(error) => error,
        };
        let mut response =
            lambda_http::Response::new(Body::Text(r#"{"message":"Unauthorized"}"#.to_owned()));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let detail = problem.into_problem().detail.replace('"', "'");
        let challenge =
            format!(r#"Bearer scope="" error="invalid_token" error_description="{detail}""#);
        if let Some(value) = HeaderValue::from_str(&challenge).ok().filter(|_| presented) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        Some(response)
    }
}

async fn forward(ctx: &Context, authorizer: &Authorizer, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let (parts, body) = request.into_parts();
    let response = match axum::body::to_bytes(body, GATEWAY_BODY_LIMIT).await {
        Err(_) => problem_response(Error::payload_too_large(GATEWAY_BODY_LIMIT)),
        Ok(bytes) => {
            let path = parts.uri.path().to_owned();
            if path == openapi::PATH {
                return into_axum(api_description(&parts.method));
            }
            if api_reference::serves(&path) {
                return into_axum(api_reference::answer(&parts.method, &path));
            }
            let body = if bytes.is_empty() {
                Body::Empty
            } else {
                Body::Binary(bytes.to_vec())
            };
            let owner = FUNCTIONS.iter().find(|f| {
                f.routes
                    .iter()
                    .any(|route| match_path(route.path, &path).is_some())
            });
            let Some(function) = owner else {
                return into_axum(problem_response(Error::not_found()));
            };
            let staff_jwt = function
                .route(&parts.method, &path)
                .is_ok_and(|matched| matched.route.access.staff_jwt());
            if staff_jwt {
                if let Some(refused) = authorizer.refuse(&parts.headers).await {
                    return into_axum(refused);
                }
            }
            let mut context = ApiGatewayV2httpRequestContext::default();
            context.http.source_ip = peer;
            let request = lambda_http::Request::from_parts(parts, body)
                .with_request_context(RequestContext::ApiGatewayV2(context));
            dispatch(function, ctx, request).await
        }
    };
    into_axum(response)
}

/// `GET /openapi.json`: openapi.yaml as JSON; other methods are a 405 like any route's.
fn api_description(method: &Method) -> lambda_http::Response<Body> {
    if method != Method::GET {
        return problem_response(Error::method_not_allowed(&[&Method::GET]));
    }
    match openapi::json() {
        Ok(json) => {
            let mut response = lambda_http::Response::new(Body::Text(json.to_owned()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(error) => problem_response(error),
    }
}

fn into_axum(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}
