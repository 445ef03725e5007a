//! Time and chance as the HTTP sender sees them: the [`Clock`] its waits
//! go through (tests pass one that does not sleep), and the real one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Time and chance, as the sender sees them.
pub trait Clock {
    fn now(&self) -> Instant;
    fn wall(&self) -> SystemTime;
    fn sleep(&mut self, duration: Duration);
    /// A uniform draw in [0, 1), for jitter.
    fn random(&mut self) -> f64;
}

/// The real clock, with a small xorshift generator for jitter (it needs to
/// spread retries, not to be unpredictable). Its sleeps end early when the
/// run is interrupted, so Ctrl-C never waits out a long backoff.
pub struct SystemClock {
    state: u64,
    interrupt: Arc<AtomicBool>,
}

impl SystemClock {
    pub fn new(interrupt: Arc<AtomicBool>) -> SystemClock {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        SystemClock {
            state: (nanos ^ u64::from(std::process::id())) | 1,
            interrupt,
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&mut self, duration: Duration) {
        let end = Instant::now() + duration;
        while !self.interrupt.load(Ordering::Relaxed) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn random(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }
}
