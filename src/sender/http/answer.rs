//! Planhat's answers as the sender reads them (SPEC §6): up to a bound and
//! never held whole beyond it, and whether a bulk-upsert answer is
//! Planhat's JSON, which is what makes a 2xx a delivery.

use std::io::{self, Read};

use serde_json::{Map, Value};

use crate::report::size;

/// Answers longer than this are cut off: far above any real upsert answer
/// (they list keys of at most 5000 items), and a bound on memory (SPEC §8).
pub const BOUND: u64 = 16 << 20;

/// An answer's body as read.
#[derive(Debug)]
pub enum Body {
    /// The whole body, as text (bytes that are not UTF-8 replaced).
    Text(String),
    /// Longer than [`BOUND`]: its length (at least that, when `cut` says
    /// why reading stopped), and nothing of it kept.
    TooLong { length: u64, cut: Option<String> },
}

impl Body {
    /// The body's text, or what to say of a body that was not kept.
    pub fn text(&self, route: &str) -> String {
        match self {
            Body::Text(text) => text.clone(),
            Body::TooLong { length, cut } => {
                let more = match cut {
                    None => format!("was {}", size(*length)),
                    Some(why) => format!("was at least {} ({why})", size(*length)),
                };
                format!(
                    "Planhat's answer to {route} {more}, more than {}",
                    size(BOUND)
                )
            }
        }
    }
}

/// Reads a body up to [`BOUND`]. A longer one is read to its end and
/// counted, not kept, so that its size can be told (the request timeout
/// bounds how long that takes). `length` is the declared length, when the
/// answer gave one: a body declared too long is not collected at all.
pub fn read(mut body: impl Read, length: Option<u64>) -> io::Result<Body> {
    let mut buffer = vec![0; 64 * 1024];
    let mut counted = 0;
    if length.is_none_or(|length| length <= BOUND) {
        let mut kept = Vec::new();
        (&mut body).take(BOUND).read_to_end(&mut kept)?;
        // Whether there is more is asked of the small buffer: one byte past
        // the bound in `kept` would double its capacity.
        let past = if kept.len() as u64 == BOUND {
            read_some(&mut body, &mut buffer)?
        } else {
            0
        };
        if past == 0 {
            return Ok(Body::Text(String::from_utf8_lossy(&kept).into_owned()));
        }
        counted = BOUND + past as u64;
    }
    loop {
        match read_some(&mut body, &mut buffer) {
            Ok(0) => {
                return Ok(Body::TooLong {
                    length: counted,
                    cut: None,
                });
            }
            Ok(read) => counted += read as u64,
            Err(error) => {
                let cut = Some(format!("reading stopped: {error}"));
                return Ok(Body::TooLong {
                    length: counted,
                    cut,
                });
            }
        }
    }
}

/// One read, tried again when a signal interrupted it.
fn read_some(body: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match body.read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}

/// Whether a 2xx bulk-upsert answer is Planhat's: a JSON object. A proxy's
/// maintenance page or a bare `OK` is not, and is no sign the items arrived.
pub fn is_planhat_json(text: &str) -> bool {
    serde_json::from_str::<Map<String, Value>>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_up_to_the_bound_is_kept_and_a_longer_one_only_counted() {
        let small = read(&b"{}"[..], None).unwrap();
        assert!(matches!(small, Body::Text(text) if text == "{}"));
        let exact = read(io::repeat(b' ').take(BOUND), None).unwrap();
        assert!(matches!(exact, Body::Text(text) if text.len() as u64 == BOUND));
        let long = read(io::repeat(b' ').take(BOUND + 10), None).unwrap();
        assert!(matches!(long, Body::TooLong { length, cut: None } if length == BOUND + 10));
        let declared = read(io::repeat(b' ').take(300 << 20), Some(300 << 20)).unwrap();
        assert_eq!(
            declared.text("PUT /endusers"),
            "Planhat's answer to PUT /endusers was 300.0 MiB, more than 16.0 MiB"
        );
    }

    #[test]
    fn only_a_json_object_is_planhats_answer() {
        assert!(is_planhat_json(r#"{"created":1,"createdErrors":[]}"#));
        for other in [
            "OK",
            "<html><body>Maintenance</body></html>",
            "",
            "[]",
            "null",
        ] {
            assert!(!is_planhat_json(other), "{other}");
        }
    }
}
