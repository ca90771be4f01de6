//! Limits on what one client can take: requests per second (a token
//! bucket per client — its token's name, or its address without one —
//! answered with 429 and `Retry-After`), and WebSocket connections in
//! total and per address, and subscriptions per connection (checked in
//! `ws/`). Each is configurable; every refusal says which limit and how to
//! raise it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::auth::Caller;
use super::{ApiError, AppState};

#[derive(Debug, Clone, Copy)]
pub struct LimitsConfig {
    /// Requests per second per client; 0 turns rate limiting off.
    pub rate_per_sec: u32,
    /// How many requests a client may burst above the rate.
    pub burst: u32,
    pub ws_connections: usize,
    pub ws_connections_per_client: usize,
    pub ws_subscriptions: usize,
    pub streams: usize,
    pub consumers_per_stream: usize,
    /// The largest request body, in bytes (413 beyond).
    pub max_body: usize,
    /// The largest WebSocket frame a client may send, in bytes.
    pub ws_max_frame: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            rate_per_sec: 0,
            burst: 0,
            ws_connections: 10_000,
            ws_connections_per_client: 1_000,
            ws_subscriptions: 1_000,
            streams: 1_000,
            consumers_per_stream: 10_000,
            max_body: super::MAX_BODY,
            ws_max_frame: 2 * crate::log::DEFAULT_MAX_MSG_SIZE as usize,
        }
    }
}

pub struct Limits {
    pub config: LimitsConfig,
    rate: Option<DefaultKeyedRateLimiter<String>>,
    ws_per_client: Mutex<HashMap<IpAddr, usize>>,
}

impl Limits {
    pub fn new(config: LimitsConfig) -> Limits {
        let rate = NonZeroU32::new(config.rate_per_sec).map(|per_sec| {
            let burst = NonZeroU32::new(config.burst.max(config.rate_per_sec)).unwrap_or(per_sec);
            RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst))
        });
        Limits {
            config,
            rate,
            ws_per_client: Mutex::default(),
        }
    }

    /// Forgets idle clients' buckets (called now and then).
    pub fn tidy(&self) {
        if let Some(r) = &self.rate {
            r.retain_recent();
        }
    }

    /// Counts a new WebSocket connection from `ip`, or says which limit
    /// refuses it. The caller gives it back with `close_ws`.
    pub fn open_ws(&self, ip: Option<IpAddr>, open_now: usize) -> Result<(), ApiError> {
        if open_now >= self.config.ws_connections {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server holds its limit of {} WebSocket connections (--ws-max-connections)",
                    self.config.ws_connections
                ),
            ));
        }
        if let Some(ip) = ip {
            let mut per = self.ws_per_client.lock().unwrap_or_else(|p| p.into_inner());
            let n = per.entry(ip).or_default();
            if *n >= self.config.ws_connections_per_client {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{ip} already has {} WebSocket connections (--ws-max-connections-per-client)",
                        self.config.ws_connections_per_client
                    ),
                ));
            }
            *n += 1;
        }
        Ok(())
    }
}

impl Limits {
    /// Room for one more stream?
    pub fn new_stream(&self, existing: usize) -> Result<(), ApiError> {
        if existing >= self.config.streams {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "the server holds its limit of {} streams (--max-streams)",
                    self.config.streams
                ),
            ));
        }
        Ok(())
    }

    /// Room for one more consumer on a stream?
    pub fn new_consumer(&self, existing: usize) -> Result<(), ApiError> {
        if existing >= self.config.consumers_per_stream {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "the stream holds its limit of {} consumers (--max-consumers-per-stream)",
                    self.config.consumers_per_stream
                ),
            ));
        }
        Ok(())
    }

    /// Gives back what `open_ws` counted.
    pub fn close_ws(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut per = self.ws_per_client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&ip);
            }
        }
    }
}

pub fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// 429 with `Retry-After` when a client exceeds `--rate-limit`.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = &state.limits.rate else {
        return next.run(req).await;
    };
    let key = match req.extensions().get::<Caller>() {
        Some(c) if c.name != "anyone" => format!("token:{}", c.name),
        _ => client_ip(&req).map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
    };
    match limiter.check_key(&key) {
        Ok(()) => next.run(req).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many requests: at most {} per second per client (--rate-limit); retry in {secs}s",
                    state.limits.config.rate_per_sec
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
    }
}
