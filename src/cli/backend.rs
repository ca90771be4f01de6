//! The coordination backend `serve --backend` names. On a NATS JetStream
//! server or cluster, several hivelog instances share one store: each
//! follows the state stream (coord/follow.rs), one at a time reaps (a
//! lease), and each relays the live subjects from NATS to its own
//! WebSocket subscribers, so the dashboard and `hivelog sub` behave the
//! same on every instance.

use anyhow::Context;
use futures_util::StreamExt;

use crate::config::BackendArgs;
use crate::coord::port::{Backend, JetStreamPort, LogBackend, LogPort};
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
            Ok::<_, crate::coord::port::PortError>(port)
        };
        match attempt.await {
            Ok(port) => return Ok(Backend::JetStream(Box::new(port))),
            Err(e @ crate::coord::port::PortError::Unavailable(_))
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

use crate::coord::port::streams::LIVE_RELAY;

/// Relays to this instance's subscribers what any instance stores on the
/// kept subjects (`<prefix>.>` and the state subjects, read from JetStream
/// with their streams, sequences, times and headers, as the embedded log
/// delivers them) and what other instances publish on subjects no stream
/// keeps (`hivelog.live.>`), until `shutdown`.
pub fn relay_live(
    port: &JetStreamPort,
    log: Log,
    prefix: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut jobs = Vec::new();
    for filter in [
        format!("{prefix}.>"),
        crate::coord::STATE_SUBJECTS.to_string(),
    ] {
        jobs.push(tokio::spawn(relay_stored(
            port.clone(),
            log.clone(),
            filter,
            shutdown.clone(),
        )));
    }
    jobs.push(tokio::spawn(relay_unstored(port.client(), log, shutdown)));
    tokio::spawn(async move {
        for j in jobs {
            let _ = j.await;
        }
    })
}

async fn relay_stored(
    port: JetStreamPort,
    log: Log,
    filter: String,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use crate::log::DeliverFrom;
    // The filters cover their whole stream, so its head is the last
    // message to relay; go on right after it after a failure or a stall.
    let mut last = loop {
        match port.head(&filter).await {
            Ok(head) => break head,
            Err(e) => {
                tracing::warn!(%filter, error = %e, "cannot start relaying; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    };
    loop {
        let mut messages = match port.follow(&filter, DeliverFrom::StartSeq(last + 1)).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%filter, error = %e, "cannot relay stored messages; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        // As the state follower does: a quiet consumer behind its stream
        // has stalled (its server was lost), so start it again.
        let mut check = tokio::time::interval(std::time::Duration::from_secs(3));
        check.tick().await;
        let mut progressed = false;
        loop {
            tokio::select! {
                m = messages.next() => match m {
                    Some(Ok(m)) => {
                        last = m.seq;
                        progressed = true;
                        log.deliver_stored(m);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(%filter, error = %e, "relay interrupted; resuming");
                        break;
                    }
                    None => break,
                },
                _ = check.tick() => {
                    if !std::mem::take(&mut progressed)
                        && port.head(&filter).await.is_ok_and(|head| head > last)
                    {
                        tracing::warn!(%filter, last, "relay stalled; resuming");
                        break;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

async fn relay_unstored(
    client: async_nats::Client,
    log: Log,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut sub = match client.subscribe(format!("{LIVE_RELAY}.>")).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot relay live messages between instances");
            return;
        }
    };
    loop {
        tokio::select! {
            m = sub.next() => match m {
                Some(m) => {
                    let Some(subject) = m.subject.as_str().strip_prefix(&format!("{LIVE_RELAY}.")) else {
                        continue;
                    };
                    if let Err(e) = log.deliver_live(subject, m.payload.to_vec()) {
                        tracing::debug!(error = %e, "not relayed");
                    }
                }
                None => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}
