//! What the sender counts as it happens, shared with the display.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the sender does, counted as it happens and shared with the display
/// (the sender runs on a thread of its own): requests, retries and bytes
/// sent, and the notices it has for the user (a retry, a long pacing wait),
/// which the display prints between its updates.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
    notices: Mutex<Vec<String>>,
}

impl Counters {
    /// A try of a request with a body of `bytes`.
    pub fn request(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A retry, and the line that tells the user.
    pub fn retry(&self, notice: String) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.notice(notice);
    }

    /// A line for the user.
    pub fn notice(&self, line: String) {
        self.notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    /// The notices not yet shown.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(
            &mut self
                .notices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}
