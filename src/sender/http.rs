//! The HTTP sender (SPEC §6): one shared ureq agent, one request in flight,
//! retries with backoff and `Retry-After`, pacing of the main API, batch
//! splitting on 400/413/422, reading of bulk-upsert answers, and redirects,
//! which stop the run instead of being followed. Waiting goes through a
//! [`Clock`], so tests never sleep for real.

mod answer;
mod clock;

pub use clock::{Clock, SystemClock};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::policy::{self, Disposition, Pacer};
use super::{ItemFailure, Transport};
use crate::config::Secret;
use crate::error::Interrupted;
use crate::planhat::items::Route;
use crate::planhat::{Batch, Endpoints, TENANT_TOKEN_PLACEHOLDER};
use crate::report::{self, Counters, duration_text};
use answer::Body;

/// Settings of the HTTP sender.
pub struct HttpSettings {
    pub endpoints: Endpoints,
    pub tenant_token: Secret,
    pub api_token: Option<Secret>,
    pub max_retries: u32,
    pub timeout: Duration,
    /// Main-API requests per minute.
    pub api_rate: u32,
    /// Set by Ctrl-C: no new try starts once it is.
    pub interrupt: Arc<AtomicBool>,
    /// Shared with the display.
    pub counters: Arc<Counters>,
}

/// How a request ended after its retries.
enum Answer {
    Status {
        status: u16,
        body: String,
    },
    /// A 2xx upsert answer that was not Planhat's JSON every time: why not.
    Unreadable {
        status: u16,
        why: String,
    },
    /// A 3xx, and where it pointed.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// No answer: the transport failed every time.
    Unreachable(String),
}

/// One HTTP exchange.
struct Exchange {
    status: u16,
    retry_after: Option<String>,
    location: Option<String>,
    /// `None` for a redirect, which is not read.
    body: Option<Body>,
}

/// Sends batches to Planhat over HTTP.
pub struct Http {
    agent: ureq::Agent,
    settings: HttpSettings,
    clock: Box<dyn Clock + Send>,
    pacer: Pacer,
}

/// A pacing wait longer than this is told to the user (SPEC §7), so that a
/// held request never looks like a hang.
const TOLD_PACING: Duration = Duration::from_secs(5);
/// How much of an answer's body is kept for messages.
const MESSAGE_CHARS: usize = 300;

