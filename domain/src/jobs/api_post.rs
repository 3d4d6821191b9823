//! `api_post` jobs: an HTTP POST of a JSON body to the job's URL (`command`). The body is
//! `meta.body` when present, else the whole `meta`; `meta.headers` adds request headers.
//! A 2xx answer completes the job with `{"status": …, "body": …}`; anything else (another
//! status, a timeout, a refused connection) fails the attempt, so retries apply.

use std::time::Duration;

/// Default per-request limit when the job sets no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Response bodies are kept up to this many bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// How the call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// 2xx: the status and the (possibly cut) body, as the job's result.
    Ok(serde_json::Value),
    /// Anything else, as the attempt's error.
    Failed(String),
}

/// Sends the request; honours `timeout` (default [`DEFAULT_TIMEOUT`]).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    meta: &serde_json::Value,
    timeout: Option<Duration>,
) -> Posted {
    let body = meta.get("body").unwrap_or(meta);
    let mut req = client
        .post(url)
        .timeout(timeout.unwrap_or(DEFAULT_TIMEOUT))
        .json(body);
    if let Some(headers) = meta.get("headers") {
        let Some(map) = headers.as_object() else {
            return Posted::Failed("meta.headers: expected an object of strings".into());
        };
        for (k, v) in map {
            let Some(v) = v.as_str() else {
                return Posted::Failed(format!("meta.headers.{k}: expected a string"));
            };
            req = req.header(k.as_str(), v);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Posted::Failed(format!("POST {url}: timed out")),
        Err(e) => return Posted::Failed(format!("POST {url}: {}", with_causes(&e))),
    };
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BODY)]).into_owned();
    if status.is_success() {
        Posted::Ok(serde_json::json!({ "status": status.as_u16(), "body": text }))
    } else {
        let snippet: String = text.chars().take(500).collect();
        Posted::Failed(format!("POST {url}: HTTP {}: {snippet}", status.as_u16()))
    }
}

/// An error and its causes, innermost last: reqwest's own message alone ("error sending
/// request") hides why (a refused address, a DNS failure, a TLS error).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}
