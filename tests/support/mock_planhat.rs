//! A mock Planhat HTTP server on 127.0.0.1, for the delivery tests and for
//! anyone who wants to try `send` without a Planhat account (the
//! `mock-planhat` example). It serves the five endpoints the tool uses
//! (activities, metrics, end users, companies, the receiver), checks their
//! credentials, records what it receives and injects faults on demand:
//! queued statuses (429 with Retry-After, 5xx), for any path or one path,
//! dropped connections,
//! slow answers, 400 for batches holding a poisoned item, 206 with item
//! errors, one status for everything (401), redirects with a `Location`,
//! and answers too large to hold (streamed).
//!
//! Hand-written HTTP/1.1 over std::net, one thread per connection, so the
//! tests need no async runtime.

// Compiled into the test binary and into the example, each of which uses a
// different part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A fault to inject into the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, body and optional `Retry-After`.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: String,
    },
    /// Read the request, then close the connection without answering.
    Drop,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer with a redirect status (301, 302, 307, 308) to `location`.
    Redirect { code: u16, location: String },
    /// Answer 200 with a body of `bytes` bytes, streamed so the mock never
    /// holds it (an answer far larger than any real one).
    Huge { bytes: u64 },
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    /// Empty when recording is off.
    pub body: Vec<u8>,
    pub body_len: usize,
    /// The status answered; 0 when the connection was dropped.
    pub status: u16,
    /// Items accepted from this request (all of a 200, the unnamed ones of a
    /// 206, none otherwise); empty when recording is off.
    pub accepted: Vec<Value>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (a test helper: panics when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} {} body is not JSON: {e}", self.method, self.path))
    }
}

/// A hook called with each request once answered.
pub type Log = Box<dyn Fn(&Received) + Send + Sync>;

/// How the mock behaves.
pub struct MockConfig {
    /// The tenant token expected; `None` accepts any.
    pub tenant_token: Option<String>,
    /// The API token expected; `None` accepts any.
    pub api_token: Option<String>,
    /// A simulated round trip before every answer.
    pub delay: Duration,
    /// Keep bodies and parse them; off for benchmarks, where the mock must
    /// cost nothing but reading.
    pub record: bool,
    /// 0 picks a free port.
    pub port: u16,
    /// Called for every request once answered (the example prints them).
    pub log: Option<Log>,
}

impl Default for MockConfig {
    fn default() -> MockConfig {
        MockConfig {
            tenant_token: None,
            api_token: None,
            delay: Duration::ZERO,
            record: true,
            port: 0,
            log: None,
        }
    }
}

#[derive(Default)]
struct State {
    /// Each for the next request whose path starts with its prefix (`None`:
    /// any request).
    faults: VecDeque<(Option<String>, Fault)>,
    poison: Vec<String>,
    item_errors: Vec<String>,
    always: Option<u16>,
    requests: Vec<Received>,
    count: usize,
    /// Requests read, answered or not.
    read: usize,
}

struct Shared {
    config: MockConfig,
    state: Mutex<State>,
    arrived: Condvar,
    stopped: AtomicBool,
}

/// A running mock Planhat.
pub struct MockPlanhat {
    shared: Arc<Shared>,
    port: u16,
}

impl MockPlanhat {
    /// Binds 127.0.0.1 and starts accepting connections.
    pub fn start(config: MockConfig) -> io::Result<MockPlanhat> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            config,
            state: Mutex::default(),
            arrived: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let connection = Arc::clone(&accepting);
                thread::spawn(move || serve(&connection, stream));
            }
        });
        Ok(MockPlanhat { shared, port })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues a fault for the next request that arrives.
    pub fn push_fault(&self, fault: Fault) {
        self.state().faults.push_back((None, fault));
    }

    /// Queues a fault for the next request whose path starts with `prefix`
    /// (`/dimensiondata/`), leaving other requests alone.
    pub fn push_fault_on(&self, prefix: &str, fault: Fault) {
        self.state()
            .faults
            .push_back((Some(prefix.to_owned()), fault));
    }

    /// From now on, refuse with 400 any request holding an item whose JSON
    /// contains `marker`.
    pub fn poison(&self, marker: &str) {
        self.state().poison.push(marker.to_owned());
    }

    /// From now on, answer upserts holding items whose JSON contains
    /// `marker` with 206, naming those items in `createdErrors`.
    pub fn item_error(&self, marker: &str) {
        self.state().item_errors.push(marker.to_owned());
    }

    /// From now on, answer every request with this status.
    pub fn always(&self, status: u16) {
        self.state().always = Some(status);
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.state().requests.clone()
    }

    /// Every item Planhat accepted, in arrival order.
    pub fn delivered_items(&self) -> Vec<Value> {
        self.state()
            .requests
            .iter()
            .flat_map(|r| r.accepted.clone())
            .collect()
    }

    /// How many requests have arrived, answered or not yet (a delayed
    /// answer is still to come).
    pub fn received(&self) -> usize {
        self.state().read
    }

    /// Waits until at least `count` requests were answered or `timeout`
    /// passed; says whether they were.
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.count < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, left)
                .expect("the mock's lock is not poisoned")
                .0;
        }
        true
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .expect("the mock's lock is not poisoned")
    }
}

