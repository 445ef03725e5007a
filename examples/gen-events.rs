//! A deterministic generator of realistic Segment messages, for benchmarks:
//! the mix of a B2B SaaS product's S3 export — mostly page views and track
//! events, some identifies and group calls, a few aliases and deletes, and
//! the noise real logs carry (anonymous page views, client-retry
//! duplicates, events switched off for Planhat, nested properties, unicode,
//! numeric ids).
//!
//! ```sh
//! cargo run --release --example gen-events -- --count 100000 --seed 1 > corpus.ndjson
//! cargo run --release --example gen-events -- --bytes 1G > big.ndjson
//! cargo run --release --example gen-events -- --count 4000000 --users 100 --group-heavy > groups.ndjson
//! ```
//!
//! The same seed always gives the same bytes.

use std::io::{BufWriter, Write};

use clap::Parser;
use serde_json::{Value, json};

/// Generate Segment NDJSON.
#[derive(Debug, Parser)]
struct Args {
    /// How many messages.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Stop once this many bytes were written instead (accepts K, M, G).
    #[arg(long, value_parser = parse_size)]
    bytes: Option<u64>,
    /// Seed of the pseudo-random sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many distinct users send the messages (in accounts of about a
    /// dozen users each, at most 400 accounts per 5000 users).
    #[arg(long, default_value_t = 5000)]
    users: u64,
    /// Only group calls, as analytics.js apps that call `group` on every page
    /// load send them: each user's calls name its account, except in every
    /// other tenth of the run, when it has moved to the next account (and
    /// back after).
    #[arg(long)]
    group_heavy: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let (number, factor) = match text.chars().last() {
        Some('K' | 'k') => (&text[..text.len() - 1], 1 << 10),
        Some('M' | 'm') => (&text[..text.len() - 1], 1 << 20),
        Some('G' | 'g') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    number
        .parse::<u64>()
        .map(|n| n * factor)
        .map_err(|e| format!("{text:?}: {e}"))
}

/// xorshift64*: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

const EVENTS: [&str; 16] = [
    "Report Built",
    "Dashboard Viewed",
    "Signed In",
    "Signed Out",
    "Invite Sent",
    "Export Downloaded",
    "Filter Applied",
    "Integration Connected",
    "Comment Added",
    "Task Completed",
    "Project Created",
    "Search Performed",
    "Settings Updated",
    "Trial Started",
    "Application Opened",
    "Application Backgrounded",
];
const PAGES: [(&str, &str); 8] = [
    ("Reports", "Pipeline"),
    ("Reports", "Revenue"),
    ("Settings", "Billing"),
    ("Settings", "Team"),
    ("Docs", "Getting Started"),
    ("Dashboard", "Overview"),
    ("Projects", "Board"),
    ("Projects", "Timeline"),
];
const CITIES: [&str; 8] = [
    "Zürich",
    "São Paulo",
    "Kraków",
    "Malmö",
    "Москва",
    "東京",
    "Montréal",
    "Reykjavík",
];
const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];

struct Generator {
    rng: Rng,
    users: u64,
    companies: u64,
    /// Milliseconds since the epoch; moves forward a little per message.
    clock: i64,
    last: Option<String>,
}

impl Generator {
    /// A group call of `--group-heavy`, the `index`th of `count`.
    fn group_call(&mut self, index: u64, count: u64) -> Value {
        let (user, _, n) = self.user();
        let moved = (index * 10 / count.max(1)) % 2;
        let account = (n + moved) % self.companies;
        json!({
            "type": "group",
            "userId": user,
            "groupId": format!("acct_{account:04}"),
            "traits": {"name": format!("Company {account}")},
            "messageId": format!("ajs-next-{}", self.rng.hex(32)),
            "timestamp": self.time(),
        })
    }
}

impl Generator {
    fn user(&mut self) -> (String, String, u64) {
        let n = self.rng.below(self.users);
        (
            format!("u_{n:05}"),
            format!("user{n}@company{}.example", n % self.companies),
            n,
        )
    }

    fn time(&mut self) -> String {
        self.clock += self.rng.below(4000) as i64;
        let time = segment_planhat::segment::time::EventTime::from_millis(self.clock)
            .expect("the generator stays in range");
        time.to_string()
    }

    fn context(&mut self, page: Option<(&str, &str)>) -> Value {
        let mut context = json!({
            "library": {"name": "analytics.js", "version": "npm:next-1.61.0"},
            "ip": format!("203.0.{}.{}", self.rng.below(256), self.rng.below(256)),
            "locale": self.rng.pick(&["en-US", "de-DE", "fr-FR", "pt-BR", "ja-JP"]),
            "userAgent": self.rng.pick(&AGENTS),
            "timezone": self.rng.pick(&["Europe/Berlin", "America/New_York", "Asia/Tokyo"]),
        });
        if let Some((category, name)) = page {
            let path = format!(
                "/{}/{}",
                category.to_lowercase(),
                name.to_lowercase().replace(' ', "-")
            );
            context["page"] = json!({
                "path": path,
                "url": format!("https://app.example.com{path}"),
                "title": format!("{name} · {category}"),
                "referrer": "https://app.example.com/",
                "search": "",
            });
        }
        context
    }