impl Http {
    pub fn new(settings: HttpSettings, clock: Box<dyn Clock + Send>) -> Http {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .http_status_as_error(false)
            // A followed redirect turns a PUT or POST into a body-less GET
            // that answers 200, and carries the tenant token in the URL path
            // to whatever host it names: a 3xx stops the run instead.
            .max_redirects(0)
            .user_agent(concat!("segment-planhat/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Http {
            agent,
            pacer: Pacer::new(settings.api_rate),
            settings,
            clock,
        }
    }

    /// Delivers `part` (entries `offset..` of the batch being delivered),
    /// halving it on a 400/413/422 until the refused item stands alone.
    fn deliver_part(
        &mut self,
        part: &Batch,
        offset: usize,
        failures: &mut Vec<ItemFailure>,
    ) -> Result<()> {
        let fail_all = |failures: &mut Vec<ItemFailure>,
                        reason: String,
                        status: Option<u16>,
                        message: String| {
            failures.extend((0..part.entries.len()).map(|i| ItemFailure {
                index: offset + i,
                reason: reason.clone(),
                status,
                message: message.clone(),
            }));
        };
        let (status, body) = match self.request(part)? {
            Answer::Status { status, body } => (status, body),
            Answer::Unreachable(why) => {
                let message = format!("no answer after {}: {why}", self.tries());
                fail_all(failures, "retries_exhausted".into(), None, message);
                return Ok(());
            }
            Answer::Unreadable { status, why } => {
                let message = format!("still HTTP {status} after {}, {why}", self.tries());
                fail_all(failures, "retries_exhausted".into(), Some(status), message);
                return Ok(());
            }
            Answer::Redirect { status, location } => {
                bail!(self.redirect_error(part.route, status, location.as_deref()))
            }
        };
        let message = self.answer_text(&snippet(&body));
        match policy::classify(status) {
            // Only upserts answer item by item; analytics is a data sink.
            Disposition::Accepted if matches!(part.route, Route::Activity | Route::Metric) => {}
            Disposition::Accepted => {
                // Parsed only when the answer names errors to match them to.
                let items = || {
                    part.entries
                        .iter()
                        .map(|e| serde_json::from_slice(part.item(e)).unwrap_or(Value::Null))
                        .collect()
                };
                for (index, why) in policy::upsert_failures(status, &body, items) {
                    failures.push(ItemFailure {
                        index: offset + index,
                        reason: "item_error".into(),
                        status: Some(status),
                        message: self.answer_text(&snippet(&why)),
                    });
                }
            }
            Disposition::Split if part.entries.len() > 1 => {
                let (first, second) = part.halves();
                self.deliver_part(&first, offset, failures)?;
                self.deliver_part(&second, offset + first.entries.len(), failures)?;
            }
            Disposition::Abort => bail!(self.auth_error(part.route, status, &message)),
            Disposition::Redirect => unreachable!("request() answers a redirect as one"),
            Disposition::Retry => {
                let message = format!("still HTTP {status} after {}: {message}", self.tries());
                fail_all(failures, "retries_exhausted".into(), Some(status), message);
            }
            Disposition::Split | Disposition::Fail => {
                fail_all(failures, format!("http_{status}"), Some(status), message);
            }
        }
        Ok(())
    }

    /// Sends one request, retrying what is worth retrying.
    fn request(&mut self, part: &Batch) -> Result<Answer> {
        let mut retry = 0;
        loop {
            self.pace(part.route);
            if self.settings.interrupt.load(Ordering::Relaxed) {
                bail!(Interrupted);
            }
            self.settings.counters.request(part.body.len() as u64);
            let (wait, last, why) = match self.send_once(part) {
                Ok(exchange) => {
                    let status = exchange.status;
                    let disposition = policy::classify(status);
                    let Some(body) = exchange.body else {
                        let location = exchange.location;
                        return Ok(Answer::Redirect { status, location });
                    };
                    let unreadable = (disposition == Disposition::Accepted
                        && matches!(part.route, Route::EndUser | Route::Company))
                    .then(|| self.unreadable(part.route, &body))
                    .flatten();
                    let body = body.text(&route_text(part.route));
                    if disposition != Disposition::Retry && unreadable.is_none() {
                        return Ok(Answer::Status { status, body });
                    }
                    let after = (exchange.retry_after)
                        .and_then(|h| policy::retry_after(&h, self.clock.wall()));
                    match unreadable {
                        Some((short, why)) => (
                            after,
                            Answer::Unreadable { status, why },
                            format!("HTTP {status}, {short}"),
                        ),
                        None => (
                            after,
                            Answer::Status { status, body },
                            format!("HTTP {status}"),
                        ),
                    }
                }
                Err(error) if is_transient(&error) => {
                    let why = self.cause(&error);
                    (None, Answer::Unreachable(why.clone()), why)
                }
                Err(error) => bail!(
                    "cannot reach Planhat at {}: {}",
                    self.shown_url(part.route),
                    self.cause(&error)
                ),
            };
            if retry >= self.settings.max_retries {
                return Ok(last);
            }
            let delay = crate::backoff::backoff(retry, self.clock.random(), wait);
            retry += 1;
            self.settings.counters.retry(format!(
                "retrying {} in {}: {why} (attempt {retry} of {})",
                route_text(part.route),
                duration_text(delay),
                self.settings.max_retries
            ));
            self.clock.sleep(delay);
        }
    }

    /// One HTTP exchange: the status, the headers the sender acts on, and
    /// the body (read up to [`answer::BOUND`]; a redirect's is not read).
    fn send_once(&mut self, part: &Batch) -> Result<Exchange, ureq::Error> {
        let url = self.url(part.route);
        let request = match part.route {
            Route::Activity | Route::Receiver | Route::Metric => self.agent.post(&url),
            Route::EndUser | Route::Company => self.agent.put(&url),
        };
        // The analytics path carries the tenant token itself; the receiver
        // takes it as the Basic user; upserts take the API token.
        let request = match (&self.settings.api_token, part.route) {
            (Some(token), Route::EndUser | Route::Company) => {
                request.header("Authorization", format!("Bearer {}", token.expose()))
            }
            (_, Route::Receiver) => request.header(
                "Authorization",
                basic_credentials(self.settings.tenant_token.expose()),
            ),
            _ => request,
        };
        let mut response = request
            .content_type("application/json")
            .send(&part.body[..])?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some(value.to_owned())
        };
        let (retry_after, location) = (header("retry-after"), header("location"));
        // Every other answer is read, also where it is not looked at
        // (analytics), so that the connection can carry the next request.
        let body = if policy::classify(status) == Disposition::Redirect {
            None
        } else {
            let length = response.body().content_length();
            Some(answer::read(response.body_mut().as_reader(), length)?)
        };
        Ok(Exchange {
            status,
            retry_after,
            location,
            body,
        })
    }

