//! Where the clouds' credentials come from (SPEC §3.1), and what a user is
//! told when there are none.
//!
//! S3 uses the AWS SDK's own default chain (`aws-config`), as the AWS CLI
//! does: environment keys, `AWS_PROFILE` with `~/.aws/credentials` and
//! `~/.aws/config` (static keys, assume-role, SSO sessions from `aws sso
//! login`'s cache, `credential_process`), web identity, container and
//! instance roles; the region is the environment's, else the profile's. The
//! chain is bridged into `object_store` as its credential provider. The
//! instance metadata service gets a second to answer, and the whole chain
//! five, so that a machine without credentials is told so at once, naming
//! what was tried, rather than after minutes of retries.
//!
//! GCS uses `object_store`'s own sources (`GOOGLE_APPLICATION_CREDENTIALS`,
//! application default credentials, the machine's service account); when
//! only the metadata server could give one, it is asked first, briefly, for
//! the same reason.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use async_trait::async_trait;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::ProfileFileRegionProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use object_store::CredentialProvider;
use object_store::aws::{AwsCredential, AwsCredentialProvider};
use tokio::runtime::Runtime;

use super::{env, or_stopped};
use crate::error::{Interrupted, Usage};

/// How long the whole credential chain may take before the run is told
/// there are none (SPEC §3.1: within five seconds).
const CHAIN_TIME: Duration = Duration::from_secs(5);
/// How long the instance metadata service gets to connect and to answer.
const METADATA_TIME: Duration = Duration::from_secs(1);
/// Credentials this close to their expiry are fetched again.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The AWS SDK's default chain as `object_store`'s credential provider,
/// with the credentials it gave kept until shortly before they expire.
#[derive(Debug)]
pub(super) struct AwsChain {
    chain: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

#[async_trait]
impl CredentialProvider for AwsChain {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let fresh = |expiry: &Option<SystemTime>| {
            expiry.is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE)
        };
        if let Some((credential, expiry)) = self.cached.lock().expect("not poisoned").as_ref()
            && fresh(expiry)
        {
            return Ok(Arc::clone(credential));
        }
        let credentials = self.chain.provide_credentials().await.map_err(|error| {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(error),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });
        *self.cached.lock().expect("not poisoned") =
            Some((Arc::clone(&credential), credentials.expiry()));
        Ok(credential)
    }
}

/// The S3 credential provider and region, from the AWS SDK's chain. With
/// `check`, the chain is asked for credentials now (before a listing), and
/// its failure is an error that says what was tried and what to do.
pub(super) fn aws(runtime: &Runtime, check: bool) -> Result<(AwsCredentialProvider, String)> {
    runtime.block_on(async {
        let region = match env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
            Some(region) => Some(region),
            None => ProfileFileRegionProvider::new()
                .region()
                .await
                .map(|region| region.to_string()),
        };
        let metadata = aws_config::imds::Client::builder()
            .connect_timeout(METADATA_TIME)
            .read_timeout(METADATA_TIME)
            .max_attempts(1)
            .build();
        let mut builder = DefaultCredentialsChain::builder().imds_client(metadata);
        if let Some(region) = &region {
            builder = builder.region(Region::new(region.clone()));
        }
        let chain = SharedCredentialsProvider::new(builder.build().await);
        let provider = AwsChain {
            chain,
            cached: Mutex::new(None),
        };
        if check {
            let found = tokio::time::timeout(CHAIN_TIME, provider.get_credential());
            let Some(found) = or_stopped(found).await else {
                return Err(Interrupted.into());
            };
            match found {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => return Err(no_aws_credentials(Some(&error)).await),
                Err(_) => return Err(no_aws_credentials(None).await),
            }
        }
        // object_store's own default, where neither names one.
        let region = region.unwrap_or_else(|| "us-east-1".into());
        Ok((Arc::new(provider) as AwsCredentialProvider, region))
    })
}

