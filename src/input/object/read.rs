//! Reading one object (SPEC §3.1): a blocking byte stream over the store's
//! async client, a broken read resumed by a ranged GET from the byte where
//! it stopped (pinned to the object's ETag), only transport errors and
//! 5xx/429 retried, and a refused read (401/403) told apart so that the run
//! stops instead of calling the rest unreadable.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::runtime::Runtime;

use super::{Object, Scheme, runtime, store};
use crate::input::{Event, Refused};

/// The clients of the reader thread: its runtime and one store per bucket.
pub(in crate::input) struct Clients {
    runtime: Runtime,
    stores: HashMap<(Scheme, String), Arc<dyn ObjectStore>>,
}

impl Clients {
    pub(in crate::input) fn new() -> io::Result<Clients> {
        Ok(Clients {
            runtime: runtime()?,
            stores: HashMap::new(),
        })
    }

    /// A blocking reader of `object`; retries are told through `notices`.
    pub(in crate::input) fn open<'a>(
        &'a mut self,
        object: &'a Object,
        notices: &'a SyncSender<Event>,
    ) -> io::Result<ObjectReader<'a>> {
        let key = (object.scheme, object.bucket.clone());
        let store = match self.stores.get(&key) {
            Some(store) => Arc::clone(store),
            None => {
                // The crate's own retries are off here: every retry of a
                // read is this module's, so that each one is printed.
                let store = store(object.scheme, &object.bucket, 0, &self.runtime, false)
                    .map_err(|error| io::Error::other(format!("{error:#}")))?;
                self.stores.insert(key, Arc::clone(&store));
                store
            }
        };
        let path = Path::parse(&object.key).map_err(io::Error::other)?;
        Ok(ObjectReader {
            runtime: &self.runtime,
            store,
            path,
            object,
            offset: 0,
            stream: None,
            pending: Bytes::new(),
            retries: 0,
            notices,
        })
    }
}

/// One object as a blocking `Read`: bytes as they arrive, a broken read
/// resumed from the byte where it stopped.
pub(in crate::input) struct ObjectReader<'a> {
    runtime: &'a Runtime,
    store: Arc<dyn ObjectStore>,
    path: Path,
    object: &'a Object,
    /// Bytes received so far.
    offset: u64,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    pending: Bytes,
    /// Retries since bytes last arrived.
    retries: u32,
    notices: &'a SyncSender<Event>,
}

impl ObjectReader<'_> {
    /// The next bytes of the object, or None at its end.
    async fn next(&mut self) -> object_store::Result<Option<Bytes>> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let options = GetOptions {
                    range: (self.offset > 0).then_some(GetRange::Offset(self.offset)),
                    // Another version of the object would not continue
                    // this one.
                    if_match: self.object.etag.clone(),
                    ..GetOptions::default()
                };
                let result = self.store.get_opts(&self.path, options).await?;
                self.stream.insert(result.into_stream())
            }
        };
        stream.next().await.transpose()
    }
}

impl Read for ObjectReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            if self.offset >= self.object.size {
                return Ok(0);
            }
            let why = match self.runtime.block_on(self.next()) {
                Ok(Some(bytes)) => {
                    self.offset += bytes.len() as u64;
                    self.pending = bytes;
                    self.retries = 0;
                    continue;
                }
                Ok(None) => format!(
                    "the answer ended after {} of {} bytes",
                    self.offset, self.object.size
                ),
                Err(error @ object_store::Error::Precondition { .. }) => {
                    return Err(io::Error::other(format!(
                        "{} changed while it was read ({error})",
                        self.object
                    )));
                }
                Err(error @ object_store::Error::NotFound { .. }) => {
                    return Err(io::Error::other(format!(
                        "{} is gone ({error})",
                        self.object
                    )));
                }
                Err(error) => match status(&error) {
                    Some(401 | 403) => {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            Refused(refused(self.object, &error)),
                        ));
                    }
                    // A refusal of this request, not a broken download: the
                    // same request would be refused again.
                    Some(status) if status < 500 && !matches!(status, 408 | 429) => {
                        return Err(io::Error::other(format!(
                            "reading {} was refused: {error}",
                            self.object
                        )));
                    }
                    _ => error.to_string(),
                },
            };
            self.stream = None;
            let max = self.object.max_retries;
            if self.retries >= max {
                return Err(io::Error::other(format!(
                    "reading {} broke at byte {}: {why} ({} retried)",
                    self.object,
                    self.offset,
                    crate::report::counted(u64::from(max), "time")
                )));
            }
            let delay = crate::backoff::backoff(self.retries, jitter(), None);
            self.retries += 1;
            let notice = format!(
                "retrying GET {} from byte {} in {}: {why} (attempt {} of {max})",
                self.object,
                self.offset,
                crate::report::duration_text(delay),
                self.retries
            );
            // The run may be gone; then nobody needs the notice.
            self.notices.send(Event::Retry(notice)).ok();
            std::thread::sleep(delay);
        }
        let len = buf.len().min(self.pending.len());
        buf[..len].copy_from_slice(&self.pending.split_to(len));
        Ok(len)
    }
}

/// The HTTP status of a failed request, when the store answered one. The
/// crate names 401 and 403 and passes the rest on as generic errors whose
/// text carries the status.
fn status(error: &object_store::Error) -> Option<u16> {
    match error {
        object_store::Error::Unauthenticated { .. } => Some(401),
        object_store::Error::PermissionDenied { .. } => Some(403),
        _ => {
            let text = error.to_string();
            let at = text.find("status code: ")? + "status code: ".len();
            text.get(at..at + 3)?.parse().ok()
        }
    }
}

/// What a refused read means, and what to grant (SPEC §3.1).
fn refused(object: &Object, error: &object_store::Error) -> String {
    let permission = match object.scheme {
        Scheme::S3 => "s3:GetObject",
        Scheme::Gcs => "storage.objects.get",
    };
    format!(
        "reading {object} was refused ({}): the credentials may list the bucket but not read \
         its objects; grant them {permission} on it (an expired token is refused the same way)",
        error_code(error)
    )
}

/// The short form of a store's error: its status and code, not its whole
/// request.
fn error_code(error: &object_store::Error) -> String {
    let text = error.to_string();
    let code = [
        "AccessDenied",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "SignatureDoesNotMatch",
    ]
    .into_iter()
    .find(|code| text.contains(code));
    match (status(error), code) {
        (Some(status), Some(code)) => format!("HTTP {status} {code}"),
        (Some(status), None) => format!("HTTP {status}"),
        (None, _) => text,
    }
}

/// A draw in [0, 1) for full jitter: it only needs to spread retries.
fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos) / 1e9
}
