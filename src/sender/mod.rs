//! Delivery (SPEC §6): activity and metric items are collected into
//! batches, one open batch per route, and profile upserts coalesced; each
//! request is handed to a transport — the HTTP sender, or the dry-run
//! printer, which writes the same request to stdout instead, on a worker
//! thread or in place. [`delivery`] holds the batching, the company-first
//! order, what a checkpoint may count as settled, and the failed file for
//! items Planhat refuses and messages the mapping rejects.

mod delivery;
pub mod http;
pub mod pairs;
pub mod policy;

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Context, Result};

use crate::planhat::{Batch, Endpoints, render_dry_run};
use crate::report::Counters;
pub use delivery::{Delivery, DeliverySetup};

/// An item Planhat did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// The item's index in its batch.
    pub index: usize,
    /// `http_400`, `item_error`, `retries_exhausted`, ...
    pub reason: String,
    pub status: Option<u16>,
    pub message: String,
}

/// Something that carries batches to Planhat, or shows them.
pub trait Transport {
    /// Delivers a closed batch, returning the items that failed. An error
    /// stops the run (a refused token, an unusable URL, Ctrl-C); nothing in
    /// the batch then counts as delivered.
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>>;
}

/// The dry-run transport: prints each request as one JSON line.
pub struct DryRun<'w> {
    out: &'w mut dyn Write,
    endpoints: Endpoints,
    pretty: bool,
    counters: Arc<Counters>,
}

impl<'w> DryRun<'w> {
    pub fn new(
        out: &'w mut dyn Write,
        endpoints: Endpoints,
        pretty: bool,
        counters: Arc<Counters>,
    ) -> DryRun<'w> {
        DryRun {
            out,
            endpoints,
            pretty,
            counters,
        }
    }
}

impl Transport for DryRun<'_> {
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>> {
        render_dry_run(batch, &self.endpoints, self.pretty, self.out)
            .context("writing to stdout")?;
        self.counters.request(batch.body.len() as u64);
        Ok(Vec::new())
    }
}

/// What a transport said about one batch.
pub(crate) type Settlement = Result<Vec<ItemFailure>>;

/// Carries batches to a transport: on this thread (the dry-run printer,
/// which writes to this thread's stdout), or on a thread of its own (HTTP),
/// so that reading and mapping the next batch overlap the request in
/// flight. Either way at most one request is in flight, and results are
/// settled in the order the batches were sent.
pub enum Carrier<'a> {
    Here(Box<dyn Transport + 'a>),
    Worker(Worker),
}

/// A transport on a thread of its own, with the batch it is sending.
pub struct Worker {
    requests: SyncSender<Arc<Batch>>,
    results: Receiver<Settlement>,
    in_flight: Option<Arc<Batch>>,
}

impl Worker {
    /// Starts a thread that delivers the batches it is given, in order.
    pub fn spawn(mut transport: Box<dyn Transport + Send>) -> Worker {
        let (requests, incoming) = sync_channel::<Arc<Batch>>(1);
        let (outgoing, results) = sync_channel(1);
        std::thread::Builder::new()
            .name("sender".into())
            .spawn(move || {
                for batch in incoming {
                    let result = transport.deliver(&batch);
                    // Let go first, so the batch's buffers are freed.
                    drop(batch);
                    if outgoing.send(result).is_err() {
                        return;
                    }
                }
            })
            .expect("the system can start a thread");
        Worker {
            requests,
            results,
            in_flight: None,
        }
    }
}
