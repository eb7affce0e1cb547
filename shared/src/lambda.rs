//! What a function's `main.rs` calls: build the per-container state once, then serve
//! invocations with the same [`dispatch`](crate::http::dispatch) the local gateway uses.

use crate::{http::Function, Context};

pub type Error = lambda_http::Error;

pub async fn run(function: &'static Function) -> Result<(), Error> {
    run_with(function, http::Extensions::new()).await
}

/// [`run`] for a function with state of its own, built once by its `main.rs`.
pub async fn run_with(
    function: &'static Function,
    extensions: http::Extensions,
) -> Result<(), Error> {
    crate::telemetry::init();
    let mut ctx = Context::from_env()?;
    ctx.extensions = extensions;
    let ctx: &'static Context = Box::leak(Box::new(ctx));
    lambda_http::run(lambda_http::service_fn(move |request| async move {
        Ok::<_, std::convert::Infallible>(crate::http::dispatch(function, ctx, request).await)
    }))
    .await
}