    fn message(&mut self) -> Value {
        // Client retries put the same message twice, close together.
        if let Some(last) = self.last.take().filter(|_| self.rng.chance(1)) {
            return serde_json::from_str(&last).expect("the generator wrote JSON");
        }
        let (user, email, n) = self.user();
        let company = format!("acct_{:04}", n % self.companies);
        let roll = self.rng.below(100);
        let mut message = match roll {
            0..=49 => {
                let event = self.rng.pick(&EVENTS);
                json!({
                    "type": "track",
                    "event": event,
                    "userId": user,
                    "properties": {
                        "plan": self.rng.pick(&["free", "team", "business", "enterprise"]),
                        "duration_ms": self.rng.below(90_000),
                        "items": (0..self.rng.below(4)).map(|i| json!({"sku": format!("sku-{i}"), "qty": i + 1})).collect::<Vec<_>>(),
                        "filters": {"stage": ["won", "open"], "owner": {"id": self.rng.below(100), "team": "emea"}},
                        "note": format!("{} — {}", self.rng.pick(&CITIES), self.rng.hex(24)),
                    },
                    "context": self.context(None),
                })
            }
            50..=79 => {
                let (category, name) = PAGES[self.rng.below(PAGES.len() as u64) as usize];
                let mut page = json!({
                    "type": "page",
                    "category": category,
                    "name": name,
                    "properties": {"path": "", "title": name},
                    "context": self.context(Some((category, name))),
                });
                // Anonymous views before login have no user at all.
                if self.rng.chance(15) {
                    page["anonymousId"] =
                        json!(format!("{}-{}", self.rng.hex(8), self.rng.hex(12)));
                } else {
                    page["userId"] = json!(user);
                }
                page
            }
            80..=84 => json!({
                "type": "screen",
                "name": self.rng.pick(&["Home", "Inbox", "Settings", "Report"]),
                "userId": user,
                "properties": {"orientation": "portrait"},
                "context": {"app": {"name": "Example iOS", "version": "5.2.0"}, "os": {"name": "iOS", "version": "17.4"},
                            "device": {"model": "iPhone15,2"}, "traits": {"email": email}},
            }),
            85..=92 => json!({
                "type": "identify",
                "userId": if self.rng.chance(20) { json!(n) } else { json!(user) },
                "traits": {
                    "email": email,
                    "firstName": self.rng.pick(&["Ana", "Kim", "Lee", "Sam", "Zoë", "Jürgen"]),
                    "lastName": self.rng.pick(&["López", "Ng", "Park", "Smith", "Øster"]),
                    "title": self.rng.pick(&["CFO", "Head of Ops", "Engineer", "CSM"]),
                    "company": {"id": company, "name": format!("Company {}", n % self.companies), "plan": "enterprise"},
                    "address": {"city": self.rng.pick(&CITIES), "country": "DE"},
                    "createdAt": "2023-06-01T09:00:00Z",
                    "logins": self.rng.below(500),
                },
                "context": self.context(None),
            }),
            93..=96 => json!({
                "type": "group",
                "userId": user,
                "groupId": company,
                "traits": {"name": format!("Company {}", n % self.companies), "industry": "Software",
                           "employees": self.rng.below(5000), "plan": "enterprise", "website": "https://example.com"},
            }),
            97..=98 => json!({"type": "alias", "previousId": self.rng.hex(16), "userId": user}),
            _ => json!({"type": "delete", "userId": user, "context": null, "integrations": null}),
        };
        let time = self.time();
        message["messageId"] = json!(format!("ajs-next-{}", self.rng.hex(32)));
        message["timestamp"] = json!(time.clone());
        message["originalTimestamp"] = json!(time.clone());
        message["receivedAt"] = json!(time.clone());
        message["sentAt"] = json!(time);
        message["integrations"] = if self.rng.chance(3) {
            json!({"Planhat": false})
        } else {
            json!({})
        };
        message["version"] = json!(2);
        message["channel"] = json!("client");
        message["projectId"] = json!("src_8Qw2");
        message
    }
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut generator = Generator {
        rng: Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        users: args.users.max(1),
        // 5000 users in 400 accounts, as the default corpus has them.
        companies: (args.users * 2 / 25).max(1),
        clock: 1_709_251_200_000,
        last: None,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let (mut written, mut count) = (0u64, 0u64);
    loop {
        let done = match args.bytes {
            Some(limit) => written >= limit,
            None => count >= args.count,
        };
        if done {
            break;
        }
        let line = if args.group_heavy {
            generator.group_call(count, args.count).to_string()
        } else {
            generator.message().to_string()
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        count += 1;
        generator.last = Some(line);
    }
    out.flush()
}
