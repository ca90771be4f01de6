//! Where coordination gets the time: wall-clock time for what is stored
//! and shown (timestamps), monotonic time for deadlines (leases, liveness),
//! so that a wall-clock jump (NTP, a resumed laptop) does not expire every
//! lease at once. `SystemClock` is the real one; `ManualClock` moves only
//! when a test says so, which lets the whole task lifecycle — leases, dead
//! agents, backoff — be tested without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::time::Timestamp;

pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time, truncated to the microseconds stored.
    fn now(&self) -> Timestamp;

    /// Monotonic time.
    fn instant(&self) -> Instant;

    /// The moment `t` on the monotonic clock, as seen from now.
    fn instant_of(&self, t: Timestamp) -> Instant {
        let now = self.now();
        let base = self.instant();
        match (t.0 - now.0).to_std() {
            Ok(ahead) => base + ahead,
            Err(_) => base
                .checked_sub((now.0 - t.0).to_std().unwrap_or_default())
                .unwrap_or(base),
        }
    }

    /// How long ago `t` was on the wall clock (zero if in the future).
    fn since(&self, t: Timestamp) -> Duration {
        (self.now().0 - t.0).to_std().unwrap_or_default()
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock for tests: starts at the real time and advances only through
/// `advance` (both clocks) or `jump_wall` (the wall clock alone, as NTP or
/// a suspended laptop does).
#[derive(Debug)]
pub struct ManualClock {
    wall: Mutex<Timestamp>,
    mono: Mutex<Instant>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            wall: Mutex::new(Timestamp::now()),
            mono: Mutex::new(Instant::now()),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let mut wall = self.wall.lock().unwrap_or_else(|p| p.into_inner());
        *wall = wall.plus(by);
        let mut mono = self.mono.lock().unwrap_or_else(|p| p.into_inner());
        *mono += by;
    }

    /// Moves the wall clock by `by` (back when `forward` is false); the
    /// monotonic clock does not move.
    pub fn jump_wall(&self, by: Duration, forward: bool) {
        let mut wall = self.wall.lock().unwrap_or_else(|p| p.into_inner());
        *wall = if forward {
            wall.plus(by)
        } else {
            wall.minus(by)
        };
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.wall.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn instant(&self) -> Instant {
        *self.mono.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_jump_moves_timestamps_but_not_deadlines() {
        let clock = ManualClock::default();
        let lease_end = clock.now().plus(Duration::from_secs(60));
        let deadline = clock.instant_of(lease_end);
        clock.jump_wall(Duration::from_secs(3600), true);
        assert!(
            clock.instant() < deadline,
            "a jump must not reach the deadline"
        );
        assert_eq!(clock.since(lease_end), Duration::from_secs(3540));
        clock.advance(Duration::from_secs(61));
        assert!(clock.instant() >= deadline);
    }
}
