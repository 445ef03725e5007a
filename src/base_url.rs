//! What a base URL may be (SPEC §4, §3.1): https to any host, plain http
//! only to this machine, since tokens and credentials would otherwise cross
//! the network in clear text. `--api-url`, `--analytics-url` and the S3
//! endpoint of the environment are all checked here.

use std::net::IpAddr;

use anyhow::{Result, bail};

use crate::error::Usage;

/// Checks a base URL override: https anywhere, plain http only to this
/// machine (tokens would otherwise cross the network in clear text).
pub fn check(flag: &str, url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| {
        Usage(format!(
            "{flag} {url:?} is not a URL; expected https://host[:port]"
        ))
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = host_of(authority);
    if host.is_empty() || authority.contains('@') {
        bail!(Usage(format!(
            "{flag} {url:?} has no host (or holds credentials)"
        )));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => bail!(Usage(format!(
            "{flag} {url:?} uses plain http to a host that is not this machine; use https \
             (tokens must not cross the network in clear text)"
        ))),
        _ => bail!(Usage(format!(
            "{flag} {url:?} must start with https:// (or http:// for localhost)"
        ))),
    }
    Ok(trimmed.to_owned())
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_only_for_loopback() {
        assert_eq!(
            check("--api-url", "http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(check("--api-url", "http://localhost:1").is_ok());
        assert!(check("--api-url", "http://[::1]:9/").is_ok());
        assert!(check("--api-url", "https://proxy.example.com/planhat").is_ok());
        let error = check("--api-url", "http://proxy.example.com").unwrap_err();
        assert!(error.to_string().contains("plain http"), "{error}");
        assert!(check("--api-url", "http://127.0.0.1.example.com").is_err());
        assert!(check("--api-url", "ftp://127.0.0.1").is_err());
        assert!(check("--api-url", "example.com").is_err());
        assert!(check("--api-url", "https://user:pw@example.com").is_err());
    }
}
