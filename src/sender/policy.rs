//! The delivery rules that decide from an answer what happens next (SPEC
//! §6): which statuses are retried (how long to wait is
//! [`backoff`](crate::backoff)'s), which split a batch,
//! which stop the run, and which items a bulk-upsert answer names as failed;
//! and the pacing of the main API.
//!
//! Pure: no I/O, no clock; randomness and the current time are passed in.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Accepted (2xx); upsert answers are still read for item errors.
    Accepted,
    /// A redirect (3xx): never followed, it stops the run.
    Redirect,
    /// Try again later.
    Retry,
    /// Refused because of what the batch holds: split it, or fail the item.
    Split,
    /// The token is refused: stop the run.
    Abort,
    /// Refused for another reason: fail the items.
    Fail,
}

/// Classifies an HTTP status.
pub fn classify(status: u16) -> Disposition {
    match status {
        200..=299 => Disposition::Accepted,
        300..=399 => Disposition::Redirect,
        408 | 429 | 500 | 502 | 503 | 504 => Disposition::Retry,
        400 | 413 | 422 => Disposition::Split,
        401 | 403 => Disposition::Abort,
        _ => Disposition::Fail,
    }
}

/// Reads a `Retry-After` header: delay-seconds, or an HTTP date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`) measured from `now`. A date in the past
/// means "now".
pub fn retry_after(header: &str, now: SystemTime) -> Option<Duration> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(header)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate, the form HTTP/1.1 servers must send.
fn http_date(text: &str) -> Option<SystemTime> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let mut clock = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if h > 23 || m > 59 || s > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let text = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z");
    let millis = crate::segment::time::EventTime::parse_str(&text)?.millis();
    let millis = u64::try_from(millis).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(millis))
}

/// Planhat's hard limit is 150 requests a second; this stays well under it.
pub const MAX_PER_SECOND: usize = 50;
const MINUTE: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

/// The main API's pacing (SPEC §6): at most `per_minute` requests in any 60
/// seconds and at most [`MAX_PER_SECOND`] in any second — sliding windows,
/// so bursts go at once, as Planhat allows them, and only a sustained rate
/// is held back.
#[derive(Debug, Clone)]
pub struct Pacer {
    per_minute: usize,
    /// When the latest requests started, oldest first: as many as either
    /// window needs.
    starts: VecDeque<Instant>,
}

impl Pacer {
    pub fn new(per_minute: u32) -> Pacer {
        Pacer {
            per_minute: (per_minute as usize).max(1),
            starts: VecDeque::new(),
        }
    }

    /// How long a request must wait at `now` to stay within both windows.
    pub fn wait(&self, now: Instant) -> Duration {
        let nth_latest = |n: usize| {
            self.starts
                .len()
                .checked_sub(n)
                .map(|index| self.starts[index])
        };
        let free_at = [
            nth_latest(self.per_minute).map(|start| start + MINUTE),
            nth_latest(MAX_PER_SECOND).map(|start| start + SECOND),
        ];
        free_at
            .into_iter()
            .flatten()
            .max()
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }

    /// A request started at `at`.
    pub fn record(&mut self, at: Instant) {
        self.starts.push_back(at);
        while self.starts.len() > self.per_minute.max(MAX_PER_SECOND) {
            self.starts.pop_front();
        }
    }
}

/// Which items a bulk-upsert answer names as failed (SPEC §6): those named
/// in a non-empty `createdErrors`, `updatedErrors` or `permissionErrors`.
/// `items` gives the request's items (read only when there are errors);
/// each is named by its `externalId` or `email` appearing anywhere in an
/// error entry. Returns the failed items'
/// indexes with the error's text. An error that names no item of the
/// request fails them all: upserts are idempotent, so sending a few again
/// is safe, while calling an unnamed failure delivered would lose it. A 206
/// that lists no errors is treated the same way.
pub fn upsert_failures(
    status: u16,
    answer: &str,
    items: impl FnOnce() -> Vec<Value>,
) -> Vec<(usize, String)> {
    let answer: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    let errors: Vec<&Value> = ["createdErrors", "updatedErrors", "permissionErrors"]
        .iter()
        .filter_map(|key| answer.get(*key)?.as_array())
        .flatten()
        .collect();
    if errors.is_empty() {
        return if status == 206 {
            let count = items().len();
            let why = "Planhat answered 206 (partial) without naming the failed items".to_owned();
            (0..count).map(|i| (i, why.clone())).collect()
        } else {
            Vec::new()
        };
    }
    let items = items();
    let mut failed = Vec::new();
    for error in errors {
        let mut names = HashSet::new();
        collect_text(error, &mut names);
        let text = error.to_string();
        let named: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                ["externalId", "email"].iter().any(|key| {
                    item.get(*key)
                        .and_then(Value::as_str)
                        .is_some_and(|v| names.contains(v))
                })
            })
            .map(|(i, _)| i)
            .collect();
        let targets = if named.is_empty() {
            (0..items.len()).collect()
        } else {
            named
        };
        failed.extend(targets.into_iter().map(|i| (i, text.clone())));
    }
    failed.sort_by_key(|(i, _)| *i);
    failed.dedup_by_key(|(i, _)| *i);
    failed
}

