//! The coordination backend `serve --backend` names. On a NATS JetStream
//! server or cluster, several hivelog instances share one store: each
//! follows the state stream (coord/follow.rs), one at a time reaps (a
//! lease), and each relays the live subjects from NATS to its own
//! WebSocket subscribers, so the dashboard and `hivelog sub` behave the
//! same on every instance.

use anyhow::Context;
use futures_util::StreamExt;

use crate::config::BackendArgs;
use crate::coord::port::{Backend, JetStreamPort, LogBackend};
use crate::log::Log;

/// Opens the backend `config` names; `log` (the data directory) is the
/// store of the embedded one.
pub async fn open(config: &BackendArgs, log: &Log, prefix: &str) -> anyhow::Result<Backend> {
    if config.backend.trim() == "embedded" {
        let port =
            LogBackend::open(log.clone(), prefix).context("cannot create the default streams")?;
        return Ok(Backend::Embedded(port));
    }
    open_nats(config, prefix).await
}

/// The NATS backend `config.backend` names (nats:// or tls://, several
/// comma-separated for a cluster).
pub async fn open_nats(config: &BackendArgs, prefix: &str) -> anyhow::Result<Backend> {
    let url = config.backend.trim();
    if !is_nats_url(url) {
        anyhow::bail!(
            "--backend {url:?} is neither `embedded` nor a nats:// URL (e.g. nats://127.0.0.1:4222, or several comma-separated for a cluster)"
        );
    }
    let servers = url.split(',').filter(|s| !s.trim().is_empty()).count();
    let replicas = config
        .replicas
        .map_or(if servers >= 3 { 3 } else { 1 }, usize::from);
    let mut options = async_nats::ConnectOptions::new();
    if let Some(creds) = &config.backend_creds {
        options = options
            .credentials_file(creds)
            .await
            .with_context(|| format!("cannot read --backend-creds {}", creds.display()))?;
    }
    if let Some(token) = &config.backend_token {
        options = options.token(token.clone());
    }
    let port = JetStreamPort::connect_with(url, options, prefix, replicas)
        .await
        .with_context(|| format!("cannot use the JetStream backend at {url}"))?;
    Ok(Backend::JetStream(Box::new(port)))
}

pub fn is_nats_url(s: &str) -> bool {
    let s = s.trim();
    s.starts_with("nats://") || s.starts_with("tls://")
}

/// Relays what any instance stores on the live subjects (`<prefix>.>` and
/// the state subjects) to this instance's subscribers, until `shutdown`.
pub fn relay_live(
    port: &JetStreamPort,
    log: Log,
    prefix: &str,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let client = port.client();
    let subjects = [
        format!("{prefix}.>"),
        crate::coord::STATE_SUBJECTS.to_string(),
    ];
    tokio::spawn(async move {
        let mut subs = Vec::new();
        for s in subjects {
            match client.subscribe(s.clone()).await {
                Ok(sub) => subs.push(sub),
                Err(e) => tracing::error!(subject = %s, error = %e, "cannot relay live messages"),
            }
        }
        let mut all = futures_util::stream::select_all(subs);
        loop {
            tokio::select! {
                m = all.next() => match m {
                    Some(m) => {
                        if let Err(e) = log.deliver_live(m.subject.as_str(), m.payload.to_vec()) {
                            tracing::debug!(error = %e, "not relayed");
                        }
                    }
                    None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    })
}
