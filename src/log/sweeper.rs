//! The background job that enforces time: messages older than `max_age`,
//! de-duplication ids older than `duplicate_window`, and ephemeral
//! consumers idle past `inactive_threshold`. It also records, every few
//! seconds, what is on disk in the manifest (manifest.rs).

use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::error::{LogError, Result};
use super::retention::Change;
use super::store::keys;
use super::{lock, now_ns, Log, StreamHandle};

/// Removals per batch, so the writer lock is never held for long.
const CHUNK: u64 = 2_000;
/// How often the manifest is brought up to date: what a damaged store
/// could lose without its open being refused.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub expired_messages: u64,
    pub expired_msg_ids: u64,
    pub removed_consumers: u64,
}

pub(super) async fn run(log: Log, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpointed = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if checkpointed.elapsed() >= CHECKPOINT_EVERY {
            checkpointed = std::time::Instant::now();
            let job = log.clone();
            match tokio::task::spawn_blocking(move || job.checkpoint()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "manifest not updated"),
                Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
            }
        }
        let job = log.clone();
        let span = tracing::debug_span!("sweep");
        match tokio::task::spawn_blocking(move || span.in_scope(|| job.sweep())).await {
            Ok(Ok(r)) if r != SweepReport::default() => tracing::debug!(?r, "sweep done"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "sweep failed"),
            Err(e) => tracing::error!(error = %e, "sweep task failed"),
        }
    }
}

pub(super) fn sweep_once(log: &Log) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    for name in log.stream_names() {
        let handle = match log.stream(&name) {
            Ok(h) => h,
            Err(LogError::StreamNotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        report.expired_messages += expire_messages(&handle)?;
        report.expired_msg_ids += expire_msg_ids(&handle)?;
        report.removed_consumers += log.remove_idle_consumers(&handle);
    }
    Ok(report)
}

fn expire_messages(handle: &StreamHandle) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut inner = lock(&handle.inner);
        let Some(max_age) = inner.config.max_age else {
            return Ok(total);
        };
        let cutoff = now_ns().saturating_sub(i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX));
        if inner.state.messages == 0 || inner.state.first_ts >= cutoff {
            return Ok(total);
        }
        let mut change = Change::new(&handle.tree, inner.state);
        let mut n = 0;
        while n < CHUNK {
            match change.oldest()? {
                Some((_, msg)) if msg.time_ns < cutoff => {
                    change.remove_oldest()?;
                    n += 1;
                }
                _ => break,
            }
        }
        change.commit(&mut inner.state)?;
        total += n;
        if n < CHUNK {
            return Ok(total);
        }
    }
}

fn expire_msg_ids(handle: &StreamHandle) -> Result<u64> {
    let inner = lock(&handle.inner);
    let window = i64::try_from(inner.config.duplicate_window.as_nanos()).unwrap_or(i64::MAX);
    let cutoff = now_ns().saturating_sub(window);
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for item in handle.tree.scan_prefix([keys::DEDUP_TIME]) {
        let (k, _) = item?;
        let at = keys::trailing_seq(&k[..9.min(k.len())]).unwrap_or(u64::MAX) as i64;
        if at >= cutoff || n >= CHUNK {
            break;
        }
        let id = String::from_utf8_lossy(&k[9..]).into_owned();
        batch.remove(k);
        // Only drop the id if it still points at this publish; a later
        // publish with the same id after the window owns it now.
        if let Some(v) = handle.tree.get(keys::dedup(&id))? {
            let (_, t): (u64, i64) = super::store::decode(&v)?;
            if t == at {
                batch.remove(keys::dedup(&id));
            }
        }
        n += 1;
    }
    if n > 0 {
        handle.tree.apply_batch(batch)?;
    }
    Ok(n)
}
