//! The client commands' connection to a running server: URLs built from
//! escaped path segments, the optional bearer token, and one error type
//! that turns "connection refused" and `{"detail"}` answers into messages
//! a person can act on.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

pub use super::error::CliError;

/// An answer read into its type; one that does not fit is the server's
/// (or a version mismatch's) fault, and said so.
pub fn typed<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T, CliError> {
    serde_json::from_value(answer)
        .map_err(|e| CliError::Protocol(format!("the server's answer did not parse: {e}")))
}

/// An answer the caller may want to tell apart by status (e.g. 204).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    /// Headers every request carries: the project (and the repository it
    /// was derived from).
    scope: Vec<(&'static str, String)>,
    /// For an https:// server: also used by the WebSocket client.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Client {
    /// A client of `server`; `origin` names where that URL came from
    /// (`--server` or `HIVELOG_SERVER`), so a bad one can be fixed there.
    pub fn new(
        server: &str,
        origin: &str,
        token: Option<String>,
        ca_cert: Option<&std::path::Path>,
    ) -> Result<Self, CliError> {
        let hint = || {
            if server.contains("://") {
                String::new()
            } else {
                format!(" (add http://, e.g. http://{server})")
            }
        };
        let mut base = Url::parse(server).map_err(|e| {
            CliError::input(format!("{origin} {server:?} is not a URL: {e}{}", hint()))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(CliError::input(format!(
                "{origin} {server:?} must be an http:// URL such as http://127.0.0.1:8001{}",
                hint()
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let tls = match base.scheme() {
            "https" => Some(super::tls::client_config(ca_cert)?),
            _ => None,
        };
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("hivelog-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = &tls {
            http = http.use_preconfigured_tls((**tls).clone());
        }
        let http = http
            .build()
            .map_err(|e| CliError::Protocol(format!("cannot build an HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            token: token.filter(|t| !t.is_empty()),
            scope: Vec::new(),
            tls,
        })
    }

    /// Every request names `project` (none: the server's default one)
    /// and the repository it was derived from.
    pub fn in_project(mut self, project: Option<&str>, repository: Option<&str>) -> Self {
        self.scope.clear();
        if let Some(p) = project.filter(|p| !p.is_empty()) {
            self.scope
                .push((crate::api::project::PROJECT_HEADER, p.to_string()));
        }
        if let Some(r) = repository.filter(|r| !r.is_empty()) {
            self.scope
                .push((crate::api::project::REPOSITORY_HEADER, r.to_string()));
        }
        self
    }

    /// The project requests name, if any.
    pub fn project(&self) -> Option<&str> {
        self.scope
            .iter()
            .find(|(h, _)| *h == crate::api::project::PROJECT_HEADER)
            .map(|(_, p)| p.as_str())
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// How the WebSocket client connects: TLS with the same roots for an
    /// https:// server.
    pub fn ws_connector(&self) -> Option<tokio_tungstenite::Connector> {
        self.tls.clone().map(tokio_tungstenite::Connector::Rustls)
    }

    /// The server URL with `segments` appended, each escaped, so ids with
    /// spaces or slashes reach the server as one path segment.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The WebSocket URL of this server (`ws://…/ws`).
    pub fn ws_url(&self) -> String {
        let mut url = self.url(&["ws"]);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Only http/https bases are accepted, and both map to a valid scheme.
        let _ = url.set_scheme(scheme);
        url.to_string()
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        Ok(self
            .call(Method::GET, segments, query, None, &[])
            .await?
            .body)
    }

    pub async fn post(
        &self,
        segments: &[&str],
        body: &impl serde::Serialize,
    ) -> Result<Value, CliError> {
        Ok(self
            .call(Method::POST, segments, &[], Some(Body::json(body)?), &[])
            .await?
            .body)
    }

    /// A POST whose answer is read into its type.
    pub async fn post_as<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl serde::Serialize,
    ) -> Result<T, CliError> {
        typed(self.post(segments, body).await?)
    }

    /// A GET whose answer is read into its type.
    pub async fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, CliError> {
        typed(self.get(segments, query).await?)
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Value, CliError> {
        Ok(self
            .call(Method::DELETE, segments, &[], None, &[])
            .await?
            .body)
    }

    /// One request; any answer outside 2xx becomes `CliError::Server` with
    /// the server's `detail`.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Body>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, CliError> {
        let mut request = self.http.request(method, self.url(segments));
        for (name, value) in &self.scope {
            request = request.header(*name, value);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Raw { bytes, headers }) => {
                let mut request = request.body(bytes);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                request
            }
            None => request,
        };
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status.is_success() {
            return Ok(Answer { status, body });
        }
        let detail = match &body {
            Value::Object(o) => match o.get("detail") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(fields)) => validation_text(fields),
                Some(other) => other.to_string(),
                None => body.to_string(),
            },
            Value::Null => status.canonical_reason().unwrap_or("error").to_string(),
            other => other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string),
        };
        Err(CliError::Server {
            status: status.as_u16(),
            detail,
        })
    }

    pub fn transport(&self, e: reqwest::Error) -> CliError {
        let server = self.base.as_str().trim_end_matches('/').to_string();
        let reason = if e.is_timeout() {
            "timed out".to_string()
        } else {
            // reqwest's own message is generic ("error sending request");
            // the innermost cause says why (refused, no such host, ...).
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text = cause.to_string();
                source = cause.source();
            }
            text
        };
        CliError::Unreachable { server, reason }
    }
}

/// A 422's list of field errors as one line: `title: Field required;
/// status: Input should be ...`.
fn validation_text(fields: &[Value]) -> String {
    fields
        .iter()
        .map(|f| {
            let at: Vec<String> = f["loc"]
                .as_array()
                .into_iter()
                .flatten()
                .skip(1)
                .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
                .collect();
            let msg = f["msg"].as_str().unwrap_or("invalid");
            if at.is_empty() {
                msg.to_string()
            } else {
                format!("{}: {msg}", at.join("."))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A request body: JSON, or raw bytes with extra headers (publish).
pub enum Body {
    Json(Value),
    Raw {
        bytes: Vec<u8>,
        headers: Vec<(String, String)>,
    },
}

impl Body {
    /// A request type as a JSON body.
    pub fn json(body: &impl serde::Serialize) -> Result<Body, CliError> {
        serde_json::to_value(body)
            .map(Body::Json)
            .map_err(|e| CliError::Protocol(format!("cannot encode the request: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped_and_the_base_path_is_kept() {
        let c = Client::new("http://127.0.0.1:8001", "--server", None, None).unwrap();
        assert_eq!(
            c.url(&["api", "tasks", "a b/c", "claim"]).as_str(),
            "http://127.0.0.1:8001/api/tasks/a%20b%2Fc/claim"
        );
        let c = Client::new("https://example.test/hive", "--server", None, None).unwrap();
        assert_eq!(
            c.url(&["health"]).as_str(),
            "https://example.test/hive/health"
        );
        assert_eq!(c.ws_url(), "wss://example.test/hive/ws");
    }

    #[test]
    fn bad_server_urls_are_refused_with_the_reason() {
        for bad in ["127.0.0.1:8001", "ftp://x", "not a url"] {
            let err = Client::new(bad, "--server", None, None)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("--server"), "{bad}: {err}");
        }
        let err = Client::new("127.0.0.1:8001", "HIVELOG_SERVER", None, None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("HIVELOG_SERVER"), "{err}");
        assert!(
            err.contains("add http://, e.g. http://127.0.0.1:8001"),
            "{err}"
        );
    }

    #[test]
    fn a_422_list_reads_as_one_line() {
        let fields = serde_json::json!([
            {"loc": ["body", "title"], "msg": "Field required", "type": "missing"},
            {"loc": ["query", "limit"], "msg": "Input should be a valid integer", "type": "int_parsing"},
        ]);
        assert_eq!(
            validation_text(fields.as_array().unwrap()),
            "title: Field required; limit: Input should be a valid integer"
        );
    }
}
