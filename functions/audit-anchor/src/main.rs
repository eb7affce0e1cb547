use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    wardline_shared::telemetry::init();
    let ctx = wardline_shared::Context::from_env()?;
    let anchors = audit_anchor::Anchors::from_env().await?;
    let (ctx, anchors) = (&ctx, &anchors);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        audit_anchor::anchor(ctx, anchors, &event.context.request_id)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
