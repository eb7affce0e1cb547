#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wardline_shared::lambda::Error> {
    let mut extensions = http::Extensions::new();
    if let Some(outside) = provider_queue::Outside::from_env().await? {
        extensions.insert(outside);
    }
    wardline_shared::lambda::run_with(&provider_queue::FUNCTION, extensions).await
}
