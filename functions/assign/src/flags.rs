//! `GET|PUT /api/admin/feature-flags`: the clinic's feature flags, for its admins. `PUT` takes
//! any of them as `{name: boolean}`, leaves the others alone, and answers with all of them.
//! The known flags and their defaults live in one place, `app.feature_flag_defaults()`.

use serde_json::{json, Map, Value};
use wardline_shared::{
    auth::Claims,
    dates::check_text,
    db::Operation,
    http::{Incoming, Reply},
    operation, Context, Error,
};

const READ: Operation = operation!(read "feature_flags");
const UPDATE: Operation = operation!("update_feature_flags");

/// Every known flag with its value.
pub async fn read(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    req.expect_nothing()?;
    Ok(Reply::json_text(
        ctx.db.relay(READ, &caller, &json!({})).await?,
    ))
}

/// Sets the flags named in the body.
pub async fn update(ctx: &Context, caller: Claims, req: Incoming) -> Result<Reply, Error> {
    let flags: Map<String, Value> = req.json()?;
    if flags.is_empty() {
        return Err(Error::invalid_field("body", "Name at least one flag."));
    }
    // jsonb refuses NUL, so a name carrying one would fail in PostgreSQL as a 500.
    for name in flags.keys() {
        check_text("body", name)?;
    }
    if let Some((name, _)) = flags.iter().find(|(_, value)| !value.is_boolean()) {
        return Err(Error::invalid_field(
            name.as_str(),
            "A flag is true or false.",
        ));
    }
    let input = json!({ "flags": flags });
    Ok(Reply::ok(ctx.db.call(UPDATE, &caller, &input).await?))
}