impl Drop for MockPlanhat {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// An answer to write.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
    accepted: Vec<Value>,
    /// A `Location` header.
    location: Option<String>,
    /// A streamed body of this many bytes instead of `body`.
    streamed: Option<u64>,
}

fn serve(shared: &Shared, stream: TcpStream) {
    // Without this, small answers wait for the peer's delayed ACK.
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let close = request
            .headers
            .iter()
            .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close"));
        let fault = {
            let mut state = shared
                .state
                .lock()
                .expect("the mock's lock is not poisoned");
            state.read += 1;
            let applies = state.faults.iter().position(|(prefix, _)| {
                prefix
                    .as_deref()
                    .is_none_or(|prefix| request.path.starts_with(prefix))
            });
            applies
                .and_then(|at| state.faults.remove(at))
                .map(|(_, fault)| fault)
        };
        let reply = match fault {
            Some(Fault::Drop) => {
                record(shared, &request, &answer(0, String::new()));
                return;
            }
            Some(Fault::Delay(wait)) => {
                thread::sleep(wait);
                respond(shared, &request)
            }
            Some(Fault::Status {
                code,
                retry_after,
                body,
            }) => Answer {
                retry_after,
                ..answer(code, body)
            },
            Some(Fault::Redirect { code, location }) => Answer {
                location: Some(location),
                ..answer(code, String::new())
            },
            Some(Fault::Huge { bytes }) => Answer {
                streamed: Some(bytes),
                ..answer(200, String::new())
            },
            None => respond(shared, &request),
        };
        if !shared.config.delay.is_zero() {
            thread::sleep(shared.config.delay);
        }
        record(shared, &request, &reply);
        // Recorded before answering, so that a client that has its answer
        // finds its request in the record.
        let written = write_answer(&mut writer, &reply);
        if written.is_err() || close {
            return;
        }
    }
}

fn record(shared: &Shared, request: &Request, answer: &Answer) {
    let received = Received {
        method: request.method.clone(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        body: if shared.config.record {
            request.body.clone()
        } else {
            Vec::new()
        },
        body_len: request.body.len(),
        status: answer.status,
        accepted: answer.accepted.clone(),
    };
    if let Some(log) = &shared.config.log {
        log(&received);
    }
    let mut state = shared
        .state
        .lock()
        .expect("the mock's lock is not poisoned");
    state.count += 1;
    if shared.config.record {
        state.requests.push(received);
    }
    shared.arrived.notify_all();
}

/// Reads one request; `None` at a clean end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut end = String::new();
        reader.read_line(&mut end)?;
        if size == 0 {
            return Ok(body);
        }
    }
}

fn write_answer(writer: &mut TcpStream, answer: &Answer) -> io::Result<()> {
    let length = answer.streamed.unwrap_or(answer.body.len() as u64);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n",
        answer.status,
        reason(answer.status),
    );
    if let Some(after) = &answer.retry_after {
        head.push_str(&format!("Retry-After: {after}\r\n"));
    }
    if let Some(location) = &answer.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(answer.body.as_bytes());
    writer.write_all(&bytes)?;
    if let Some(length) = answer.streamed {
        // A client that stops reading closes the connection: that ends this.
        io::copy(&mut io::repeat(b' ').take(length), writer)?;
    }
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// An answer with a status and a body, and nothing else.
fn answer(status: u16, body: String) -> Answer {
    Answer {
        status,
        retry_after: None,
        body,
        accepted: Vec::new(),
        location: None,
        streamed: None,
    }
}

