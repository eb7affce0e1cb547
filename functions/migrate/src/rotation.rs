//! Rotation of the authenticator secret, Secrets Manager's four steps for one user: a new
//! password as the secret's AWSPENDING version (`createSecret`), handed to
//! `wardline_authenticator` as a SCRAM verifier by the master user (`setSecret`, the
//! password never reaching the server or its statement log), and AWSCURRENT moved to it
//! (`finishSecret`). `testSecret` has nothing to try: RDS Proxy authenticates clients against
//! AWSCURRENT until `finishSecret`, and `setSecret` already committed. Each step is idempotent,
//! as Secrets Manager may repeat one.

use crate::{logins, Migrator};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde::Deserialize;
use serde_json::json;

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
/// As template.yaml's `GenerateSecretString`: alphanumeric, so it needs no quoting anywhere.
const PASSWORD_LENGTH: i64 = 40;

/// The event Secrets Manager invokes the rotation function with.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Step {
    pub step: String,
    pub secret_id: String,
    pub client_request_token: String,
}

pub async fn run(migrator: &Migrator, step: &Step) -> Result<(), String> {
    if step.secret_id != migrator.settings.authenticator_secret {
        return Err(format!(
            "{} is not the authenticator secret this function rotates",
            step.secret_id
        ));
    }
    let stages = Stages::of(migrator, &step.secret_id).await?;
    let token = step.client_request_token.as_str();
    if stages.current.as_deref() == Some(token) {
        // Already finished (a repeated invocation).
        return Ok(());
    }
    if !stages.pending.iter().any(|v| v == token) && step.step != "createSecret" {
        return Err(format!("version {token} is not AWSPENDING"));
    }
    let result = match step.step.as_str() {
        "createSecret" => create(migrator, step).await,
        "setSecret" => set(migrator, step).await,
        "testSecret" => Ok(()),
        "finishSecret" => finish(migrator, step, stages.current.as_deref()).await,
        other => Err(format!("unknown rotation step {other:?}")),
    };
    tracing::info!(
        function = "migrate",
        step = %step.step,
        ok = result.is_ok(),
        "authenticator secret rotation"
    );
    result
}

/// Which versions hold the two stages.
struct Stages {
    current: Option<String>,
    pending: Vec<String>,
}

impl Stages {
    async fn of(migrator: &Migrator, secret: &str) -> Result<Stages, String> {
        let described = migrator
            .secrets
            .describe_secret()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| format!("describing {secret}: {}", DisplayErrorContext(e)))?;
        let mut stages = Stages {
            current: None,
            pending: Vec::new(),
        };
        for (version, names) in described.version_ids_to_stages().into_iter().flatten() {
            if names.iter().any(|n| n == CURRENT) {
                stages.current = Some(version.clone());
            }
            if names.iter().any(|n| n == PENDING) {
                stages.pending.push(version.clone());
            }
        }
        Ok(stages)
    }
}

async fn create(migrator: &Migrator, step: &Step) -> Result<(), String> {
    let secret = step.secret_id.as_str();
    let current = logins::read(&migrator.secrets, secret, None).await?;
    let token = step.client_request_token.as_str();
    if logins::read(&migrator.secrets, secret, Some((token, PENDING)))
        .await
        .is_ok()
    {
        return Ok(());
    }
    let generated = migrator
        .secrets
        .get_random_password()
        .password_length(PASSWORD_LENGTH)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| format!("generating a password: {}", DisplayErrorContext(e)))?;
    let password = generated
        .random_password()
        .ok_or("Secrets Manager generated no password")?;
    let text = json!({ "username": current.username, "password": password }).to_string();
    migrator
        .secrets
        .put_secret_value()
        .secret_id(secret)
        .client_request_token(token)
        .secret_string(text)
        .version_stages(PENDING)
        .send()
        .await
        .map_err(|e| format!("storing the pending version: {}", DisplayErrorContext(e)))?;
    Ok(())
}

async fn set(migrator: &Migrator, step: &Step) -> Result<(), String> {
    let token = step.client_request_token.as_str();
    let pending = logins::read(&migrator.secrets, &step.secret_id, Some((token, PENDING))).await?;
    let master = logins::read(&migrator.secrets, &migrator.settings.master_secret, None).await?;
    let client = migrator.connect(&master).await?;
    migrator
        .set_authenticator_password(&client, &pending.password)
        .await
}

async fn finish(migrator: &Migrator, step: &Step, current: Option<&str>) -> Result<(), String> {
    migrator
        .secrets
        .update_secret_version_stage()
        .secret_id(&step.secret_id)
        .version_stage(CURRENT)
        .move_to_version_id(&step.client_request_token)
        .set_remove_from_version_id(current.map(str::to_owned))
        .send()
        .await
        .map_err(|e| format!("making the new version current: {}", DisplayErrorContext(e)))?;
    Ok(())
}
