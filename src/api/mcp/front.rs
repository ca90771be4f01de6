//! The door every `/mcp` request passes before the SDK: it reads the
//! JSON-RPC message once, answers what the SDK would answer badly (a body
//! that is not JSON: -32700, not HTTP 415; a `tools/call` without a tool
//! name or with non-object arguments: -32602 naming them, not -32601), and
//! keeps track of the caller so that nothing is granted to one that is
//! gone (DESIGN invariant 10):
//!
//! - Each call carries a [`Call`]: its `gone` token fires when the client
//!   hangs up, times out or sends `notifications/cancelled` for it.
//!   Stateless Streamable HTTP has no session to route that notification
//!   through, so calls in flight are found by the caller's headers (token,
//!   agent, session) and the request id; an id that matches more than one
//!   call cancels none.
//! - A tool that grants something registers how to undo it on its `Call`;
//!   unless the answer's body is handed to the connection whole, the
//!   grant is undone at once.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One tool call on its way through the server.
pub struct Call {
    /// Fires when the caller is gone: nothing more is granted to it.
    pub gone: CancellationToken,
    /// How to undo what the call granted, until its answer is delivered.
    undo: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Call {
    fn new() -> Self {
        Call {
            gone: CancellationToken::new(),
            undo: Mutex::new(None),
        }
    }

    /// Registers how to undo a grant this call made; run if its answer is
    /// not delivered (at once when the caller is already gone).
    pub fn undo_unless_delivered(&self, undo: Box<dyn FnOnce() + Send>) {
        if self.gone.is_cancelled() {
            undo();
            return;
        }
        if let Ok(mut slot) = self.undo.lock() {
            *slot = Some(undo);
        }
    }

    fn delivered(&self) {
        if let Ok(mut slot) = self.undo.lock() {
            slot.take();
        }
    }

    fn abandoned(&self) {
        self.gone.cancel();
        let undo = self.undo.lock().ok().and_then(|mut slot| slot.take());
        if let Some(undo) = undo {
            undo();
        }
    }
}

/// Who sent a call (see `caller`) and its JSON-RPC id.
type CallKey = (String, String);

/// Calls in flight, by who sent them and their JSON-RPC id.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<HashMap<CallKey, Vec<Weak<Call>>>>,
}

impl InFlight {
    fn register(self: &Arc<Self>, key: CallKey, call: &Arc<Call>) -> Registered {
        if let Ok(mut calls) = self.calls.lock() {
            let list = calls.entry(key.clone()).or_default();
            list.retain(|c| c.strong_count() > 0);
            list.push(Arc::downgrade(call));
        }
        Registered {
            inflight: self.clone(),
            key,
            call: Arc::downgrade(call),
        }
    }

    /// Cancels the one live call under `key`; none when several match.
    fn cancel(&self, key: &CallKey) -> bool {
        let live: Vec<Arc<Call>> = match self.calls.lock() {
            Ok(calls) => calls
                .get(key)
                .into_iter()
                .flatten()
                .filter_map(Weak::upgrade)
                .collect(),
            Err(_) => return false,
        };
        match live.as_slice() {
            [one] => {
                one.gone.cancel();
                true
            }
            [] => false,
            _ => {
                tracing::warn!(request = %key.1, "a cancelled request id matches several calls in flight; none cancelled");
                false
            }
        }
    }
}

/// Removes a call's entry when it ends.
struct Registered {
    inflight: Arc<InFlight>,
    key: CallKey,
    call: Weak<Call>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.inflight.calls.lock() {
            if let Some(list) = calls.get_mut(&self.key) {
                list.retain(|c| !c.ptr_eq(&self.call) && c.strong_count() > 0);
                if list.is_empty() {
                    calls.remove(&self.key);
                }
            }
        }
    }
}

/// Who sent a request, as far as stateless HTTP can tell.
fn caller(headers: &HeaderMap) -> String {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    format!(
        "{}\n{}\n{}",
        text("authorization"),
        text(super::AGENT_HEADER),
        text("mcp-session-id")
    )
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// A JSON-RPC error answer; `id` is null when the request's could not be
/// read.
#[derive(Serialize)]
struct RpcError {
    jsonrpc: &'static str,
    id: Value,
    error: RpcErrorBody,
}

#[derive(Serialize)]
struct RpcErrorBody {
    code: i64,
    message: String,
}

fn rpc_error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = RpcError {
        jsonrpc: "2.0",
        id,
        error: RpcErrorBody { code, message },
    };
    (status, axum::Json(body)).into_response()
}

/// What is wrong with a `tools/call`'s params before any tool sees them.
fn call_params_problem(params: Option<&Value>) -> Option<String> {
    let Some(Value::Object(params)) = params else {
        return Some("tools/call: params must be an object with the tool's name".into());
    };
    match params.get("name") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) => {
            return Some("tools/call: name is required (the tool to call)".into())
        }
        Some(_) => return Some("tools/call: name must be a string".into()),
    }
    match params.get("arguments") {
        None | Some(Value::Null | Value::Object(_)) => None,
        Some(_) => Some("tools/call: arguments must be an object of named arguments".into()),
    }
}

