//! How the tool's words read (SPEC §7): counts in English, sizes as sizes,
//! waits as people say them, and event text made safe for a terminal.

use std::time::Duration;

/// A wait as people read it: `4s`, `1m30s`, `300ms`.
pub fn duration_text(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = duration.as_secs_f64().round() as u64;
    match seconds {
        ..60 => format!("{seconds}s"),
        _ => format!("{}m{:02}s", seconds / 60, seconds % 60),
    }
}

/// `1 request`, `2 requests`; `retry` becomes `retries`. Every count in a
/// message reads this way (SPEC §7).
pub fn counted(count: u64, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{count} {stem}ies"),
        _ => format!("{count} {noun}s"),
    }
}

/// A size as people read it: `512 bytes`, `1.5 KiB`, `83.2 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return counted(bytes, "byte");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// How many problem lines stderr shows before it only counts them.
const SHOWN_PROBLEMS: u64 = 20;

/// The `path:line: reason` lines on stderr: the first few in full, then only
/// a count, so a file of bad lines cannot flood the terminal.
#[derive(Debug, Default)]
pub struct ProblemLines {
    shown: u64,
    hidden: u64,
}

impl ProblemLines {
    /// Reports one problem; `None` when it is over the cap (counted only).
    pub fn line(&mut self, position: &str, reason: &str, detail: &str) -> Option<String> {
        if self.shown >= SHOWN_PROBLEMS {
            self.hidden += 1;
            return None;
        }
        self.shown += 1;
        Some(format!("{position}: {reason}: {}", printable(detail)))
    }

    /// The closing count of lines not shown, if any.
    pub fn rest(&self) -> Option<String> {
        (self.hidden > 0).then(|| {
            format!(
                "... and {} not shown (counted in the summary)",
                counted(self.hidden, "more problem line")
            )
        })
    }
}

/// Event-supplied text with control characters made visible, so a line
/// cannot move the cursor or clear the user's terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(duration_text(Duration::from_millis(300)), "300ms");
        assert_eq!(duration_text(Duration::from_millis(999)), "999ms");
        assert_eq!(duration_text(Duration::from_millis(3600)), "4s");
        assert_eq!(duration_text(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn counts_and_sizes_read_as_english() {
        assert_eq!(counted(1, "line"), "1 line");
        assert_eq!(counted(2, "retry"), "2 retries");
        assert_eq!(counted(0, "activity"), "0 activities");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(87_289_523), "83.2 MiB");
    }

    #[test]
    fn problem_lines_are_capped_and_the_rest_counted() {
        let mut lines = ProblemLines::default();
        let shown = (0..25)
            .filter_map(|i| lines.line(&format!("f:{i}"), "no_identity", "x"))
            .count();
        assert_eq!(shown as u64, SHOWN_PROBLEMS);
        assert_eq!(
            lines.rest().unwrap(),
            "... and 5 more problem lines not shown (counted in the summary)"
        );
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(counted(1, "retry"), "1 retry");
        assert_eq!(counted(2, "retry"), "2 retries");
        assert_eq!(counted(0, "item"), "0 items");
        assert_eq!(counted(1, "request"), "1 request");
    }

    #[test]
    fn control_characters_in_details_are_neutralised() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\u{fffd}[2Jb\u{fffd}");
    }
}
