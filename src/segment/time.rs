//! Event times: parsing the times Segment messages carry (RFC 3339-like
//! strings and epoch numbers) and writing them as the dates Planhat takes,
//! RFC 3339 in UTC with milliseconds (`2024-03-01T12:00:00.000Z`).
//!
//! Pure: no I/O and no clock. Nothing here knows what "now" is, so a caller
//! that needs a default time must supply it.

use std::fmt;

use super::json::{Number, Object, Value};

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

// Planhat dates are written with exactly four year digits, so only the years
// 0000 to 9999 can be represented.
const MIN_MILLIS: i64 = days_from_civil(0, 1, 1) * MS_PER_DAY;
const MAX_MILLIS: i64 = days_from_civil(10_000, 1, 1) * MS_PER_DAY - 1;

/// Epoch numbers below this are seconds, the rest milliseconds.
/// It is 1000 Julian years in seconds: read as seconds it reaches the year
/// 2970, read as milliseconds only 1971, so no real time is ambiguous.
const SECONDS_EPOCH_LIMIT: u128 = 31_557_600_000;

/// The fields a message's time may come from, most faithful to the moment
/// the event happened first.
const TIME_FIELDS: [&str; 4] = ["timestamp", "originalTimestamp", "receivedAt", "sentAt"];

/// Bad values are echoed into reports and logs; a whole object pasted into a
/// time field would swamp them.
const MAX_REPORTED_CHARS: usize = 80;

/// An instant, in milliseconds since the Unix epoch (UTC).
///
/// Always within the years 0000 to 9999, so that it prints with a
/// four-digit year.
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

impl std::error::Error for InvalidTime {}

/// The field that decided a message's time held a value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTimestamp {
    pub field: &'static str,
    /// The value as compact JSON text (strings keep their quotes), cut to at
    /// most 80 characters, the last of them `…` when cut.
    pub value: String,
}

impl fmt::Display for BadTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} is not a recognised time", self.field, self.value)
    }
}

impl std::error::Error for BadTimestamp {}

impl EventTime {
    /// `None` when the instant falls outside the years 0000 to 9999.
    pub fn from_millis(ms: i64) -> Option<EventTime> {
        (MIN_MILLIS..=MAX_MILLIS)
            .contains(&ms)
            .then_some(EventTime(ms))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses a JSON value that holds a time. `Ok(None)` means absent (null
    /// or `""`); `Err` means present but unusable.
    ///
    /// A number is a Unix epoch: seconds when it is below 31557600000
    /// (every negative number), else milliseconds, floored to whole
    /// milliseconds. A
    /// string follows [`EventTime::parse_str`], so a numeric string is not an
    /// epoch. Booleans, arrays and objects are never times.
    pub fn from_json(value: &Value<'_>) -> Result<Option<EventTime>, InvalidTime> {
        let time = match value {
            Value::Null => return Ok(None),
            Value::String(text) if text.is_empty() => return Ok(None),
            Value::String(text) => EventTime::parse_str(text),
            Value::Number(number) => from_epoch(number),
            Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
        };
        time.map(Some).ok_or(InvalidTime)
    }

    /// Parses a time written as text, such as a `--since` value:
    /// `YYYY-MM-DD`, optionally followed by `T`, `t` or one space and
    /// `HH:MM[:SS[.fraction]]` and a zone (`Z`, `z`, `±hh:mm` or `±hhmm`;
    /// none means UTC). The fraction may be any length and is cut, not
    /// rounded, to milliseconds. Nothing else is accepted, not even
    /// surrounding whitespace.
    pub fn parse_str(text: &str) -> Option<EventTime> {
        let mut cursor = Cursor(text.as_bytes());
        let year = cursor.number(4)?;
        cursor.one_of(b"-")?;
        let month = cursor.number(2).filter(|m| (1..=12).contains(m))?;
        cursor.one_of(b"-")?;
        let day = cursor
            .number(2)
            .filter(|d| (1..=days_in_month(year, month)).contains(d))?;
        let date = days_from_civil(year, month, day) * MS_PER_DAY;
        if cursor.is_empty() {
            return EventTime::from_millis(date);
        }
        cursor.one_of(b"Tt ")?;
        let time_of_day = cursor.time_of_day()?;
        let offset = cursor.zone_offset()?;
        if !cursor.is_empty() {
            return None;
        }
        // Years are four digits, so none of this can overflow; leaving the
        // range through the offset is caught by from_millis.
        EventTime::from_millis(date + time_of_day - offset)
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Euclidean division keeps times before 1970 on the right day.
        let (year, month, day) = civil_from_days(self.0.div_euclid(MS_PER_DAY));
        let in_day = self.0.rem_euclid(MS_PER_DAY);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / MS_PER_HOUR,
            in_day % MS_PER_HOUR / MS_PER_MINUTE,
            in_day % MS_PER_MINUTE / MS_PER_SECOND,
            in_day % MS_PER_SECOND,
        )
    }
}

/// A message's event time: `timestamp`, else `originalTimestamp`, else
/// `receivedAt`, else `sentAt`, a null or `""` value counting as absent.
///
/// The first present field decides. When it cannot be read the message has a
/// bad timestamp: falling back to a later field would silently date the
/// event by when it was sent or received instead.
pub fn message_time(message: &Object<'_>) -> Result<Option<EventTime>, BadTimestamp> {
    TIME_FIELDS
        .into_iter()
        .find_map(|field| {
            let value = message.get(field)?;
            EventTime::from_json(value)
                .map_err(|InvalidTime| BadTimestamp {
                    field,
                    value: excerpt(&value.to_string()),
                })
                .transpose()
        })
        .transpose()
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= MAX_REPORTED_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_REPORTED_CHARS - 1).collect();
    short.push('…');
    short
}

