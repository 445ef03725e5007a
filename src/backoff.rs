//! How long to wait before trying again (SPEC §6): exponential backoff with
//! full jitter, base 1 s, cap 60 s, and a server's `Retry-After` first.
//! Requests to Planhat and reads of objects (§3.1) wait alike.
//!
//! Pure: the random draw is passed in.

use std::time::Duration;

/// Backoff base and cap (SPEC §6).
const BASE: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(60);
/// A server asking for more than this is not waited on longer: the run would
/// look hung, and the next try will be told again.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// How long to wait before retry number `retry` (0 for the first), with
/// full jitter: a uniform draw between zero and the capped exponential,
/// `random` being that draw's fraction in [0, 1). A `Retry-After` the server
/// gave wins.
pub fn backoff(retry: u32, random: f64, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(MAX_RETRY_AFTER);
    }
    let ceiling = BASE
        .saturating_mul(2u32.saturating_pow(retry.min(16)))
        .min(CAP);
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_under_a_capped_exponential() {
        assert_eq!(
            backoff(0, 0.999_999, None),
            Duration::from_secs(1).mul_f64(0.999_999)
        );
        assert_eq!(backoff(3, 0.5, None), Duration::from_secs(4));
        assert_eq!(backoff(3, 0.0, None), Duration::ZERO);
        assert_eq!(backoff(10, 1.0, None), Duration::from_secs(60));
        assert_eq!(backoff(u32::MAX, 1.0, None), Duration::from_secs(60));
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_bounded() {
        assert_eq!(
            backoff(0, 0.0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            backoff(0, 0.0, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
    }
}