fn error(status: u16, message: &str) -> Answer {
    answer(status, json!({ "error": message }).to_string())
}

/// The normal answer: route, credentials, then the poison and item-error
/// rules, then success.
fn respond(shared: &Shared, request: &Request) -> Answer {
    let (poison, item_errors, always) = {
        let state = shared
            .state
            .lock()
            .expect("the mock's lock is not poisoned");
        (
            state.poison.clone(),
            state.item_errors.clone(),
            state.always,
        )
    };
    if let Some(status) = always {
        return error(status, "simulated");
    }
    let config = &shared.config;
    // The analytics host's paths end with the tenant token.
    let tenant_path = [
        ("/analytics/bulk/", Endpoint::Analytics),
        ("/dimensiondata/", Endpoint::Metrics),
    ]
    .into_iter()
    .find_map(|(prefix, endpoint)| Some((request.path.strip_prefix(prefix)?, endpoint)));
    let endpoint = match (request.method.as_str(), request.path.as_str(), tenant_path) {
        ("POST", _, Some((token, endpoint))) => {
            if config.tenant_token.as_deref().is_some_and(|t| t != token) {
                return error(401, "unknown tenant");
            }
            endpoint
        }
        ("PUT", "/endusers" | "/companies", _) => {
            let expected = config.api_token.as_ref().map(|t| format!("Bearer {t}"));
            if expected.is_some_and(|e| header(request, "authorization") != Some(e.as_str())) {
                return error(401, "unauthorized");
            }
            Endpoint::Upsert
        }
        ("POST", "/dock/segment", _) => {
            let expected = config
                .tenant_token
                .as_ref()
                .map(|t| segment_planhat::sender::http::basic_credentials(t));
            if expected.is_some_and(|e| header(request, "authorization") != Some(e.as_str())) {
                return error(401, "unauthorized");
            }
            Endpoint::Receiver
        }
        _ => return error(404, "not found"),
    };
    if !config.record {
        let body = match endpoint {
            Endpoint::Upsert => upsert_answer(0, &[]),
            _ => "{}".to_owned(),
        };
        return ok(body, Vec::new());
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error(400, "body is not JSON");
    };
    let items: Vec<Value> = match (endpoint, body) {
        (Endpoint::Receiver, object @ Value::Object(_)) => vec![object],
        (Endpoint::Analytics | Endpoint::Metrics | Endpoint::Upsert, Value::Array(items)) => items,
        _ => return error(400, "unexpected body shape"),
    };
    let contains = |item: &Value, markers: &[String]| {
        let text = item.to_string();
        markers.iter().find(|m| text.contains(m.as_str())).cloned()
    };
    if let Some(marker) = items.iter().find_map(|item| contains(item, &poison)) {
        return error(400, &format!("simulated: item rejected ({marker})"));
    }
    if endpoint != Endpoint::Upsert {
        return ok("{}".to_owned(), items);
    }
    let (bad, good): (Vec<Value>, Vec<Value>) = items
        .into_iter()
        .partition(|item| contains(item, &item_errors).is_some());
    let errors: Vec<Value> = bad
        .iter()
        .map(|item| {
            json!({"externalId": item.get("externalId"), "email": item.get("email"),
                   "error": "simulated item error"})
        })
        .collect();
    let mut answer = ok(upsert_answer(good.len(), &errors), good);
    if !errors.is_empty() {
        answer.status = 206;
    }
    answer
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Analytics,
    /// `/dimensiondata/{tenantToken}`.
    Metrics,
    Upsert,
    Receiver,
}

fn ok(body: String, accepted: Vec<Value>) -> Answer {
    Answer {
        accepted,
        ..answer(200, body)
    }
}

/// Planhat's bulk-upsert answer shape.
fn upsert_answer(created: usize, errors: &[Value]) -> String {
    json!({"created": created, "createdErrors": errors, "insertsKeys": [], "updated": 0,
           "updatedErrors": [], "updatesKeys": [], "nonupdates": 0, "modified": [],
           "upsertedIds": [], "permissionErrors": []})
    .to_string()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