/// An epoch number (SPEC §5.2): read as a double, like every number whose
/// value is needed, then as the shortest decimal that gives that double,
/// whose digits are floored. Reading the double correctly rounded matters for
/// long floats: `1642351729.5450000000001` is the double of
/// `1642351729.545`, not of the one below it.
fn from_epoch(number: &Number<'_>) -> Option<EventTime> {
    let shortest = format!("{:e}", number.as_f64()?);
    let number = Decimal::parse(&shortest)?;
    // Signed, as Segment's new-date compares: every negative number is
    // seconds.
    let seconds = number.negative || number.scaled_magnitude(3)?.0 < SECONDS_EPOCH_LIMIT * 1000;
    let ms = if seconds {
        number.floor(3)?
    } else {
        number.floor(0)?
    };
    EventTime::from_millis(i64::try_from(ms).ok()?)
}

/// A JSON number as its decimal text gives it. Fractional epochs are
/// floored from these digits rather than from the binary float, which cannot
/// hold most decimals: 1096211832.524 is stored as 1096211832.52399992943,
/// and flooring that (or even `f * 1000.0`) loses a millisecond the sender
/// wrote.
struct Decimal {
    negative: bool,
    digits: u128,
    exponent: i32,
}

impl Decimal {
    /// Reads JSON number syntax; exponents may carry a `+`, as serde_json
    /// writes large and small floats that way.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().ok()?),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() {
            return None;
        }
        let mut digits: u128 = 0;
        for byte in whole.bytes().chain(fraction.bytes()) {
            if !byte.is_ascii_digit() {
                return None;
            }
            digits = digits
                .checked_mul(10)?
                .checked_add(u128::from(byte - b'0'))?;
        }
        let fraction_len = i32::try_from(fraction.len()).ok()?;
        Some(Decimal {
            negative,
            digits,
            exponent: exponent.checked_sub(fraction_len)?,
        })
    }

    /// The whole part of |self| × 10^shift, and whether a fraction was cut
    /// off. `None` when the whole part does not fit.
    fn scaled_magnitude(&self, shift: i32) -> Option<(u128, bool)> {
        let exponent = self.exponent.checked_add(shift)?;
        let scale = 10u128.checked_pow(exponent.unsigned_abs());
        if exponent >= 0 {
            return Some((self.digits.checked_mul(scale?)?, false));
        }
        Some(match scale {
            Some(scale) => (self.digits / scale, !self.digits.is_multiple_of(scale)),
            // A divisor beyond u128 exceeds every digit string: all fraction.
            None => (0, self.digits != 0),
        })
    }

    /// ⌊self × 10^shift⌋, rounding toward negative infinity for negatives
    /// too, so that times before 1970 are not moved later.
    fn floor(&self, shift: i32) -> Option<i128> {
        let (whole, cut) = self.scaled_magnitude(shift)?;
        let whole = i128::try_from(whole).ok()?;
        Some(match (self.negative, cut) {
            (false, _) => whole,
            (true, false) => -whole,
            (true, true) => -whole - 1,
        })
    }
}