    /// Why a 2xx upsert answer is no delivery, if it is not: a short word
    /// for the retry line, and what the failed items will say.
    fn unreadable(&self, route: Route, body: &Body) -> Option<(String, String)> {
        match body {
            Body::Text(text) if answer::is_planhat_json(text) => None,
            Body::Text(text) => Some((
                "not Planhat's JSON".into(),
                self.answer_text(&format!("not Planhat's JSON: {}", snippet(text))),
            )),
            too_long => Some((
                format!("an answer over {}", report::size(answer::BOUND)),
                too_long.text(&route_text(route)),
            )),
        }
    }

    fn url(&self, route: Route) -> String {
        self.settings
            .endpoints
            .url(route, self.settings.tenant_token.expose())
    }

    /// A route's URL for messages: the tenant token its path carries is
    /// left out as the URL is built, never searched for afterwards.
    fn shown_url(&self, route: Route) -> String {
        self.settings.endpoints.url(route, TENANT_TOKEN_PLACEHOLDER)
    }

    /// `1 try`, `9 tries`: the first and every retry.
    fn tries(&self) -> String {
        report::counted(u64::from(self.settings.max_retries) + 1, "try")
    }

    /// Why a request got no answer, in words that never hold its URL (whose
    /// path carries the tenant token). Of ureq's errors only `BadUri` and
    /// `RequireHttpsOnly` print the URL; the others print the cause alone,
    /// and a timeout prints only which of ureq's timers ran out.
    fn cause(&self, error: &ureq::Error) -> String {
        match error {
            ureq::Error::BadUri(_) => "the URL is not valid".into(),
            ureq::Error::RequireHttpsOnly(_) => "the URL is not https".into(),
            ureq::Error::Timeout(_) => {
                format!("timed out after {:?} (--timeout)", self.settings.timeout)
            }
            other => other.to_string(),
        }
    }

    /// Waits until the main API may take another request (SPEC §6:
    /// `--api-rate` in any minute, 50 in any second, bursts allowed).
    fn pace(&mut self, route: Route) {
        if !self.settings.endpoints.is_paced(route) {
            return;
        }
        let wait = self.pacer.wait(self.clock.now());
        if wait > TOLD_PACING {
            self.settings.counters.notice(format!(
                "pacing: holding {} for {} (at most {} a minute; see --api-rate)",
                route_text(route),
                duration_text(wait),
                report::counted(self.settings.api_rate.into(), "main-API request")
            ));
        }
        if !wait.is_zero() {
            self.clock.sleep(wait);
        }
        self.pacer.record(self.clock.now());
    }

    /// The error that stops the run when Planhat refuses a token. The hint
    /// names what can fix it: the token, and for the API token the cluster
    /// (`--subdomain` picks the main API's host; it does not change the
    /// analytics host, so it is never suggested for the tenant token).
    fn auth_error(&self, route: Route, status: u16, message: &str) -> String {
        let (token, hint) = match route {
            Route::Activity | Route::Receiver | Route::Metric => (
                "tenant token",
                "check --tenant-token / PLANHAT_TENANT_TOKEN (Planhat's tenant token, \
                 not an API access token)",
            ),
            Route::EndUser | Route::Company => (
                "API token",
                "check --api-token / PLANHAT_API_TOKEN; if your Planhat account is in another \
                 region, pass --subdomain (api-eu, api-us2, ...) as in your app's address \
                 (app-eu.planhat.com → api-eu)",
            ),
        };
        format!(
            "Planhat refused the {token} (HTTP {status}) at {} {}: {message}\nhint: {hint}",
            Endpoints::method(route),
            self.shown_url(route),
        )
    }

