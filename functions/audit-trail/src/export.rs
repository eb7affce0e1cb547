//! Placeholder while the chain verifier lands.
use wardline_shared::{
    auth::Claims,
    http::{Incoming, Reply},
    Context, Error,
};

pub async fn ndjson(_ctx: &Context, _caller: Claims, _req: Incoming) -> Result<Reply, Error> {
    Err(Error::internal("not yet"))
}
