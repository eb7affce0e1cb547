#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wardline_shared::lambda::Error> {
    let mut extensions = http::Extensions::new();
    if let Some(documents) = wardline_shared::storage::Documents::from_env().await {
        extensions.insert(documents);
    }
    wardline_shared::lambda::run_with(&records::FUNCTION, extensions).await
}