/// Reads a time string left to right. Every byte the grammar accepts is
/// ASCII, so working on bytes never splits a character: any other byte just
/// fails to match.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the next byte if it is one of `allowed`.
    fn one_of(&mut self, allowed: &[u8]) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        if !allowed.contains(&first) {
            return None;
        }
        self.0 = rest;
        Some(first)
    }

    /// Takes exactly `width` ASCII digits.
    fn number(&mut self, width: usize) -> Option<i64> {
        let (digits, rest) = self.0.split_at_checked(width)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = rest;
        Some(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    }

    /// `HH:MM[:SS[.fraction]]` as milliseconds into the day.
    fn time_of_day(&mut self) -> Option<i64> {
        let hour = self.number(2).filter(|h| *h < 24)?;
        self.one_of(b":")?;
        let minute = self.number(2).filter(|m| *m < 60)?;
        // A fraction is only read after seconds: after minutes it would be a
        // fraction of a minute, not milliseconds.
        let (second, millis) = match self.one_of(b":") {
            Some(_) => {
                // A leap second (:60) is refused rather than folded into the
                // next minute: Segment's libraries never write one, and
                // refusing keeps the rule simple to state.
                let second = self.number(2).filter(|s| *s < 60)?;
                let millis = match self.one_of(b".") {
                    Some(_) => self.fraction_millis()?,
                    None => 0,
                };
                (second, millis)
            }
            None => (0, 0),
        };
        Some(hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * MS_PER_SECOND + millis)
    }

    /// One or more digits after the decimal point, as milliseconds.
    fn fraction_millis(&mut self) -> Option<i64> {
        let len = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let (digits, rest) = self.0.split_at(len);
        self.0 = rest;
        // Cut, not rounded: rounding .9995 up could move a time into the next
        // second, or the next year. Short fractions are padded: ".5" is 500.
        Some(
            digits
                .iter()
                .chain(b"00")
                .take(3)
                .fold(0, |ms, d| ms * 10 + i64::from(d - b'0')),
        )
    }

    /// The zone as milliseconds ahead of UTC; an absent zone means UTC.
    fn zone_offset(&mut self) -> Option<i64> {
        if self.is_empty() || self.one_of(b"Zz").is_some() {
            return Some(0);
        }
        let sign = match self.one_of(b"+-")? {
            b'-' => -1,
            _ => 1,
        };
        let hours = self.number(2).filter(|h| *h < 24)?;
        // Both `+hh:mm` and `+hhmm` are in use.
        self.one_of(b":");
        let minutes = self.number(2).filter(|m| *m < 60)?;
        Some(sign * (hours * MS_PER_HOUR + minutes * MS_PER_MINUTE))
    }
}

