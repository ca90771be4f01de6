//! Keeping this instance's views current when others write to the same
//! store (several hivelog instances on one JetStream cluster). A watch on
//! the state subjects, from where loading left off, applies every task,
//! agent, reservation and pause record in order; what this instance wrote
//! itself is already applied and is passed over (a view takes a version
//! only if it is newer than the one it holds). If the watch ends (the
//! backend restarted, the watcher fell behind), it starts again after the
//! last record applied.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::agents::{Agent, AgentRecord};
use super::project::Kind;
use super::reservations::Reservation;
use super::task::{token, Task};
use super::{lock, Coordinator};
use crate::streams::{LogPort, Record};

/// How long a watch may stay quiet while the stream is ahead of it.
const STALL_CHECK: Duration = Duration::from_secs(3);

impl<P: LogPort> Coordinator<P> {
    /// Follows the state subjects until `shutdown` turns true.
    pub fn start_follower(
        self: &Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let coord = self.clone();
        tokio::spawn(async move {
            loop {
                let after = coord.followed.load(Ordering::Acquire);
                let mut watch = match coord.port.watch(&coord.subjects.all(), after).await {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot follow the state stream; trying again");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.changed() => return,
                        }
                    }
                };
                // A watch can go quiet without an error (its server was
                // lost while the cluster moved the stream): when nothing
                // arrived for a while yet the stream has records past what
                // was applied, follow again from there.
                let mut check = tokio::time::interval(STALL_CHECK);
                check.tick().await;
                let mut progressed = false;
                loop {
                    tokio::select! {
                        next = watch.next() => match next {
                            Some(Ok(r)) => {
                                coord.apply_record(&r);
                                progressed = true;
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "the state watch ended; following again");
                                break;
                            }
                            None => break,
                        },
                        _ = check.tick() => {
                            if std::mem::take(&mut progressed) {
                                continue;
                            }
                            let followed = coord.followed.load(Ordering::Acquire);
                            if coord.port.head(&coord.subjects.all()).await.is_ok_and(|head| head > followed) {
                                tracing::warn!(followed, "the state watch stalled; following again");
                                break;
                            }
                        }
                        _ = shutdown.changed() => return,
                    }
                }
            }
        })
    }

    /// One record another instance (or this one) stored.
    pub(super) fn apply_record(&self, r: &Record) {
        self.followed.fetch_max(r.seq, Ordering::AcqRel);
        // Another project's record (the default project's watch sees them).
        let Some((kind, rest)) = self.subjects.kind_of(&r.subject) else {
            return;
        };
        if kind == Kind::Task {
            let Ok(task) = serde_json::from_slice::<Task>(&r.payload) else {
                return;
            };
            if lock(&self.task_view).apply(task, r.seq) {
                self.claimable.notify_waiters();
            }
        } else if kind == Kind::Agent {
            let Ok(agent) = serde_json::from_slice::<Option<Agent>>(&r.payload) else {
                return;
            };
            // The subject carries the id encoded; a live record names it.
            let mut agents = lock(&self.agent_records);
            let id = match &agent {
                Some(a) => a.agent_id.clone(),
                None => match agents.keys().find(|id| token(id) == rest) {
                    Some(id) => id.clone(),
                    None => return,
                },
            };
            if agents.get(&id).is_some_and(|a| a.seq >= r.seq) {
                return;
            }
            match agent {
                Some(agent) => {
                    let heard = self.clock.instant_of(agent.seen());
                    agents.insert(
                        id,
                        AgentRecord {
                            agent,
                            seq: r.seq,
                            heard,
                        },
                    );
                }
                None => {
                    agents.remove(&id);
                }
            }
        } else if kind == Kind::Reservation {
            match serde_json::from_slice::<Option<Reservation>>(&r.payload) {
                Ok(Some(res)) => self.load_reservation(res),
                Ok(None) => {
                    lock(&self.held).remove(rest);
                }
                Err(_) => {}
            }
        } else if kind == Kind::Control {
            if let Ok(p) = serde_json::from_slice(&r.payload) {
                self.apply_switch(rest, p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::coord::clock::ManualClock;
    use crate::coord::task::TaskStatus;
    use crate::coord::{CoordConfig, CoordError};
    use crate::streams::{nats_testing, JetStreamPort, MemoryPort};

    async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ok() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Two instances on one store, each following it: what one writes,
    /// the other serves.
    async fn two_instances_see_each_others_writes<P: LogPort>(one: P, two: P) {
        let clock = Arc::new(ManualClock::default());
        let open = |p| {
            let clock = clock.clone();
            async move {
                Coordinator::open_with_clock(p, CoordConfig::default(), clock)
                    .await
                    .unwrap()
            }
        };
        let (a, b) = (open(one).await, open(two).await);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let _fa = a.start_follower(stopped.clone());
        let _fb = b.start_follower(stopped);

        let input = serde_json::from_value(json!({"task_id": "t", "title": "T"})).unwrap();
        a.tasks().post(input).await.unwrap();
        eventually("b sees the task", || b.tasks().get("t").is_ok()).await;
        // b grants it; a learns, and cannot grant it again.
        let w = b
            .tasks()
            .claim_next("worker", None, Duration::ZERO, &Default::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.task.task_id, "t");
        eventually("a sees the claim", || {
            a.tasks()
                .get("t")
                .is_ok_and(|t| t.status == TaskStatus::Claimed)
        })
        .await;
        assert!(a
            .tasks()
            .claim_next("other", None, Duration::ZERO, &Default::default())
            .await
            .unwrap()
            .is_none());
        let hb = serde_json::from_value(json!({"agent_id": "worker"})).unwrap();
        a.agents().heartbeat(hb).await.unwrap();
        eventually("b sees the agent", || {
            b.agents()
                .list(true)
                .iter()
                .any(|v| v.agent.agent_id == "worker")
        })
        .await;
        a.agents().remove("worker").await.unwrap();
        eventually("b sees it removed", || b.agents().list(true).is_empty()).await;
        b.set_paused(true, None, None).await.unwrap();
        eventually("a sees the pause", || a.is_paused()).await;
        let err = a.tasks().claim("t", "x").await.unwrap_err();
        assert!(matches!(err, CoordError::Paused), "{err}");
    }

    #[tokio::test]
    async fn in_memory() {
        let port = Arc::new(MemoryPort::new());
        two_instances_see_each_others_writes(port.clone(), port).await;
    }

    #[tokio::test]
    async fn on_jetstream() {
        let Some(server) = nats_testing::start("follow on_jetstream") else {
            return;
        };
        let one = JetStreamPort::connect(&server.url, "mjwork", 1)
            .await
            .unwrap();
        let two = JetStreamPort::connect(&server.url, "mjwork", 1)
            .await
            .unwrap();
        two_instances_see_each_others_writes(one, two).await;
    }

    /// One instance reaps; when it stops renewing, another takes over.
    async fn one_reaper_at_a_time<P: LogPort>(one: P, two: P) {
        let config = CoordConfig {
            agent_dead_after: Duration::from_secs(2),
            ..CoordConfig::default()
        };
        let open = |p| {
            let config = config.clone();
            async move { Coordinator::open(p, config).await.unwrap() }
        };
        let (a, b) = (open(one).await, open(two).await);
        assert!(a.leads_reaping().await);
        assert!(!b.leads_reaping().await);
        assert!(a.leads_reaping().await, "renewed");
        // a dies (stops renewing): within the lease's 1 s, b takes over.
        let started = Instant::now();
        while !b.leads_reaping().await {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "b never took over"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "taken from a live holder"
        );
        assert!(!a.leads_reaping().await, "a comes back to find b leading");
    }

    #[tokio::test]
    async fn one_reaper_in_memory() {
        let port = Arc::new(MemoryPort::new());
        one_reaper_at_a_time(port.clone(), port).await;
    }

    #[tokio::test]
    async fn one_reaper_on_jetstream() {
        let Some(server) = nats_testing::start("one_reaper_on_jetstream") else {
            return;
        };
        let one = JetStreamPort::connect(&server.url, "mjwork", 1)
            .await
            .unwrap();
        let two = JetStreamPort::connect(&server.url, "mjwork", 1)
            .await
            .unwrap();
        one_reaper_at_a_time(one, two).await;
    }
}