/// What the chain tried, in the order it tries it, and how to give it
/// credentials. `error` is the chain's own, when it ended with one (rather
/// than running out of time).
async fn no_aws_credentials(error: Option<&object_store::Error>) -> anyhow::Error {
    let mut tried = Vec::new();
    if env("AWS_ACCESS_KEY_ID").is_none() {
        tried.push("no AWS_ACCESS_KEY_ID".to_owned());
    }
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let files =
        aws_config::profile::load(&Fs::real(), &Env::real(), &Default::default(), None).await;
    match files {
        Ok(set) if set.get_profile(&profile).is_some() => {
            tried.push(format!("the profile '{profile}' gave no credentials"));
        }
        Ok(_) => tried.push(format!(
            "no profile '{profile}' in ~/.aws/credentials or ~/.aws/config"
        )),
        Err(error) => tried.push(format!(
            "~/.aws/config or ~/.aws/credentials unreadable ({error})"
        )),
    }
    if env("AWS_WEB_IDENTITY_TOKEN_FILE").is_none() || env("AWS_ROLE_ARN").is_none() {
        tried.push("no web identity (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN)".into());
    }
    if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_none()
        && env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_none()
    {
        tried.push("no container role".into());
    }
    tried.push(match error {
        None => format!(
            "the instance metadata service did not answer within {} s",
            CHAIN_TIME.as_secs()
        ),
        Some(_) => "no instance role (the instance metadata service gave none)".into(),
    });
    let detail = error.map_or_else(String::new, |error| format!(" ({})", detail(error)));
    Usage(format!(
        "no AWS credentials: {}{detail}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
         AWS_PROFILE=NAME with a profile in ~/.aws/credentials or ~/.aws/config (aws configure; \
         aws sso login --profile NAME for SSO), or run where a role is attached (web identity, \
         ECS, EC2)",
        tried.join(", ")
    ))
    .into()
}

/// The innermost cause of an error, which is what says why.
fn detail(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Whether GCS has a credential source other than the metadata server;
/// when it has not, asks the metadata server (where `GCE_METADATA_HOST`
/// and `GCE_METADATA_IP` say, as the crate does) and fails at once, naming
/// `GOOGLE_APPLICATION_CREDENTIALS`, when it does not answer.
pub(super) fn gcs() -> Result<()> {
    let named = [
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
        "SERVICE_ACCOUNT",
    ];
    if named.iter().any(|name| env(name).is_some()) {
        return Ok(());
    }
    let default_credentials = env("HOME").is_some_and(|home| {
        std::path::Path::new(&home)
            .join(".config/gcloud/application_default_credentials.json")
            .exists()
    });
    if default_credentials {
        return Ok(());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(METADATA_TIME * 2))
        .http_status_as_error(false)
        .build()
        .into();
    let hosts = [
        env("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".into()),
        env("GCE_METADATA_IP").unwrap_or_else(|| "169.254.169.254".into()),
    ];
    let answers = hosts.iter().any(|host| {
        let url =
            format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
        agent
            .get(&url)
            .header("Metadata-Flavor", "Google")
            .call()
            .is_ok()
    });
    if answers {
        return Ok(());
    }
    Err(Usage(
        "no GCS credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there are no application \
         default credentials (~/.config/gcloud/application_default_credentials.json), and the \
         metadata server did not answer (not a Google Cloud machine). Set \
         GOOGLE_APPLICATION_CREDENTIALS to a service account's key file, run `gcloud auth \
         application-default login`, or run where a service account is attached (GKE workload \
         identity, a VM); STORAGE_EMULATOR_HOST points at an emulator"
            .into(),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::future;

    use super::*;

    /// Gives credentials that expire `lasting` from each call, counting
    /// the calls.
    #[derive(Debug)]
    struct Expiring {
        lasting: Duration,
        calls: Arc<AtomicUsize>,
    }

    impl ProvideCredentials for Expiring {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("key-{call}"),
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + self.lasting),
                "test",
            )))
        }
    }

    /// The keys two calls in a row get, and how often the chain was asked.
    fn two_calls(lasting: Duration) -> (String, String, usize) {
        let calls = Arc::new(AtomicUsize::new(0));
        let chain = AwsChain {
            chain: SharedCredentialsProvider::new(Expiring {
                lasting,
                calls: Arc::clone(&calls),
            }),
            cached: Mutex::new(None),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let first = runtime.block_on(chain.get_credential()).unwrap();
        let second = runtime.block_on(chain.get_credential()).unwrap();
        (
            first.key_id.clone(),
            second.key_id.clone(),
            calls.load(Ordering::SeqCst),
        )
    }

    #[test]
    fn credentials_are_kept_until_five_minutes_before_they_expire() {
        let (first, second, calls) = two_calls(Duration::from_secs(3600));
        assert_eq!(
            (first.as_str(), second.as_str(), calls),
            ("key-0", "key-0", 1)
        );
        let (first, second, calls) = two_calls(Duration::from_secs(4 * 60));
        assert_eq!(
            (first.as_str(), second.as_str(), calls),
            ("key-0", "key-1", 2)
        );
    }
}
