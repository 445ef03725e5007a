//! Planhat requests (SPEC §6): where each route is sent, and the batches
//! that carry items there — activities and metrics batched as they come,
//! profile upserts coalesced first ([`profiles`]). A batch's body is written
//! once, item by item, and is what both the dry-run prints and the sender
//! sends, so the dry-run is the truth.
//!
//! Pure: no I/O.

pub mod items;
mod originals;
pub mod profiles;

use std::borrow::Cow;
use std::io::Write;
use std::ops::Range;

use items::{Item, Route};
pub use originals::Originals;

/// The stand-in printed where the tenant token would be.
pub const TENANT_TOKEN_PLACEHOLDER: &str = "{tenantToken}";

/// Planhat's base URLs, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://analytics.planhat.com` or an override.
    pub analytics: String,
    /// `https://<subdomain>.planhat.com` or an override.
    pub api: String,
}

impl Endpoints {
    /// The HTTP method of a route's requests.
    pub fn method(route: Route) -> &'static str {
        match route {
            Route::Activity | Route::Receiver | Route::Metric => "POST",
            Route::EndUser | Route::Company => "PUT",
        }
    }

    /// A route's URL, with `tenant_token` in the analytics path (pass
    /// [`TENANT_TOKEN_PLACEHOLDER`] to print it).
    pub fn url(&self, route: Route, tenant_token: &str) -> String {
        match route {
            Route::Activity => format!("{}/analytics/bulk/{tenant_token}", self.analytics),
            Route::Metric => format!("{}/dimensiondata/{tenant_token}", self.analytics),
            Route::EndUser | Route::Company | Route::Receiver => {
                format!("{}{}", self.api, Endpoints::path(route))
            }
        }
    }

    /// A route's path, with the tenant token's placeholder.
    pub fn path(route: Route) -> &'static str {
        match route {
            Route::Activity => "/analytics/bulk/{tenantToken}",
            Route::EndUser => "/endusers",
            Route::Company => "/companies",
            Route::Receiver => "/dock/segment",
            Route::Metric => "/dimensiondata/{tenantToken}",
        }
    }

    /// Whether a route's requests are paced to `--api-rate`: those to the
    /// main API, which Planhat rate-limits. The receiver is also served on
    /// the analytics host (`--subdomain analytics`), which is not limited.
    pub fn is_paced(&self, route: Route) -> bool {
        match route {
            Route::Activity | Route::Metric => false,
            Route::EndUser | Route::Company => true,
            Route::Receiver => self.api != self.analytics,
        }
    }
}

/// Where an input message came from: the index of its source, its line, and
/// its place among the messages of that line (a batch envelope holds
/// several; a plain line one, at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub source: usize,
    pub line: u64,
    pub message: u32,
}

/// How large a request may grow (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `--batch-size`: items per activity request.
    pub batch_size: usize,
    /// `--max-body-bytes`: bytes per request body.
    pub max_body_bytes: usize,
}

/// Planhat's limit on items per bulk upsert.
pub const MAX_UPSERT_ITEMS: usize = 5000;

impl Limits {
    /// Items per request on `route`.
    pub fn max_items(self, route: Route) -> usize {
        match route {
            Route::Activity | Route::Metric => self.batch_size,
            Route::EndUser | Route::Company => self.batch_size.min(MAX_UPSERT_ITEMS),
            Route::Receiver => 1,
        }
        .max(1)
    }
}

/// An input message that an item carries: a coalesced profile carries every
/// message merged into it (SPEC §6), any other item exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub origin: Origin,
    /// The original Segment message, in the batch's `originals`, for the
    /// failed file (empty in a dry-run, which has none).
    pub original: Range<usize>,
}

/// One item inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The item's JSON inside the batch body.
    pub item: Range<usize>,
    /// The messages it carries, in the batch's `carried`.
    pub carried: Range<usize>,
}

/// The items of one request, all for one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub route: Route,
    /// `[item,item,...]`, the closing `]` added when the batch closes; for
    /// the receiver, the one message itself.
    pub body: Vec<u8>,
    pub entries: Vec<Entry>,
    pub carried: Vec<Carried>,
    pub originals: Originals,
    /// An item names a company whose first upsert is still pending: the
    /// pending companies go first (SPEC §6, company first).
    pub names_new_company: bool,
}

impl Batch {
    fn new(route: Route) -> Batch {
        Batch {
            route,
            body: if route.is_bulk() {
                vec![b'[']
            } else {
                Vec::new()
            },
            entries: Vec::new(),
            carried: Vec::new(),
            originals: Originals::default(),
            names_new_company: false,
        }
    }

    /// The body's size once closed.
    fn closed_len(&self) -> usize {
        self.body.len() + usize::from(self.route.is_bulk())
    }

    fn close(mut self) -> Batch {
        if self.route.is_bulk() {
            self.body.push(b']');
        }
        self
    }

