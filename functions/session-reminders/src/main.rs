use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    wardline_shared::telemetry::init();
    let ctx = wardline_shared::Context::from_env()?;
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        session_reminders::queue(ctx, &event.context.request_id)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
