//! The live relay on the NATS backend: each instance hands its own
//! subscribers what any instance stores on the subjects JetStream keeps,
//! and what other instances publish on subjects no stream keeps, so the
//! dashboard and `hivelog sub` behave the same on every instance.

use futures_util::StreamExt;

use super::generic::LIVE_RELAY;
use super::{Backend, JetStreamPort, LogPort as _};
use crate::log::Log;

impl super::Streams {
    /// Starts the relay on the NATS backend (nothing to relay on the
    /// embedded one), until `shutdown`.
    pub fn start_relay(
        &self,
        prefix: &str,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        match self.backend() {
            Backend::JetStream(p) => Some(relay_live(p, self.log().clone(), prefix, shutdown)),
            Backend::Embedded(_) => None,
        }
    }
}

/// Relays to this instance's subscribers what any instance stores on the
/// kept subjects (`<prefix>.>` and the state subjects, read from JetStream
/// with their streams, sequences, times and headers, as the embedded log
/// delivers them) and what other instances publish on subjects no stream
/// keeps (`hivelog.live.>`), until `shutdown`.
fn relay_live(
    port: &JetStreamPort,
    log: Log,
    prefix: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut jobs = Vec::new();
    for filter in [format!("{prefix}.>"), super::STATE_SUBJECTS.to_string()] {
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
