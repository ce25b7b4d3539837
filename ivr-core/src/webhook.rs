//! Webhooks: the dial plan's way to ask the business's own systems (balances, appointments).
//!
//! A call posts its context as JSON and merges the JSON object that comes back. Every failure
//! — a timeout, a refused connection, a non-2xx status, a body that is not a JSON object — is a
//! [`WebhookError`] the plan's `on_error` path handles, so a dead backend costs the caller a
//! sentence, not the call. Timeouts, connection failures and 5xx are retried up to `retries`
//! times; 4xx is not (the request itself is wrong).

use std::time::Duration;

use serde_json::Value;

/// One webhook call.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// `http://` or `https://` URL.
    pub url: String,
    /// GET or POST.
    pub method: Method,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Extra attempts after a retryable failure.
    pub retries: u32,
    /// The JSON body (POST) — the call context.
    pub body: Value,
}

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET (no body).
    Get,
    /// POST with a JSON body.
    Post,
}

/// Why a webhook gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server answered with a non-2xx status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is not a JSON object.
    #[error("the answer is not a JSON object: {0}")]
    BadBody(String),
}

impl WebhookError {
    /// A short machine-readable kind for events (`timeout`, `connect`, `status`, `bad_body`).
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::Timeout(_) => "timeout",
            WebhookError::Connect(_) => "connect",
            WebhookError::Status(_) => "status",
            WebhookError::BadBody(_) => "bad_body",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            WebhookError::Timeout(_) | WebhookError::Connect(_) => true,
            WebhookError::Status(s) => *s >= 500,
            WebhookError::BadBody(_) => false,
        }
    }
}

/// A shared HTTP client (connection pool) for every call's webhooks.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
}

impl WebhookClient {
    /// A client identifying itself as `user_agent`.
    pub fn new(user_agent: &str) -> Result<WebhookClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(user_agent.to_string())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(WebhookClient { http })
    }

    /// Calls the webhook, retrying as the request allows. Returns the JSON object answered and
    /// the number of attempts made.
    pub async fn call(&self, req: &WebhookRequest) -> (Result<Value, WebhookError>, u32) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = self.attempt(req).await;
            match &result {
                Err(e) if e.retryable() && attempts <= req.retries => {
                    tracing::debug!(url = %req.url, error = %e, attempts, "webhook retry");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempts))).await;
                }
                _ => return (result, attempts),
            }
        }
    }

    async fn attempt(&self, req: &WebhookRequest) -> Result<Value, WebhookError> {
        let builder = match req.method {
            Method::Get => self.http.get(&req.url),
            Method::Post => self.http.post(&req.url).json(&req.body),
        };
        let send = builder.header("Accept", "application/json").send();
        let response = match tokio::time::timeout(req.timeout, send).await {
            Err(_) => return Err(WebhookError::Timeout(req.timeout)),
            Ok(Err(e)) if e.is_timeout() => return Err(WebhookError::Timeout(req.timeout)),
            Ok(Err(e)) => return Err(WebhookError::Connect(root_cause(&e))),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            return Err(WebhookError::Status(status.as_u16()));
        }
        let bytes = match tokio::time::timeout(req.timeout, response.bytes()).await {
            Err(_) => return Err(WebhookError::Timeout(req.timeout)),
            Ok(Err(e)) => return Err(WebhookError::Connect(root_cause(&e))),
            Ok(Ok(b)) => b,
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(other) => Err(WebhookError::BadBody(format!(
                "expected an object, got {}",
                type_name(&other)
            ))),
            Err(e) => Err(WebhookError::BadBody(e.to_string())),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A real HTTP server on loopback answering each request with the next canned reply;
    /// `None` means "never answer".
    async fn server(replies: Vec<Option<(u16, &'static str)>>) -> (String, Arc<AtomicU32>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicU32::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            for reply in replies {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                match reply {
                    Some((status, body)) => {
                        let text = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(text.as_bytes()).await;
                    }
                    None => {
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            drop(sock);
                        });
                    }
                }
            }
        });
        (url, hits)
    }

    fn request(url: &str, retries: u32) -> WebhookRequest {
        WebhookRequest {
            url: url.to_string(),
            method: Method::Post,
            timeout: Duration::from_millis(300),
            retries,
            body: serde_json::json!({"call_id": "c1", "slots": {"account": "12345678"}}),
        }
    }

    #[tokio::test]
    async fn a_json_object_answer_is_returned() {
        let (url, _) = server(vec![Some((200, r#"{"balance": 1234.5}"#))]).await;
        let client = WebhookClient::new("ivr-test").unwrap();
        let (r, attempts) = client.call(&request(&url, 0)).await;
        assert_eq!(r.unwrap()["balance"], 1234.5);
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn a_500_is_retried_then_succeeds() {
        let (url, hits) = server(vec![Some((500, "{}")), Some((200, r#"{"ok": true}"#))]).await;
        let client = WebhookClient::new("ivr-test").unwrap();
        let (r, attempts) = client.call(&request(&url, 1)).await;
        assert_eq!(r.unwrap()["ok"], true);
        assert_eq!((attempts, hits.load(Ordering::SeqCst)), (2, 2));
    }

    #[tokio::test]
    async fn failures_are_typed_and_4xx_is_not_retried() {
        let client = WebhookClient::new("ivr-test").unwrap();
        let (url, hits) = server(vec![Some((404, "{}")), Some((200, "{}"))]).await;
        assert_eq!(
            client.call(&request(&url, 3)).await,
            (Err(WebhookError::Status(404)), 1)
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        let (url, _) = server(vec![Some((200, "not json"))]).await;
        assert_eq!(
            client.call(&request(&url, 0)).await.0.unwrap_err().kind(),
            "bad_body"
        );

        let (url, _) = server(vec![Some((200, "[1, 2]"))]).await;
        assert_eq!(
            client.call(&request(&url, 0)).await.0.unwrap_err().kind(),
            "bad_body"
        );

        let (url, _) = server(vec![None, None]).await;
        let (r, attempts) = client.call(&request(&url, 1)).await;
        assert_eq!((r.unwrap_err().kind(), attempts), ("timeout", 2));

        // Nothing listens on this port.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (r, _) = client.call(&request(&format!("http://{dead}/x"), 0)).await;
        assert_eq!(r.unwrap_err().kind(), "connect");
    }
}
