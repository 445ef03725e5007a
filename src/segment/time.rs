//! Event times (SPEC §5.2): reading the many forms Segment messages carry
//! them in, and writing them as Planhat dates, RFC 3339 in UTC with
//! milliseconds (`2024-03-01T12:00:00.000Z`).
//!
//! Pure: no I/O, no clock.

use std::fmt;

use serde_json::{Map, Value};

/// An instant, in milliseconds since the Unix epoch (UTC), within the years
/// 0000 to 9999 so that it always prints with four year digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTime(i64);

/// A time value that is present but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTime;

impl fmt::Display for InvalidTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a recognised time")
    }
}

/// A message's time field that is present but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTimestamp {
    pub field: &'static str,
    /// The value as compact JSON, shortened for messages.
    pub value: String,
}

impl fmt::Display for BadTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} is not a recognised time", self.field, self.value)
    }
}

const MILLIS_PER_DAY: i64 = 86_400_000;
/// 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
const MIN_MILLIS: i64 = -62_167_219_200_000;
const END_MILLIS: i64 = 253_402_300_800_000;
/// Epoch numbers below this are seconds, others milliseconds (as Segment's
/// own new-date decides: 31557600000 seconds is the year 2970).
const SECONDS_BELOW: f64 = 31_557_600_000.0;

/// The fields that give a message its time, most precise first (SPEC §5.2).
const TIME_FIELDS: [&str; 4] = ["timestamp", "originalTimestamp", "receivedAt", "sentAt"];