    /// Appends an item already written as JSON, with the messages it
    /// carries (their positions and original text).
    fn push_raw<'o>(
        &mut self,
        item: &[u8],
        messages: impl IntoIterator<Item = (Origin, &'o [u8])>,
    ) {
        let first = self.carried.len();
        for (origin, original) in messages {
            let original = self.originals.push(original);
            self.carried.push(Carried { origin, original });
        }
        self.push_entry(item, first);
    }

    /// Appends an item whose messages' originals are already in this
    /// batch's `originals`.
    fn push_held(&mut self, item: &[u8], carried: &[Carried]) {
        let first = self.carried.len();
        self.carried.extend_from_slice(carried);
        self.push_entry(item, first);
    }

    /// Appends an item's JSON, carrying the messages from `first_carried` on.
    fn push_entry(&mut self, item: &[u8], first_carried: usize) {
        if !self.entries.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len();
        self.body.extend_from_slice(item);
        self.entries.push(Entry {
            item: start..self.body.len(),
            carried: first_carried..self.carried.len(),
        });
    }

    /// The item's JSON text.
    pub fn item(&self, entry: &Entry) -> &[u8] {
        &self.body[entry.item.clone()]
    }

    /// The messages an item carries.
    pub fn carried(&self, entry: &Entry) -> &[Carried] {
        &self.carried[entry.carried.clone()]
    }

    /// A carried message's original JSON text.
    pub fn original(&self, carried: &Carried) -> Cow<'_, [u8]> {
        self.originals.get(carried.original.clone())
    }

    /// Where every message the batch carries came from.
    pub fn origins(&self) -> impl Iterator<Item = Origin> + '_ {
        self.carried.iter().map(|c| c.origin)
    }

    /// A closed batch of some of this batch's entries, in order, sharing
    /// their originals.
    pub fn subset(&self, entries: &[Entry]) -> Batch {
        let mut part = Batch::new(self.route);
        part.originals = self.originals.clone();
        for entry in entries {
            part.push_held(self.item(entry), self.carried(entry));
        }
        part.close()
    }

    /// The two halves of a closed batch of more than one item.
    pub fn halves(&self) -> (Batch, Batch) {
        let (first, second) = self.entries.split_at(self.entries.len() / 2);
        (self.subset(first), self.subset(second))
    }
}

/// Collects the items of one route (activities or receiver bodies, or
/// metrics) into batches: one open batch at a time, closed when full or when
/// the next item would overflow it. Delivery keeps one batcher per route, so
/// that metrics interleaved with activities do not cut either into tiny
/// batches. Profile upserts are coalesced apart, in [`profiles::Profiles`].
#[derive(Debug)]
pub struct Batcher {
    limits: Limits,
    open: Option<Batch>,
    scratch: Vec<u8>,
}

impl Batcher {
    pub fn new(limits: Limits) -> Batcher {
        Batcher {
            limits,
            open: None,
            scratch: Vec::new(),
        }
    }

    /// Adds an item; returns the batches this closes, oldest first.
    /// `names_new_company` marks the batch that takes the item (SPEC §6,
    /// company first).
    pub fn push(
        &mut self,
        item: &Item,
        origin: Origin,
        original: &[u8],
        names_new_company: bool,
    ) -> Vec<Batch> {
        let route = item.route();
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, item)
            .expect("items hold only JSON values and strings, which always serialize");
        let mut closed = Vec::new();
        let fits = |batch: &Batch| {
            batch.route == route
                && batch.closed_len() + 1 + self.scratch.len() <= self.limits.max_body_bytes
        };
        if self.open.as_ref().is_some_and(|batch| !fits(batch)) {
            closed.extend(self.take());
        }
        // A lone item larger than the byte limit still goes, alone: Planhat's
        // own limit is higher than ours, and it alone decides to refuse it.
        // Each batch has buffers of its own, freed once it is sent: a spare
        // kept for the next one would be a third request's worth of memory,
        // and large blocks go back to the system (`allocator`) rather than
        // fragmenting the heap.
        let batch = self.open.get_or_insert_with(|| Batch::new(route));
        batch.push_raw(&self.scratch, [(origin, original)]);
        batch.names_new_company |= names_new_company;
        if batch.entries.len() >= self.limits.max_items(route) {
            closed.extend(self.take());
        }
        closed
    }

    /// Closes and returns the open batch, if it holds anything.
    pub fn take(&mut self) -> Option<Batch> {
        self.open.take().map(Batch::close)
    }

    /// Whether a batch is open.
    pub fn has_open(&self) -> bool {
        self.open.is_some()
    }

    /// The open batch, if any.
    pub fn open(&self) -> Option<&Batch> {
        self.open.as_ref()
    }
}

