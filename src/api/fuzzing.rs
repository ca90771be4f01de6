//! Entry points for the fuzz targets in `fuzz/`: each takes raw bytes the
//! way the server receives them from outside and runs them through the
//! same parsing and validation a request would. Not an API; any outcome
//! but a panic (or a hang) is fine.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::coord::task::TaskInput;
use crate::log::{ConsumerConfig, StreamConfig};

/// One WebSocket text frame, as the connection loop reads it.
pub fn ws_frame(text: &str) {
    super::ws::fuzz_frame(text);
}

/// Publish headers (`Nats-Msg-Id`, `Nats-Expected-*`), as `POST /api/pub`
/// reads them.
pub fn publish_headers(pairs: &[(&[u8], &[u8])]) {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let _ = super::messages::publish_options(&headers);
}

/// A task body, as `POST /api/tasks` and `/api/v2/tasks` read it.
pub fn task_body(bytes: &[u8]) {
    if let Ok(input) = serde_json::from_slice::<TaskInput>(bytes) {
        let _ = input.validate();
        let _ = input.id();
        let _ = input.dependencies();
    }
}

/// Stream and consumer configurations, as their create routes read them.
pub fn configs(bytes: &[u8]) {
    if let Ok(c) = serde_json::from_slice::<StreamConfig>(bytes) {
        let _ = c.validate();
    }
    let _ = serde_json::from_slice::<ConsumerConfig>(bytes);
}