fn collect_text<'a>(value: &'a Value, into: &mut HashSet<&'a str>) {
    match value {
        Value::String(text) => {
            into.insert(text);
        }
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, into)),
        Value::Object(map) => map.values().for_each(|v| collect_text(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_are_classified_as_the_spec_says() {
        for status in [200, 201, 204, 206] {
            assert_eq!(classify(status), Disposition::Accepted, "{status}");
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(status), Disposition::Retry, "{status}");
        }
        for status in [400, 413, 422] {
            assert_eq!(classify(status), Disposition::Split, "{status}");
        }
        assert_eq!(classify(401), Disposition::Abort);
        assert_eq!(classify(403), Disposition::Abort);
        for status in [404, 405, 409, 501, 505] {
            assert_eq!(classify(status), Disposition::Fail, "{status}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:47 CET", now), None);
    }

    /// Starts as many requests as the pacer allows, as early as it allows,
    /// and returns their offsets from the start.
    fn paced_starts(per_minute: u32, count: usize) -> Vec<Duration> {
        let zero = Instant::now();
        let mut pacer = Pacer::new(per_minute);
        let mut now = zero;
        (0..count)
            .map(|_| {
                now += pacer.wait(now);
                pacer.record(now);
                now - zero
            })
            .collect()
    }

    #[test]
    fn pacing_allows_bursts_within_both_windows() {
        let starts = paced_starts(180, 200);
        // 50 at once, then 50 a second until 180 have gone in the minute.
        assert!(starts[..50].iter().all(|s| s.is_zero()));
        assert_eq!(starts[50], SECOND);
        assert_eq!(starts[149], 2 * SECOND);
        assert_eq!(starts[150], 3 * SECOND);
        assert_eq!(starts[179], 3 * SECOND);
        // The 181st waits for the first to leave the minute.
        assert_eq!(starts[180], MINUTE);
        assert_eq!(starts[199], MINUTE);
        for (n, start) in starts.iter().enumerate() {
            let in_minute = starts[..=n]
                .iter()
                .filter(|s| **s + MINUTE > *start)
                .count();
            let in_second = starts[..=n]
                .iter()
                .filter(|s| **s + SECOND > *start)
                .count();
            assert!(in_minute <= 180 && in_second <= 50, "request {n}");
        }
    }

    #[test]
    fn a_low_rate_is_a_window_not_an_interval() {
        let starts = paced_starts(2, 5);
        assert_eq!(
            starts,
            [Duration::ZERO, Duration::ZERO, MINUTE, MINUTE, 2 * MINUTE]
        );
    }

    #[test]
    fn upsert_errors_fail_only_the_items_they_name() {
        let items = [
            json!({"externalId":"u1"}),
            json!({"email":"b@x.io"}),
            json!({"externalId":"u3"}),
        ];
        let answer = json!({"created":1,"createdErrors":[{"externalId":"u1","error":"bad"}],
            "updatedErrors":[{"item":{"email":"b@x.io"},"message":"dup"}],"permissionErrors":[]});
        let failed = upsert_failures(206, &answer.to_string(), || items.to_vec());
        assert_eq!(failed.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1]);
        assert!(failed[0].1.contains("bad"));
    }

    #[test]
    fn unattributable_upsert_errors_fail_every_item() {
        let items = [json!({"externalId":"u1"}), json!({"externalId":"u2"})];
        let answer = json!({"permissionErrors":[{"error":"no access to custom fields"}]});
        assert_eq!(
            upsert_failures(200, &answer.to_string(), || items.to_vec()).len(),
            2
        );
        assert_eq!(upsert_failures(206, "{}", || items.to_vec()).len(), 2);
        assert!(
            upsert_failures(200, r#"{"created":2,"createdErrors":[]}"#, || panic!(
                "not read"
            ))
            .is_empty()
        );
        assert!(upsert_failures(200, "not json", || panic!("not read")).is_empty());
    }
}
