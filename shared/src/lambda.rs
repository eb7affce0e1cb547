//! What a function's `main.rs` calls: build the per-container state once, then serve
//! invocations with the same [`dispatch`](crate::http::dispatch) the local gateway uses.

use crate::{http::Function, Context};

pub type Error = lambda_http::Error;

pub async fn run(function: &'static Function) -> Result<(), Error> {
    crate::telemetry::init();
    let ctx: &'static Context = Box::leak(Box::new(Context::from_env()?));
    lambda_http::run(lambda_http::service_fn(move |request| async move {
        Ok::<_, std::convert::Infallible>(crate::http::dispatch(function, ctx, request).await)
    }))
    .await
}
