//! Object stores (SPEC §3.1): `s3://BUCKET/PREFIX` and `gs://BUCKET/PREFIX`
//! listed as a folder is walked, and each object read as a blocking byte
//! stream through the `object_store` crate. The crate is async; its runtime
//! (one small current-thread runtime per thread that lists or reads) stays
//! in this module, so the rest of the tool stays synchronous. An object is
//! never written to disk nor held whole: its bytes go straight to the line
//! reader, and a read that breaks midway goes on with a ranged GET from the
//! byte where it stopped, pinned to the object's ETag ([`read`]).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::stream::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig,
};
use tokio::runtime::Runtime;

mod credentials;
mod read;

pub(super) use read::Clients;

use super::Source;
use crate::error::{Interrupted, Usage};

/// Resumes of a broken read, and the listing's retries, unless
/// `--max-retries` says otherwise (§6's default).
const DEFAULT_RETRIES: u32 = 8;

/// Which cloud a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    S3,
    Gcs,
}

impl Scheme {
    fn prefix(self) -> &'static str {
        match self {
            Scheme::S3 => "s3://",
            Scheme::Gcs => "gs://",
        }
    }
}

/// One object found under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub scheme: Scheme,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// What the store says identifies this version of the object; a read
    /// that resumes midway asks for this version only.
    pub etag: Option<String>,
    /// How many times in a row a broken read is resumed (`--max-retries`).
    pub max_retries: u32,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}/{}", self.scheme.prefix(), self.bucket, self.key)
    }
}

/// The scheme, bucket and prefix of an object-store PATH, or None when the
/// PATH is not one.
pub(super) fn parse(arg: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = if let Some(rest) = arg.strip_prefix("s3://") {
        (Scheme::S3, rest)
    } else {
        (Scheme::Gcs, arg.strip_prefix("gs://")?)
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Some((scheme, bucket, prefix))
}

/// Lists the objects under `prefix` in key order, as a folder is read:
/// hidden components below the prefix and zero-byte objects (folder
/// markers, which `object_store` lists without their trailing `/`; an
/// empty object has no lines anyway) are skipped. A prefix that names one
/// object is that object. Fails, naming the URL and what to check, for a
/// missing bucket, refused credentials or nothing to read.
pub(super) fn list(arg: &str) -> Result<Vec<Source>> {
    let Some((scheme, bucket, prefix)) = parse(arg) else {
        bail!("{arg} is not an object-store URL");
    };
    if bucket.is_empty() {
        bail!(Usage(format!(
            "{arg} names no bucket; expected {}BUCKET/PREFIX",
            scheme.prefix()
        )));
    }
    let runtime = runtime()?;
    let store = store(scheme, bucket, DEFAULT_RETRIES, &runtime, true).map_err(|error| {
        match error.downcast::<object_store::Error>() {
            Ok(error) => cannot_use(arg, scheme, &error),
            // No credentials: the message says what was tried.
            Err(error) => error.context(format!("{arg}: cannot list it")),
        }
    })?;
    let folder = Path::parse(prefix).map_err(|error| {
        Usage(format!(
            "{arg}: the prefix cannot be read as a key path ({error})"
        ))
    })?;
    let listing = store
        .list((!prefix.trim_matches('/').is_empty()).then_some(&folder))
        .try_collect();
    let listed: Vec<ObjectMeta> =
        unless_stopped(&runtime, listing, arg)?.map_err(|e| cannot_use(arg, scheme, &e))?;
    let depth = folder.parts().count();
    let mut found: Vec<ObjectMeta> = listed
        .into_iter()
        .filter(|meta| meta.size > 0)
        .filter(|meta| {
            !meta
                .location
                .parts()
                .skip(depth)
                .any(|part| part.as_ref().starts_with('.'))
        })
        .collect();
    if found.is_empty() && depth > 0 {
        // Not a folder: perhaps the key of one object.
        match unless_stopped(&runtime, store.head(&folder), arg)? {
            Ok(meta) if meta.size > 0 => found.push(meta),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(cannot_use(arg, scheme, &error)),
        }
    }
    if found.is_empty() {
        bail!(Usage(format!(
            "{arg}: no objects to read under this prefix (hidden keys and empty objects are \
             skipped); check the bucket and the prefix, which are case-sensitive"
        )));
    }
    // Key order by bytes, whatever order the store lists in.
    found.sort_by(|a, b| a.location.as_ref().cmp(b.location.as_ref()));
    // S3 and GCS list every object's ETag, but some S3-compatible servers
    // list none; without it the checkpoint could not tell an overwritten
    // object of the same size, so those are asked one by one.
    if found.iter().any(|meta| meta.e_tag.is_none()) {
        let heads = futures_util::stream::iter(found)
            .map(|meta| {
                let store = Arc::clone(&store);
                async move {
                    match meta.e_tag {
                        Some(_) => Ok(meta),
                        None => store.head(&meta.location).await,
                    }
                }
            })
            .buffered(16)
            .try_collect();
        found = unless_stopped(&runtime, heads, arg)?.map_err(|e| cannot_use(arg, scheme, &e))?;
    }
    Ok(found
        .into_iter()
        .map(|meta| {
            Source::Object(Object {
                scheme,
                bucket: bucket.to_owned(),
                key: meta.location.to_string(),
                size: meta.size,
                etag: meta.e_tag,
                max_retries: DEFAULT_RETRIES,
            })
        })
        .collect())
}

/// Runs `work` to its end, unless a stopping signal (Ctrl-C, SIGTERM,
/// SIGHUP) comes first: then at once, whatever `work` waits for (SPEC
/// §3.1), with [`Interrupted`] as the error.
fn unless_stopped<T>(
    runtime: &Runtime,
    work: impl std::future::Future<Output = T>,
    arg: &str,
) -> Result<T> {
    runtime
        .block_on(or_stopped(work))
        .ok_or_else(|| anyhow::Error::new(Interrupted).context(format!("listing {arg}")))
}

/// What `work` gives, or none once a stopping signal has come first.
async fn or_stopped<T>(work: impl std::future::Future<Output = T>) -> Option<T> {
    let stopped = async {
        while !crate::signals::stopping() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (work, stopped) = (std::pin::pin!(work), std::pin::pin!(stopped));
    match futures_util::future::select(work, stopped).await {
        futures_util::future::Either::Left((done, _)) => Some(done),
        futures_util::future::Either::Right(_) => None,
    }
}

/// Says what went wrong with `arg` and what to check. The crate's own text
/// is kept for the rest: it names requests and keys, never a secret.
fn cannot_use(arg: &str, scheme: Scheme, error: &object_store::Error) -> anyhow::Error {
    let credentials = match scheme {
        Scheme::S3 => {
            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the role of \
             AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE"
        }
        Scheme::Gcs => "GOOGLE_APPLICATION_CREDENTIALS or the machine's service account",
    };
    let text = error.to_string();
    let what = match error {
        object_store::Error::NotFound { .. } => {
            format!("the bucket was not found; check its name and the region or endpoint ({text})")
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => format!(
            "the credentials were refused; check {credentials} and that they may list and read \
             this bucket ({text})"
        ),
        // The crate passes most S3 errors on as generic ones, with the
        // status and the server's error code in the text.
        _ if [
            "403 Forbidden",
            "401 Unauthorized",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
        ]
        .iter()
        .any(|code| text.contains(code)) =>
        {
            format!(
                "the credentials were refused; check {credentials} and that they may list and \
                 read this bucket ({text})"
            )
        }
        _ if text.contains("NoSuchBucket") => {
            format!("the bucket was not found; check its name and the region or endpoint ({text})")
        }
        _ => format!("cannot list it: {text}"),
    };
    Usage(format!("{arg}: {what}")).into()
}

/// A client for one bucket, from the environment as the cloud's own tools
/// read it. The crate already reads `AWS_ENDPOINT_URL`, `AWS_ENDPOINT`,
/// `AWS_REGION` and `AWS_DEFAULT_REGION`, but which of two endpoint
/// variables wins depends on the order the environment lists them in; here
/// the AWS CLI's rule holds (`AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`,
/// then the crate's `AWS_ENDPOINT`; `AWS_REGION` over `AWS_DEFAULT_REGION`),
/// and an empty variable counts as unset. `retries` is the crate's own
/// retrying of a request that gets no answer or a 5xx; a body that breaks
/// midway is resumed by [`ObjectReader`], which says so.
fn store(
    scheme: Scheme,
    bucket: &str,
    retries: u32,
    runtime: &Runtime,
    check: bool,
) -> Result<Arc<dyn ObjectStore>> {
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            base: 2.0,
        },
        max_retries: retries as usize,
        retry_timeout: Duration::from_secs(180),
    };
    Ok(match scheme {
        Scheme::S3 => {
            let (credentials, region) = credentials::aws(runtime, check)?;
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_credentials(credentials)
                .with_region(region);
            if let Some(endpoint) = endpoint()? {
                let plain = endpoint.to_ascii_lowercase().starts_with("http://");
                builder = builder.with_endpoint(endpoint).with_allow_http(plain);
            }
            Arc::new(builder.build()?)
        }
        Scheme::Gcs => {
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry);
            match emulator()? {
                Some(url) => {
                    // As Google's client libraries do: the emulator's
                    // address, and no token.
                    let plain = url.to_ascii_lowercase().starts_with("http://");
                    builder = builder
                        .with_base_url(&url)
                        .with_skip_signature(true)
                        .with_client_options(ClientOptions::new().with_allow_http(plain));
                }
                None if check => credentials::gcs()?,
                None => {}
            }
            Arc::new(builder.build()?)
        }
    })
}