impl EventTime {
    /// `None` outside the years 0000 to 9999.
    pub fn from_millis(millis: i64) -> Option<EventTime> {
        (MIN_MILLIS..END_MILLIS)
            .contains(&millis)
            .then_some(EventTime(millis))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Reads a JSON time: null and `""` are absent; a number is an epoch
    /// (seconds below 31557600000, else milliseconds); a string is read by
    /// [`EventTime::parse_str`]. Anything else is invalid.
    pub fn from_json(value: &Value) -> Result<Option<EventTime>, InvalidTime> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) if text.is_empty() => Ok(None),
            Value::String(text) => EventTime::parse_str(text).map(Some).ok_or(InvalidTime),
            Value::Number(number) => {
                let n = number.as_f64().ok_or(InvalidTime)?;
                let millis = if n.abs() < SECONDS_BELOW {
                    n * 1000.0
                } else {
                    n
                };
                let millis = millis.floor();
                if !millis.is_finite() || millis.abs() > 1e17 {
                    return Err(InvalidTime);
                }
                EventTime::from_millis(millis as i64)
                    .map(Some)
                    .ok_or(InvalidTime)
            }
            _ => Err(InvalidTime),
        }
    }

    /// Reads `YYYY-MM-DD`, optionally followed by `T`, `t` or a space and
    /// `HH:MM[:SS[.fraction]]` and a zone (`Z`, `z`, `±hh:mm`, `±hhmm`; none
    /// means UTC). The fraction may have any length and is cut to
    /// milliseconds. A leap second (`:60`) is refused.
    pub fn parse_str(text: &str) -> Option<EventTime> {
        let mut p = Cursor {
            bytes: text.as_bytes(),
            at: 0,
        };
        let year = p.digits(4)?;
        p.expect(b'-')?;
        let month = p.digits(2)?;
        p.expect(b'-')?;
        let day = p.digits(2)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let mut millis = days_from_civil(year, month, day) * MILLIS_PER_DAY;
        if p.done() {
            return EventTime::from_millis(millis);
        }
        if !matches!(p.next()?, b'T' | b't' | b' ') {
            return None;
        }
        let hour = p.digits(2)?;
        p.expect(b':')?;
        let minute = p.digits(2)?;
        let second = if p.peek() == Some(b':') {
            p.at += 1;
            p.digits(2)?
        } else {
            0
        };
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let mut fraction = 0;
        if p.peek() == Some(b'.') {
            p.at += 1;
            let digits = p.run_of_digits();
            if digits.is_empty() {
                return None;
            }
            // Milliseconds from the first three digits, padded: ".5" is 500.
            fraction = digits
                .iter()
                .chain(std::iter::repeat(&b'0'))
                .take(3)
                .fold(0, |ms, d| ms * 10 + i64::from(d - b'0'));
        }
        millis += ((hour * 60 + minute) * 60 + second) * 1000 + fraction;
        millis -= p.zone_offset_minutes()? * 60_000;
        p.done().then_some(())?;
        EventTime::from_millis(millis)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let in_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let (seconds, ms) = (in_day / 1000, in_day % 1000);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

/// A message's event time: `timestamp`, else `originalTimestamp`, else
/// `receivedAt`, else `sentAt`, null and `""` counting as absent. The first
/// present field decides: if it cannot be read, the message has a bad
/// timestamp rather than a time from a less precise field.
pub fn message_time(message: &Map<String, Value>) -> Result<Option<EventTime>, BadTimestamp> {
    for field in TIME_FIELDS {
        let Some(value) = message.get(field) else {
            continue;
        };
        match EventTime::from_json(value) {
            Ok(None) => continue,
            Ok(Some(time)) => return Ok(Some(time)),
            Err(InvalidTime) => {
                return Err(BadTimestamp {
                    field,
                    value: shorten(&value.to_string(), 80),
                });
            }
        }
    }
    Ok(None)
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// Exactly `count` ASCII digits, as a number.
    fn digits(&mut self, count: usize) -> Option<i64> {
        let run = self.bytes.get(self.at..self.at + count)?;
        if !run.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += count;
        Some(run.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    }

    fn run_of_digits(&mut self) -> &[u8] {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        &self.bytes[start..self.at]
    }

    /// The zone's offset east of UTC in minutes; 0 when there is none.
    fn zone_offset_minutes(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            None => return Some(0),
            Some(b'Z' | b'z') => {
                self.at += 1;
                return Some(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => return None,
        };
        self.at += 1;
        let hours = self.digits(2)?;
        if self.peek() == Some(b':') {
            self.at += 1;
        }
        let minutes = self.digits(2)?;
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(text: &str) -> String {
        EventTime::parse_str(text)
            .unwrap_or_else(|| panic!("{text} should parse"))
            .to_string()
    }

    #[test]
    fn rfc3339_forms_seen_in_segment_exports() {
        assert_eq!(utc("2015-12-12T19:11:01.249Z"), "2015-12-12T19:11:01.249Z");
        assert_eq!(
            utc("2026-11-28T12:16:50.746+00:00"),
            "2026-11-28T12:16:50.746Z"
        );
        assert_eq!(
            utc("2026-11-28T12:16:50.946929+00:00"),
            "2026-11-28T12:16:50.946Z"
        );
        assert_eq!(
            utc("2026-11-28T07:19:20.811-05:00"),
            "2026-11-28T12:19:20.811Z"
        );
        assert_eq!(
            utc("2024-02-13T09:47:35.123456789-07:00"),
            "2024-02-13T16:47:35.123Z"
        );
        assert_eq!(utc("2020-05-06T07:08:09Z"), "2020-05-06T07:08:09.000Z");
    }

    #[test]
    fn lenient_forms_are_read_as_utc() {
        assert_eq!(utc("2024-01-02T03:04:05"), "2024-01-02T03:04:05.000Z");
        assert_eq!(utc("2024-01-02"), "2024-01-02T00:00:00.000Z");
        assert_eq!(utc("2024-01-02 03:04:05z"), "2024-01-02T03:04:05.000Z");
        assert_eq!(utc("2024-01-02t03:04"), "2024-01-02T03:04:00.000Z");
        assert_eq!(
            utc("2024-01-02T03:04:05.5+0530"),
            "2024-01-01T21:34:05.500Z"
        );
    }

    #[test]
    fn offsets_cross_day_and_year_boundaries() {
        assert_eq!(utc("2024-01-01T00:30:00+01:00"), "2023-12-31T23:30:00.000Z");
        assert_eq!(utc("2023-12-31T23:30:00-01:00"), "2024-01-01T00:30:00.000Z");
    }

    #[test]
    fn leap_days_follow_the_gregorian_rules() {
        assert_eq!(utc("2024-02-29"), "2024-02-29T00:00:00.000Z");
        assert_eq!(utc("2000-02-29"), "2000-02-29T00:00:00.000Z");
        assert_eq!(EventTime::parse_str("2023-02-29"), None);
        assert_eq!(EventTime::parse_str("1900-02-29"), None);
    }

    #[test]
    fn malformed_times_are_refused() {
        for text in [
            "2015-2-02T00:30:08.276Z",
            "5/12/2015",
            "10/13/2023",
            "2024-13-01",
            "2024-01-32",
            "2024-01-02T24:00:00Z",
            "2024-01-02T23:59:60Z",
            "2024-01-02T03",
            "2024-01-02Z",
            "2024-01-02T03:04:05Zjunk",
            " 2024-01-02",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+24:00",
            "1374193002",
            "yesterday",
            "",
        ] {
            assert_eq!(EventTime::parse_str(text), None, "{text}");
        }
    }

    #[test]
    fn epoch_numbers_are_seconds_below_the_threshold_else_milliseconds() {
        let at = |value: Value| EventTime::from_json(&value).unwrap().unwrap().to_string();
        assert_eq!(at(json!(1374193002)), "2013-07-19T00:16:42.000Z");
        assert_eq!(at(json!(1374193002000i64)), "2013-07-19T00:16:42.000Z");
        assert_eq!(at(json!(1374193002.5)), "2013-07-19T00:16:42.500Z");
        assert_eq!(at(json!(31557599999i64)), "2970-01-07T23:59:59.000Z");
        assert_eq!(at(json!(31557600000i64)), "1971-01-01T06:00:00.000Z");
        assert_eq!(at(json!(-1)), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn json_values_that_are_not_times() {
        assert_eq!(EventTime::from_json(&json!(null)), Ok(None));
        assert_eq!(EventTime::from_json(&json!("")), Ok(None));
        assert_eq!(EventTime::from_json(&json!("1374193002")), Err(InvalidTime));
        assert_eq!(EventTime::from_json(&json!(true)), Err(InvalidTime));
        assert_eq!(EventTime::from_json(&json!({"t": 1})), Err(InvalidTime));
        assert_eq!(EventTime::from_json(&json!(1e300)), Err(InvalidTime));
    }

    #[test]
    fn message_time_takes_the_first_present_field_and_never_falls_back_past_a_bad_one() {
        let time =
            |v: Value| message_time(v.as_object().unwrap()).map(|t| t.map(|t| t.to_string()));
        let all = json!({"sentAt":"2024-04-04","receivedAt":"2024-03-03","originalTimestamp":"2024-02-02","timestamp":"2024-01-01"});
        assert_eq!(time(all), Ok(Some("2024-01-01T00:00:00.000Z".into())));
        let skip = json!({"timestamp":null,"originalTimestamp":"","receivedAt":"2024-03-03","sentAt":"2024-04-04"});
        assert_eq!(time(skip), Ok(Some("2024-03-03T00:00:00.000Z".into())));
        assert_eq!(
            time(json!({"sentAt":"2024-04-04"})),
            Ok(Some("2024-04-04T00:00:00.000Z".into()))
        );
        assert_eq!(time(json!({})), Ok(None));
        let bad = json!({"timestamp":"2015-2-02T00:30:08.276Z","receivedAt":"2024-03-03"});
        let error = time(bad).unwrap_err();
        assert_eq!(error.field, "timestamp");
        assert_eq!(
            error.to_string(),
            "timestamp \"2015-2-02T00:30:08.276Z\" is not a recognised time"
        );
    }

    #[test]
    fn long_bad_values_are_shortened() {
        let long = "x".repeat(200);
        let error = message_time(json!({"sentAt": long}).as_object().unwrap()).unwrap_err();
        assert_eq!(error.value.chars().count(), 81);
        assert!(error.value.ends_with('…'));
    }

    #[test]
    fn early_years_print_with_four_digits() {
        assert_eq!(utc("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00.000Z");
        assert_eq!(utc("1969-07-20T20:17:40.5Z"), "1969-07-20T20:17:40.500Z");
        assert_eq!(EventTime::from_millis(END_MILLIS), None);
    }
}
