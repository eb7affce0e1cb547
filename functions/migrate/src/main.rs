use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    wardline_shared::telemetry::init();
    let migrator = migrate::Migrator::from_env().await?;
    let migrator = &migrator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        migrator
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