/// The GCS emulator `STORAGE_EMULATOR_HOST` names (`host:port`, or a URL),
/// if any, as a base URL; plain http only to this machine (SPEC §3.1).
fn emulator() -> object_store::Result<Option<String>> {
    let Some(host) = env("STORAGE_EMULATOR_HOST") else {
        return Ok(None);
    };
    let url = if host.contains("://") {
        host
    } else {
        format!("http://{host}")
    };
    crate::base_url::check("STORAGE_EMULATOR_HOST", &url)
        .map(Some)
        .map_err(|error| object_store::Error::Generic {
            store: "GCS",
            source: error.to_string().into(),
        })
}

/// The S3 endpoint the environment names, if any; plain http only to this
/// machine (SPEC §3.1, as for `--api-url`).
fn endpoint() -> object_store::Result<Option<String>> {
    let Some((name, url)) = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .into_iter()
        .find_map(|name| env(name).map(|url| (name, url)))
    else {
        return Ok(None);
    };
    if let Err(error) = crate::base_url::check(name, &url) {
        return Err(object_store::Error::Generic {
            store: "S3",
            source: error.to_string().into(),
        });
    }
    Ok(Some(url))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_scheme_bucket_and_prefix() {
        assert_eq!(
            parse("s3://b/segment-logs/"),
            Some((Scheme::S3, "b", "segment-logs/"))
        );
        assert_eq!(parse("gs://b"), Some((Scheme::Gcs, "b", "")));
        assert_eq!(parse("logs/s3://x"), None);
        assert_eq!(parse("-"), None);
    }
}
