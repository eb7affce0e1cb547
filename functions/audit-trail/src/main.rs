#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wardline_shared::lambda::Error> {
    let mut extensions = http::Extensions::new();
    if let Some(anchors) = wardline_shared::anchors::AnchorBucket::from_env().await {
        extensions.insert(anchors);
    }
    wardline_shared::lambda::run_with(&audit_trail::FUNCTION, extensions).await
}
