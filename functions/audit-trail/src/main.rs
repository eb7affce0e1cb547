#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wardline_shared::lambda::Error> {
    wardline_shared::lambda::run(&audit_trail::FUNCTION).await
}
