//! The coordination backend `serve --backend` names. On a NATS JetStream
//! server or cluster, several hivelog instances share one store: each
//! follows the state stream (coord/follow.rs), one at a time reaps (a
//! lease), and each relays the live subjects from NATS to its own
//! subscribers (streams/relay.rs).

use anyhow::Context;

use crate::config::BackendArgs;
use crate::log::Log;
use crate::streams::{Backend, JetStreamPort, LogBackend, LogPort};

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
    // A cluster that has just started, or is replacing a node, may not
    // answer JetStream requests for some seconds: wait for it rather than
    // give up on the first timeout.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let attempt = async {
            let port = JetStreamPort::connect_with(url, options.clone(), prefix, replicas).await?;
            // The reads loading the state make: a stream info and a consumer.
            port.head(crate::coord::STATE_SUBJECTS).await?;
            port.scan(crate::coord::STATE_SUBJECTS, 1, 1).await?;
            Ok::<_, crate::streams::PortError>(port)
        };
        match attempt.await {
            Ok(port) => return Ok(Backend::JetStream(Box::new(port))),
            Err(e @ crate::streams::PortError::Unavailable(_))
                if std::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "NATS JetStream is not answering yet; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("cannot use the JetStream backend at {url}"))
            }
        }
    }
}

pub fn is_nats_url(s: &str) -> bool {
    let s = s.trim();
    s.starts_with("nats://") || s.starts_with("tls://")
}