    /// The error that stops the run at a redirect. It names the host the
    /// redirect points at and nothing more of it: a redirect of the
    /// analytics URL carries the tenant token in its path, and a Location
    /// may hold credentials before its host.
    fn redirect_error(&self, route: Route, status: u16, location: Option<&str>) -> String {
        let target = match location.map(|l| l.parse::<ureq::http::Uri>()) {
            Some(Ok(uri)) => match (uri.host(), uri.port_u16()) {
                (Some(host), Some(port)) => format!("a redirect to {host}:{port}"),
                (Some(host), None) => format!("a redirect to {host}"),
                (None, _) => "a redirect to another path of the same host".into(),
            },
            Some(Err(_)) => "a redirect to an address that is not valid".into(),
            None => "a redirect without a Location".into(),
        };
        format!(
            "{} {} answered HTTP {status}, {target}; redirects are \
             not followed, so the run stopped and nothing more was sent\n\
             hint: a proxy, a load balancer or a moved domain answers with a redirect; give \
             the address Planhat answers at: --analytics-url for the analytics host, \
             --subdomain or --api-url for the main API",
            Endpoints::method(route),
            self.shown_url(route),
        )
    }

    /// An answer's text for messages. The answer is Planhat's, not ours: it
    /// may echo a token (a path in a 404, a header), so a token standing as
    /// a word of its own is replaced; a token inside a longer word is left,
    /// since that word is text, not the token.
    fn answer_text(&self, text: &str) -> String {
        let text = replace_word(
            text,
            self.settings.tenant_token.expose(),
            TENANT_TOKEN_PLACEHOLDER,
        );
        match &self.settings.api_token {
            Some(api) => replace_word(&text, api.expose(), "{apiToken}"),
            None => text,
        }
    }
}

impl Transport for Http {
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>> {
        let mut failures = Vec::new();
        self.deliver_part(batch, 0, &mut failures)?;
        Ok(failures)
    }
}

/// `PUT /endusers`: a route as the user's notices name it, with no host and
/// the tenant token's placeholder.
fn route_text(route: Route) -> String {
    format!("{} {}", Endpoints::method(route), Endpoints::path(route))
}

/// HTTP Basic credentials with `user` and an empty password, as Planhat's
/// Segment receiver takes the tenant token.
pub fn basic_credentials(user: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:")))
}

/// Errors that another try may not meet: the connection, not the request.
fn is_transient(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Timeout(_)
            | ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
    )
}

/// `text` with each occurrence of `word` that no letter, digit, `-` or `_`
/// adjoins replaced by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    if word.is_empty() {
        return text.to_owned();
    }
    let part_of_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let (before, after) = (&rest[..at], &rest[at + word.len()..]);
        let alone = !before.chars().next_back().is_some_and(part_of_word)
            && !after.chars().next().is_some_and(part_of_word);
        out.push_str(before);
        out.push_str(if alone { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The start of an answer's body, on one line, for messages.
fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None if one_line.is_empty() => "(empty answer)".into(),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64_of_user_and_empty_password() {
        assert_eq!(basic_credentials("test_key"), "Basic dGVzdF9rZXk6");
        assert_eq!(basic_credentials("ab"), "Basic YWI6");
        assert_eq!(basic_credentials("a"), "Basic YTo=");
        assert_eq!(basic_credentials(""), "Basic Og==");
    }

    #[test]
    fn a_token_is_replaced_only_where_it_stands_as_a_word() {
        let replace = |text| replace_word(text, "e", "{t}");
        assert_eq!(replace("Connection refused"), "Connection refused");
        assert_eq!(
            replace("Cannot POST /analytics/bulk/e"),
            "Cannot POST /analytics/bulk/{t}"
        );
        assert_eq!(replace("token e is unknown"), "token {t} is unknown");
        assert_eq!(replace("e"), "{t}");
    }
}
