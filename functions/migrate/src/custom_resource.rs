//! CloudFormation's custom resource protocol, the little of it Wardline needs: the request
//! CloudFormation sends (asynchronously, so it learns the outcome only from the answer), and
//! the answer, a JSON document PUT to the request's pre-signed `ResponseURL`. Without an
//! answer the stack waits until the resource's `ServiceTimeout`, so every request gets one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest `Reason` sent: the whole answer must stay under CloudFormation's 4 KiB.
const MAX_REASON: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// A custom resource request (the fields Wardline reads; `ResourceProperties` only make the
/// run happen again when they change, see template.yaml).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Absent on Create: the answer names it.
    pub physical_resource_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
}

/// The answer. `reason` is shown in the stack's events: it must never carry a secret or PHI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Readable with `!GetAtt <resource>.<key>`: counts only.
    pub data: Value,
}

impl Request {
    /// The answer to this request, its reason cut to [`MAX_REASON`].
    pub fn answer(
        &self,
        status: Status,
        reason: &str,
        physical_id: String,
        data: Value,
    ) -> Response {
        Response {
            status,
            reason: truncate(reason, MAX_REASON),
            physical_resource_id: physical_id,
            stack_id: self.stack_id.clone(),
            request_id: self.request_id.clone(),
            logical_resource_id: self.logical_resource_id.clone(),
            data,
        }
    }
}

/// PUTs the answer, as bytes with no content type: the URL is pre-signed without one, and S3
/// refuses a request whose signed headers differ.
pub async fn send(http: &reqwest::Client, url: &str, response: &Response) -> Result<(), String> {
    let body = serde_json::to_vec(response).map_err(|e| e.to_string())?;
    let answer = http
        .put(url)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("answering CloudFormation: {}", e.without_url()))?;
    if !answer.status().is_success() {
        return Err(format!(
            "answering CloudFormation: HTTP {}",
            answer.status()
        ));
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_REASON);
        let cut = truncate(&long, MAX_REASON);
        assert!(
            cut.len() <= MAX_REASON && cut.ends_with("..."),
            "{}",
            cut.len()
        );
        assert_eq!(truncate("short", MAX_REASON), "short");
    }

    #[test]
    fn a_request_without_a_physical_id_is_a_create() {
        let request: Request = serde_json::from_value(serde_json::json!({
            "RequestType": "Create",
            "ResponseURL": "https://example.test/answer",
            "StackId": "stack",
            "RequestId": "request",
            "LogicalResourceId": "DatabaseSchema",
            "ResourceType": "Custom::WardlineSchema",
            "ResourceProperties": {"ServiceToken": "arn"}
        }))
        .unwrap();
        assert_eq!(request.request_type, RequestType::Create);
        assert_eq!(request.physical_resource_id, None);
    }
}
