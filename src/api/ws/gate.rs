//! One session at a time per durable subscription on this server, so a
//! client that resubscribes right after its connection ended gets first
//! what that connection held: the old session gives back what it took (a
//! nak each, which on NATS is a round trip) before the new one fetches.
//! Without it the new session could fetch newer messages first and see the
//! returned ones after them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

/// How long a new session waits for the one before it. A session still
/// running past that is taken to be another live client sharing the
/// durable (as JetStream allows), not one that is going away.
const WAIT: Duration = Duration::from_secs(2);

/// How long a new session waits for one that has ended and is giving back
/// what it took: that one is surely going away, and on NATS its naks (a
/// round trip or two each, hundreds for a full batch) can take seconds on
/// a loaded machine; starting before they are done would see newer
/// messages before the returned ones.
const LEAVING_WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Gate {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The holder has ended and is giving back what it took.
    leaving: AtomicBool,
}

/// A session's hold on its durable's gate.
pub struct Held {
    gate: Arc<Gate>,
    _guard: OwnedMutexGuard<()>,
}

impl Held {
    /// The session has ended; what remains is giving back what it took.
    pub fn leaving(&self) {
        self.gate.leaving.store(true, Ordering::SeqCst);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gate.leaving.store(false, Ordering::SeqCst);
    }
}

/// A session's hold on its durable; kept until what it took is given
/// back. None when it stopped waiting for another session.
pub type Turn = Option<Arc<Held>>;

#[derive(Default)]
pub struct DurableGates(Mutex<HashMap<String, Arc<Gate>>>);

impl DurableGates {
    /// Waits until no earlier session of this durable holds its turn: up
    /// to `WAIT` for one still running, up to `LEAVING_WAIT` for one that
    /// ended and is giving back what it took.
    pub async fn turn(&self, stream: &str, consumer: &str) -> Turn {
        let gate = {
            let mut gates = crate::log::lock_unpoisoned(&self.0);
            // A gate nobody holds or waits for has no other reference.
            gates.retain(|_, g| Arc::strong_count(g) > 1);
            gates
                .entry(format!("{stream}\u{0}{consumer}"))
                .or_default()
                .clone()
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut lock = std::pin::pin!(gate.lock.clone().lock_owned());
        let guard = loop {
            let step = tokio::time::Instant::now() + Duration::from_millis(50);
            match tokio::time::timeout_at(step.min(deadline), &mut lock).await {
                Ok(guard) => break Some(guard),
                Err(_) if gate.leaving.load(Ordering::SeqCst) => {
                    break tokio::time::timeout(LEAVING_WAIT, &mut lock).await.ok();
                }
                Err(_) if tokio::time::Instant::now() >= deadline => break None,
                Err(_) => continue,
            }
        };
        guard.map(|g| {
            Arc::new(Held {
                gate: gate.clone(),
                _guard: g,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_turn_waits_for_the_one_before_and_gives_up_after_a_while() {
        let gates = DurableGates::default();
        let first = gates.turn("S", "d").await;
        assert!(first.is_some());
        // Another durable is not held up.
        assert!(gates.turn("S", "other").await.is_some());
        let started = tokio::time::Instant::now();
        assert!(gates.turn("S", "d").await.is_none(), "still held");
        assert_eq!(started.elapsed(), WAIT);
        let second = {
            let gates = &gates;
            let waiting = async move { gates.turn("S", "d").await };
            let release = async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                drop(first);
            };
            tokio::join!(waiting, release).0
        };
        assert!(second.is_some(), "taken once released");
        drop(second);
        let keys = |g: &DurableGates| -> Vec<String> {
            let mut k: Vec<String> = crate::log::lock_unpoisoned(&g.0).keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&gates),
            ["S\u{0}d"],
            "an unheld gate lasts until the next turn"
        );
        let _x = gates.turn("S", "x").await;
        assert_eq!(keys(&gates), ["S\u{0}x"], "unheld gates are dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_giving_back_is_waited_for_longer() {
        let gates = DurableGates::default();
        let first = gates.turn("S", "d").await.expect("free");
        first.leaving();
        let started = tokio::time::Instant::now();
        let second = {
            let gates = &gates;
            let waiting = async move { gates.turn("S", "d").await };
            let release = async move {
                tokio::time::sleep(WAIT * 3).await;
                drop(first);
            };
            tokio::join!(waiting, release).0
        };
        assert!(second.is_some(), "waited for the give-back");
        assert_eq!(started.elapsed(), WAIT * 3);
        // Still bounded: a give-back that never ends is not waited for.
        second.as_ref().unwrap().leaving();
        let started = tokio::time::Instant::now();
        assert!(gates.turn("S", "d").await.is_none());
        assert_eq!(started.elapsed(), LEAVING_WAIT + Duration::from_millis(50));
    }
}
