//! The local gateway: every function behind one HTTP server with the production routes, plus
//! the dev JWKS and the API description (`GET /openapi.json`). Requests go through the same
//! `dispatch` the Lambda runtime calls.

use crate::{openapi, FUNCTIONS};
use axum::{body::Body as AxumBody, extract::Request, response::Response};
use http::{header::CONTENT_TYPE, HeaderValue, Method};
use lambda_http::Body;
use serde_json::Value;
use std::sync::Arc;
use wardline_shared::{
    http::{dispatch, match_path, problem_response},
    Context, Error,
};

/// API Gateway's own payload limit; the functions apply their smaller one.
const GATEWAY_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub fn router(ctx: Arc<Context>, jwks: Value) -> axum::Router {
    crate::keys::jwks_router(jwks).fallback(move |request: Request| {
        let ctx = ctx.clone();
        async move { forward(&ctx, request).await }
    })
}

async fn forward(ctx: &Context, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let response = match axum::body::to_bytes(body, GATEWAY_BODY_LIMIT).await {
        Err(_) => problem_response(Error::payload_too_large(GATEWAY_BODY_LIMIT)),
        Ok(bytes) => {
            let path = parts.uri.path().to_owned();
            if path == openapi::PATH {
                return into_axum(api_description(&parts.method));
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
            match owner {
                Some(function) => {
                    dispatch(function, ctx, lambda_http::Request::from_parts(parts, body)).await
                }
                None => problem_response(Error::not_found()),
            }
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