// Proleptic Gregorian calendar arithmetic, after Howard Hinnant's
// "chrono-Compatible Low-Level Date Algorithms". Days count from 1970-01-01.

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Counting from March puts the leap day at the end of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The parsed time as Planhat would be sent it.
    fn utc(text: &str) -> Option<String> {
        EventTime::parse_str(text).map(|time| time.to_string())
    }

    type Json = serde_json::Value;

    /// A `json!` value as the tool's own tree.
    fn tree(value: Json) -> Value<'static> {
        crate::segment::json::parse(value.to_string().as_bytes())
            .expect("test JSON parses")
            .into_owned()
    }

    fn tree_text(text: &str) -> Value<'_> {
        crate::segment::json::parse(text.as_bytes()).expect("test JSON parses")
    }

    fn json_utc(value: Json) -> Result<Option<String>, InvalidTime> {
        EventTime::from_json(&tree(value)).map(|time| time.map(|t| t.to_string()))
    }

    fn message(value: Json) -> Object<'static> {
        match tree(value) {
            Value::Object(object) => object,
            other => panic!("test message must be an object, got {other}"),
        }
    }

    #[test]
    fn utc_times_with_milliseconds_are_kept_as_written() {
        assert_eq!(
            utc("2015-12-12T19:11:01.249Z").as_deref(),
            Some("2015-12-12T19:11:01.249Z")
        );
        assert_eq!(
            EventTime::parse_str("2015-12-12T19:11:01.249Z").map(EventTime::millis),
            Some(1_449_947_461_249)
        );
    }

    #[test]
    fn a_zero_offset_is_utc() {
        assert_eq!(
            utc("2026-11-28T12:16:50.746+00:00").as_deref(),
            Some("2026-11-28T12:16:50.746Z")
        );
        assert_eq!(
            utc("2026-11-28T12:16:50.746-00:00").as_deref(),
            Some("2026-11-28T12:16:50.746Z")
        );
    }

    #[test]
    fn digits_beyond_milliseconds_are_cut_not_rounded() {
        assert_eq!(
            utc("2026-11-28T12:16:50.946929+00:00").as_deref(),
            Some("2026-11-28T12:16:50.946Z")
        );
        assert_eq!(
            utc("2024-12-31T23:59:59.99999Z").as_deref(),
            Some("2024-12-31T23:59:59.999Z")
        );
    }

    #[test]
    fn short_fractions_are_padded_to_milliseconds() {
        assert_eq!(
            utc("2024-01-02T03:04:05.5Z").as_deref(),
            Some("2024-01-02T03:04:05.500Z")
        );
        assert_eq!(
            utc("2024-01-02T03:04:05.12Z").as_deref(),
            Some("2024-01-02T03:04:05.120Z")
        );
    }

    #[test]
    fn offsets_are_subtracted_to_reach_utc() {
        assert_eq!(
            utc("2026-11-28T07:19:20.811-05:00").as_deref(),
            Some("2026-11-28T12:19:20.811Z")
        );
        assert_eq!(
            utc("2024-02-13T09:47:35.123456789-07:00").as_deref(),
            Some("2024-02-13T16:47:35.123Z")
        );
        assert_eq!(
            utc("2024-03-01T12:00:00+02:00").as_deref(),
            Some("2024-03-01T10:00:00.000Z")
        );
    }

    #[test]
    fn compact_offsets_without_a_colon_are_read() {
        assert_eq!(
            utc("2024-01-02T03:04:05+0530").as_deref(),
            Some("2024-01-01T21:34:05.000Z")
        );
        assert_eq!(
            utc("2024-01-02T03:04:05-0930").as_deref(),
            Some("2024-01-02T12:34:05.000Z")
        );
    }

    #[test]
    fn offsets_cross_day_month_and_year_boundaries() {
        assert_eq!(
            utc("2024-01-01T00:30:00+01:00").as_deref(),
            Some("2023-12-31T23:30:00.000Z")
        );
        assert_eq!(
            utc("2023-12-31T23:30:00-01:00").as_deref(),
            Some("2024-01-01T00:30:00.000Z")
        );
        assert_eq!(
            utc("2024-02-28T23:00:00-02:00").as_deref(),
            Some("2024-02-29T01:00:00.000Z")
        );
    }

    #[test]
    fn whole_seconds_print_with_zero_milliseconds() {
        assert_eq!(
            utc("2020-05-06T07:08:09Z").as_deref(),
            Some("2020-05-06T07:08:09.000Z")
        );
    }

    #[test]
    fn a_time_without_a_zone_is_utc() {
        assert_eq!(
            utc("2024-01-02T03:04:05").as_deref(),
            Some("2024-01-02T03:04:05.000Z")
        );
    }

    #[test]
    fn a_date_alone_is_midnight_utc() {
        assert_eq!(
            utc("2024-01-02").as_deref(),
            Some("2024-01-02T00:00:00.000Z")
        );
    }

    #[test]
    fn lowercase_and_space_separators_and_missing_seconds_are_accepted() {
        assert_eq!(
            utc("2024-01-02 03:04:05z").as_deref(),
            Some("2024-01-02T03:04:05.000Z")
        );
        assert_eq!(
            utc("2024-01-02t03:04").as_deref(),
            Some("2024-01-02T03:04:00.000Z")
        );
        assert_eq!(
            utc("2024-01-02T03:04+01:00").as_deref(),
            Some("2024-01-02T02:04:00.000Z")
        );
    }

    #[test]
    fn leap_days_follow_the_gregorian_rules() {
        assert_eq!(
            utc("2024-02-29").as_deref(),
            Some("2024-02-29T00:00:00.000Z")
        );
        assert_eq!(utc("2023-02-29"), None);
        assert_eq!(
            utc("2023-02-28").as_deref(),
            Some("2023-02-28T00:00:00.000Z")
        );
        assert_eq!(
            utc("2000-02-29").as_deref(),
            Some("2000-02-29T00:00:00.000Z")
        );
        assert_eq!(utc("1900-02-29"), None);
        assert_eq!(utc("2024-04-31"), None);
    }

    #[test]
    fn malformed_strings_are_refused() {
        for text in [
            "",
            "2015-2-02T00:30:08.276Z",
            "5/12/2015",
            "10/13/2023",
            "yesterday",
            "1374193002",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-01-00",
            "2024-01-02T24:00:00Z",
            "2024-01-02T03:60:00Z",
            "2024-01-02T03:04:60Z",
            "2024-01-02T3:04:05Z",
            "2024-01-02T03",
            "2024-01-02T",
            "2024-01-02Z",
            "2024-01-02+01:00",
            "2024-01-02T03:04.5",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+05",
            "2024-01-02T03:04:05+05:3",
            "2024-01-02T03:04:05+24:00",
            "2024-01-02T03:04:05+01:60",
            "2024-01-02T03:04:05Zjunk",
            "2024-01-02T03:04:05+01:00Z",
            "2024-01-02T03:04:05Z ",
            " 2024-01-02T03:04:05Z",
            "2024-01-02  03:04",
            "2024-01-02_03:04",
            "24-01-02",
            "20240102",
            "+2024-01-02",
            "２０２４-01-02",
        ] {
            assert_eq!(utc(text), None, "{text:?} should be refused");
        }
    }

    #[test]
    fn only_the_years_0000_to_9999_are_times() {
        assert_eq!(
            utc("0000-01-01").as_deref(),
            Some("0000-01-01T00:00:00.000Z")
        );
        assert_eq!(
            utc("9999-12-31T23:59:59.999Z").as_deref(),
            Some("9999-12-31T23:59:59.999Z")
        );
        assert_eq!(utc("0000-01-01T00:30:00+01:00"), None);
        assert_eq!(utc("9999-12-31T23:30:00-01:00"), None);

        let first = EventTime::from_millis(-62_167_219_200_000).map(|t| t.to_string());
        assert_eq!(first.as_deref(), Some("0000-01-01T00:00:00.000Z"));
        let last = EventTime::from_millis(253_402_300_799_999).map(|t| t.to_string());
        assert_eq!(last.as_deref(), Some("9999-12-31T23:59:59.999Z"));
        assert_eq!(EventTime::from_millis(-62_167_219_200_001), None);
        assert_eq!(EventTime::from_millis(253_402_300_800_000), None);
        assert_eq!(EventTime::from_millis(i64::MIN), None);
        assert_eq!(EventTime::from_millis(i64::MAX), None);
    }

    #[test]
    fn times_before_1970_print_on_the_right_day() {
        let just_before = EventTime::from_millis(-1).map(|t| t.to_string());
        assert_eq!(just_before.as_deref(), Some("1969-12-31T23:59:59.999Z"));
        assert_eq!(
            utc("1969-07-20T20:17:40.5Z").as_deref(),
            Some("1969-07-20T20:17:40.500Z")
        );
        assert_eq!(
            EventTime::parse_str("1969-12-31T23:59:59.999Z").map(EventTime::millis),
            Some(-1)
        );
    }

    #[test]
    fn early_years_print_with_four_digits() {
        let year_one = EventTime::from_millis(-62_135_596_800_000).map(|t| t.to_string());
        assert_eq!(year_one.as_deref(), Some("0001-01-01T00:00:00.000Z"));
        assert_eq!(
            utc("0001-02-03T04:05:06.007Z").as_deref(),
            Some("0001-02-03T04:05:06.007Z")
        );
    }

    #[test]
    fn printed_times_read_back_as_the_same_instant() {
        for ms in [
            0,
            -1,
            951_782_400_000,
            1_709_294_400_123,
            -62_135_596_800_000,
        ] {
            let time = EventTime::from_millis(ms).expect("in range");
            assert_eq!(EventTime::parse_str(&time.to_string()), Some(time));
        }
    }

    #[test]
    fn null_and_empty_json_values_are_absent() {
        assert_eq!(json_utc(json!(null)), Ok(None));
        assert_eq!(json_utc(json!("")), Ok(None));
    }

    #[test]
    fn json_strings_follow_the_string_rules() {
        assert_eq!(
            json_utc(json!("2024-01-01T00:30:00+01:00")),
            Ok(Some("2023-12-31T23:30:00.000Z".to_owned()))
        );
        assert_eq!(json_utc(json!("1374193002")), Err(InvalidTime));
        assert_eq!(json_utc(json!(" ")), Err(InvalidTime));
    }

    #[test]
    fn json_epochs_are_seconds_below_the_threshold_else_milliseconds() {
        let expected = Ok(Some("2013-07-19T00:16:42.000Z".to_owned()));
        assert_eq!(json_utc(json!(1_374_193_002)), expected);
        assert_eq!(json_utc(json!(1_374_193_002_000_i64)), expected);
        assert_eq!(json_utc(json!(1_374_193_002.0)), expected);
        assert_eq!(
            json_utc(json!(31_557_599_999_i64)),
            Ok(Some("2970-01-07T23:59:59.000Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(31_557_600_000_i64)),
            Ok(Some("1971-01-01T06:00:00.000Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(-31_557_599_999_i64)),
            Ok(Some("0969-12-24T00:00:01.000Z".to_owned()))
        );
        // Signed: far below zero is still seconds, never milliseconds.
        assert_eq!(
            json_utc(json!(-31_557_600_000_i64)),
            Ok(Some("0969-12-24T00:00:00.000Z".to_owned()))
        );
        assert_eq!(json_utc(json!(-86_400_000_000_i64)), Err(InvalidTime));
        assert_eq!(
            json_utc(json!(0)),
            Ok(Some("1970-01-01T00:00:00.000Z".to_owned()))
        );
    }

    #[test]
    fn fractional_epochs_are_floored_to_milliseconds() {
        assert_eq!(
            json_utc(json!(1_374_193_002.5)),
            Ok(Some("2013-07-19T00:16:42.500Z".to_owned()))
        );
        // As a binary float this is just below .524, and so is its product
        // with 1000.0: only the decimal digits give .524.
        assert_eq!(
            json_utc(json!(1_096_211_832.524)),
            Ok(Some("2004-09-26T15:17:12.524Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(1_374_193_002.123_999_9)),
            Ok(Some("2013-07-19T00:16:42.123Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(1_374_193_002_000.9)),
            Ok(Some("2013-07-19T00:16:42.000Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(0.0005)),
            Ok(Some("1970-01-01T00:00:00.000Z".to_owned()))
        );
    }

    #[test]
    fn negative_epochs_are_before_1970_and_floor_downward() {
        assert_eq!(
            json_utc(json!(-1)),
            Ok(Some("1969-12-31T23:59:59.000Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(-1.5)),
            Ok(Some("1969-12-31T23:59:58.500Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(-0.0005)),
            Ok(Some("1969-12-31T23:59:59.999Z".to_owned()))
        );
        assert_eq!(
            json_utc(json!(-86_400_000)),
            Ok(Some("1967-04-07T00:00:00.000Z".to_owned()))
        );
    }

    #[test]
    fn long_floats_are_read_as_the_shortest_decimal_of_their_double() {
        let parsed =
            |text: &str| EventTime::from_json(&tree_text(text)).map(|t| t.map(|t| t.to_string()));
        assert_eq!(
            parsed("1642351729.5450000000001"),
            Ok(Some("2022-01-16T16:48:49.545Z".to_owned()))
        );
        assert_eq!(
            parsed("1642351729544.99999999999"),
            Ok(Some("2022-01-16T16:48:49.545Z".to_owned()))
        );
        assert_eq!(parsed("1e400"), Err(InvalidTime));
        assert_eq!(parsed("123456789012345678901234567890"), Err(InvalidTime));
    }

    #[test]
    fn epochs_outside_the_years_0000_to_9999_are_invalid() {
        assert_eq!(
            json_utc(json!(253_402_300_799_999_i64)),
            Ok(Some("9999-12-31T23:59:59.999Z".to_owned()))
        );
        assert_eq!(json_utc(json!(253_402_300_800_000_i64)), Err(InvalidTime));
        assert_eq!(json_utc(json!(i64::MAX)), Err(InvalidTime));
        assert_eq!(json_utc(json!(i64::MIN)), Err(InvalidTime));
        assert_eq!(json_utc(json!(u64::MAX)), Err(InvalidTime));
        assert_eq!(json_utc(json!(1e300)), Err(InvalidTime));
        assert_eq!(json_utc(json!(-1e300)), Err(InvalidTime));
    }

    #[test]
    fn exponent_forms_of_numbers_are_read_exactly() {
        let parsed = |text: &str| {
            let value: Json = serde_json::from_str(text).expect("valid JSON");
            json_utc(value)
        };
        assert_eq!(
            parsed("1.374193002e9"),
            Ok(Some("2013-07-19T00:16:42.000Z".to_owned()))
        );
        assert_eq!(
            parsed("1374193002500E-3"),
            Ok(Some("2013-07-19T00:16:42.500Z".to_owned()))
        );
        assert_eq!(
            parsed("1e-300"),
            Ok(Some("1970-01-01T00:00:00.000Z".to_owned()))
        );
        assert_eq!(
            parsed("-1e-300"),
            Ok(Some("1969-12-31T23:59:59.999Z".to_owned()))
        );
    }

    #[test]
    fn booleans_arrays_and_objects_are_not_times() {
        assert_eq!(json_utc(json!(true)), Err(InvalidTime));
        assert_eq!(json_utc(json!(false)), Err(InvalidTime));
        assert_eq!(json_utc(json!([])), Err(InvalidTime));
        assert_eq!(json_utc(json!({"time": "2024-01-02"})), Err(InvalidTime));
        assert_eq!(InvalidTime.to_string(), "not a recognised time");
    }

    #[test]
    fn message_time_prefers_timestamp_then_original_then_received_then_sent() {
        let all = message(json!({
            "sentAt": "2024-01-04T00:00:00Z",
            "receivedAt": "2024-01-03T00:00:00Z",
            "originalTimestamp": "2024-01-02T00:00:00Z",
            "timestamp": "2024-01-01T00:00:00Z",
        }));
        let picked =
            |message: &Object<'_>| message_time(message).map(|time| time.map(|t| t.to_string()));
        assert_eq!(
            picked(&all),
            Ok(Some("2024-01-01T00:00:00.000Z".to_owned()))
        );

        let mut rest = all.clone();
        rest.remove("timestamp");
        assert_eq!(
            picked(&rest),
            Ok(Some("2024-01-02T00:00:00.000Z".to_owned()))
        );
        rest.remove("originalTimestamp");
        assert_eq!(
            picked(&rest),
            Ok(Some("2024-01-03T00:00:00.000Z".to_owned()))
        );
        rest.remove("receivedAt");
        assert_eq!(
            picked(&rest),
            Ok(Some("2024-01-04T00:00:00.000Z".to_owned()))
        );
        rest.remove("sentAt");
        assert_eq!(picked(&rest), Ok(None));
    }

    #[test]
    fn message_time_skips_null_and_empty_fields() {
        let fields = message(json!({
            "timestamp": null,
            "originalTimestamp": "",
            "receivedAt": 1_374_193_002,
            "sentAt": "2024-01-04T00:00:00Z",
        }));
        assert_eq!(
            message_time(&fields).map(|time| time.map(EventTime::millis)),
            Ok(Some(1_374_193_002_000))
        );
    }

    #[test]
    fn message_time_ignores_keys_that_differ_in_case_or_depth() {
        let fields = message(json!({
            "Timestamp": "2024-01-01T00:00:00Z",
            "context": {"timestamp": "2024-01-01T00:00:00Z"},
        }));
        assert_eq!(message_time(&fields), Ok(None));
    }

    #[test]
    fn the_first_present_bad_field_is_reported_without_falling_back() {
        let fields = message(json!({
            "timestamp": null,
            "originalTimestamp": "2015-2-02T00:30:08.276Z",
            "receivedAt": "2024-01-03T00:00:00Z",
        }));
        let bad = message_time(&fields);
        assert_eq!(
            bad,
            Err(BadTimestamp {
                field: "originalTimestamp",
                value: "\"2015-2-02T00:30:08.276Z\"".to_owned(),
            })
        );

        let fields = message(json!({
            "timestamp": "2015-2-02T00:30:08.276Z",
            "sentAt": "2024-01-04T00:00:00Z",
        }));
        let text = message_time(&fields).map_err(|bad| bad.to_string());
        assert_eq!(
            text,
            Err(r#"timestamp "2015-2-02T00:30:08.276Z" is not a recognised time"#.to_owned())
        );
    }

    #[test]
    fn bad_values_are_reported_as_compact_json() {
        let fields = message(json!({"receivedAt": {"at": [1, 2]}, "sentAt": "2024-01-04"}));
        assert_eq!(
            message_time(&fields),
            Err(BadTimestamp {
                field: "receivedAt",
                value: r#"{"at":[1,2]}"#.to_owned(),
            })
        );
        let fields = message(json!({"sentAt": true}));
        assert_eq!(
            message_time(&fields).map_err(|bad| bad.to_string()),
            Err("sentAt true is not a recognised time".to_owned())
        );
    }

    #[test]
    fn long_bad_values_are_cut_to_80_characters() {
        let fields = message(json!({"timestamp": "é".repeat(200)}));
        let Err(bad) = message_time(&fields) else {
            panic!("a string of é is not a time");
        };
        assert_eq!(bad.value.chars().count(), 80);
        assert_eq!(bad.value, format!("\"{}…", "é".repeat(78)));

        let exactly_80 = "x".repeat(78);
        let fields = message(json!({ "timestamp": exactly_80 }));
        assert_eq!(
            message_time(&fields).map_err(|bad| bad.value),
            Err(format!("\"{exactly_80}\""))
        );
    }
}