/// Serves one `/mcp` request through `sdk`, the SDK's service.
pub async fn serve<F, Fut>(
    inflight: Arc<InFlight>,
    max_body: usize,
    req: Request,
    sdk: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, max_body).await {
        Ok(b) => b,
        Err(e) => {
            let message =
                format!("the request body could not be read ({e}); at most {max_body} bytes");
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                INVALID_REQUEST,
                message,
            );
        }
    };
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let message = format!("Parse error: the body is not JSON ({e})");
            return rpc_error(StatusCode::BAD_REQUEST, Value::Null, PARSE_ERROR, message);
        }
    };
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").cloned().filter(|v| !v.is_null());
    let who = caller(&parts.headers);
    if method == Some("tools/call") {
        if let Some(problem) = call_params_problem(message.get("params")) {
            let id = id.unwrap_or(Value::Null);
            return rpc_error(StatusCode::OK, id, INVALID_PARAMS, problem);
        }
    }
    if method == Some("notifications/cancelled") {
        // The SDK checks the request (origin, protocol) and accepts it;
        // only then is the call it names cancelled.
        let target = message
            .pointer("/params/requestId")
            .map(Value::to_string)
            .unwrap_or_default();
        let answer = sdk(Request::from_parts(parts, Body::from(bytes))).await;
        if answer.status().is_success() && inflight.cancel(&(who, target)) {
            tracing::info!("an MCP call was cancelled by its client");
        }
        return answer;
    }
    let call = Arc::new(Call::new());
    let _registered = id
        .as_ref()
        .filter(|_| method == Some("tools/call"))
        .map(|id| inflight.register((who, id.to_string()), &call));
    parts.extensions.insert(call.clone());
    // Dropped before the answer is handed over whole (the client left
    // while the call ran, or while its answer was written): the caller is
    // gone and what the call granted is undone.
    let watch = Watch(Some(call));
    let answer = sdk(Request::from_parts(parts, Body::from(bytes))).await;
    answer.map(|body| {
        Body::new(Delivering {
            inner: body,
            watch: Some(watch),
        })
    })
}

struct Watch(Option<Arc<Call>>);

impl Watch {
    fn delivered(&mut self) {
        if let Some(call) = self.0.take() {
            call.delivered();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.abandoned();
        }
    }
}

/// An answer's body that tells its call when it has been handed over
/// whole.
struct Delivering {
    inner: Body,
    watch: Option<Watch>,
}

impl http_body::Body for Delivering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let whole = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => http_body::Body::is_end_stream(&self.inner),
            _ => false,
        };
        if whole {
            if let Some(mut watch) = self.watch.take() {
                watch.delivered();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn undo_flag(call: &Call) -> Arc<AtomicBool> {
        let undone = Arc::new(AtomicBool::new(false));
        let flag = undone.clone();
        call.undo_unless_delivered(Box::new(move || flag.store(true, Ordering::SeqCst)));
        undone
    }

    #[test]
    fn a_grant_is_undone_unless_its_answer_is_delivered() {
        let call = Arc::new(Call::new());
        let undone = undo_flag(&call);
        drop(Watch(Some(call.clone())));
        assert!(undone.load(Ordering::SeqCst) && call.gone.is_cancelled());

        let call = Arc::new(Call::new());
        let undone = undo_flag(&call);
        let mut watch = Watch(Some(call.clone()));
        watch.delivered();
        drop(watch);
        assert!(!undone.load(Ordering::SeqCst));

        // Registered after the caller left: undone at once.
        let call = Call::new();
        call.gone.cancel();
        assert!(undo_flag(&call).load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_answer_body_read_to_its_end_counts_as_delivered() {
        use http_body_util::BodyExt;
        let call = Arc::new(Call::new());
        let undone = undo_flag(&call);
        let body = Delivering {
            inner: Body::from("{\"result\":1}"),
            watch: Some(Watch(Some(call.clone()))),
        };
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"{\"result\":1}");
        assert!(!undone.load(Ordering::SeqCst));

        let call = Arc::new(Call::new());
        let undone = undo_flag(&call);
        drop(Delivering {
            inner: Body::from("never read"),
            watch: Some(Watch(Some(call))),
        });
        assert!(undone.load(Ordering::SeqCst));
    }

    #[test]
    fn a_cancel_reaches_exactly_one_matching_call() {
        let inflight = Arc::new(InFlight::default());
        let key = ("tok\nada\n".to_string(), "7".to_string());
        let a = Arc::new(Call::new());
        let reg_a = inflight.register(key.clone(), &a);
        assert!(
            !inflight.cancel(&("tok\nbob\n".into(), "7".into())),
            "another caller's id"
        );
        let b = Arc::new(Call::new());
        let reg_b = inflight.register(key.clone(), &b);
        assert!(!inflight.cancel(&key), "ambiguous: two calls share the key");
        assert!(!a.gone.is_cancelled() && !b.gone.is_cancelled());
        drop(reg_b);
        drop(b);
        assert!(inflight.cancel(&key));
        assert!(a.gone.is_cancelled());
        drop(reg_a);
        assert!(
            inflight.calls.lock().unwrap().is_empty(),
            "entries go with their calls"
        );
    }
}
