//! Logins kept in Secrets Manager as `{"username", "password"}`: the master user's (an
//! RDS-managed master secret has that shape) and `wardline_authenticator`'s. A secret's text
//! never appears in an error: a malformed one is named by its ARN only.

use aws_sdk_secretsmanager::{error::DisplayErrorContext, Client};
use serde::Deserialize;

#[derive(Clone, Deserialize)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The login of secret `arn`, of `version` (a rotation's `ClientRequestToken`) and `stage`
/// when given, else its current value.
pub async fn read(
    secrets: &Client,
    arn: &str,
    version: Option<(&str, &str)>,
) -> Result<Login, String> {
    let mut get = secrets.get_secret_value().secret_id(arn);
    if let Some((id, stage)) = version {
        get = get.version_id(id).version_stage(stage);
    }
    let value = get
        .send()
        .await
        .map_err(|e| format!("reading secret {arn}: {}", DisplayErrorContext(e)))?;
    parse(arn, value.secret_string())
}

pub fn parse(arn: &str, text: Option<&str>) -> Result<Login, String> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| format!("secret {arn} is not {{\"username\", \"password\"}} text"))
}