/// Writes the dry-run line for a request (SPEC §2): `{"method","url","body"}`,
/// with the tenant token replaced by its placeholder and no Authorization
/// value.
pub fn render_dry_run(
    batch: &Batch,
    endpoints: &Endpoints,
    pretty: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let url = endpoints.url(batch.route, TENANT_TOKEN_PLACEHOLDER);
    let method = Endpoints::method(batch.route);
    if pretty {
        let body: serde_json::Value =
            serde_json::from_slice(&batch.body).expect("a batch body is JSON we wrote");
        let request = serde_json::json!({"method": method, "url": url, "body": body});
        serde_json::to_writer_pretty(&mut *out, &request)?;
    } else {
        // The body is already JSON text: write it as it is, not parsed again.
        let head = serde_json::json!({"method": method, "url": url}).to_string();
        out.write_all(&head.as_bytes()[..head.len() - 1])?;
        out.write_all(b",\"body\":")?;
        out.write_all(&batch.body)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use items::{Activity, Company, Who};

    fn activity(name: &str) -> Item<'static> {
        Item::Activity(Activity {
            who: Who {
                external_id: Some(name.into()),
                ..Who::default()
            },
            action: Some("A".into()),
            date: None,
            info: None,
            source: None,
            weight: None,
        })
    }

    fn company(id: &str) -> Item<'static> {
        Item::Company(Company {
            external_id: id.into(),
            name: None,
            fields: Vec::new(),
            source: None,
            custom: serde_json::Map::new(),
        })
    }

    fn at(line: u64) -> Origin {
        Origin {
            source: 0,
            line,
            message: 0,
        }
    }

    fn limits(batch_size: usize, max_body_bytes: usize) -> Limits {
        Limits {
            batch_size,
            max_body_bytes,
        }
    }

    #[test]
    fn a_full_batch_closes_at_once() {
        let mut batcher = Batcher::new(limits(2, 1 << 20));
        assert!(batcher.push(&activity("a"), at(1), b"{}", false).is_empty());
        let closed = batcher.push(&activity("b"), at(2), b"{}", false);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            String::from_utf8_lossy(&closed[0].body),
            r#"[{"externalId":"a","id":"a","action":"A"},{"externalId":"b","id":"b","action":"A"}]"#
        );
        assert!(!batcher.has_open());
        assert_eq!(batcher.take(), None);
    }

    #[test]
    fn a_route_change_closes_the_open_batch_first() {
        let mut batcher = Batcher::new(limits(10, 1 << 20));
        batcher.push(&activity("a"), at(1), b"{}", false);
        let closed = batcher.push(&company("c"), at(2), b"{}", false);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].route, Route::Activity);
        let last = batcher.take().expect("the company batch is open");
        assert_eq!(last.route, Route::Company);
        assert_eq!(last.carried[0].origin, at(2));
    }

    #[test]
    fn the_byte_limit_is_never_exceeded_by_a_batch_of_several() {
        let one = serde_json::to_vec(&activity("a")).unwrap().len();
        // Room for exactly two items: "[" + a + "," + b + "]".
        let mut batcher = Batcher::new(limits(100, 2 * one + 3));
        let mut closed = Vec::new();
        for line in 1..=5 {
            closed.extend(batcher.push(&activity("a"), at(line), b"{}", false));
        }
        closed.extend(batcher.take());
        let sizes: Vec<usize> = closed.iter().map(|b| b.entries.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(closed.iter().all(|b| b.body.len() <= 2 * one + 3));
    }

    #[test]
    fn halves_keep_items_and_originals_together() {
        let mut batcher = Batcher::new(limits(10, 1 << 20));
        for (line, name) in ["a", "b", "c"].iter().enumerate() {
            batcher.push(&activity(name), at(line as u64), name.as_bytes(), false);
        }
        let batch = batcher.take().unwrap();
        let (first, second) = batch.halves();
        assert_eq!(first.entries.len(), 1);
        assert_eq!(second.entries.len(), 2);
        let carried = second.carried(&second.entries[1]);
        assert_eq!(&*second.original(&carried[0]), b"c");
        assert_eq!(carried[0].origin, at(2));
        let body: serde_json::Value = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(body[1]["id"], "c");
    }

    #[test]
    fn dry_run_lines_hide_the_tenant_token() {
        let endpoints = Endpoints {
            analytics: "https://analytics.planhat.com".into(),
            api: "https://api.planhat.com".into(),
        };
        let mut batcher = Batcher::new(limits(1, 1 << 20));
        let batch = batcher.push(&activity("a"), at(1), b"", false).remove(0);
        let mut out = Vec::new();
        render_dry_run(&batch, &endpoints, false, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"method\":\"POST\",\"url\":\"https://analytics.planhat.com/analytics/bulk/{tenantToken}\",\"body\":[{\"externalId\":\"a\",\"id\":\"a\",\"action\":\"A\"}]}\n"
        );
    }
}
