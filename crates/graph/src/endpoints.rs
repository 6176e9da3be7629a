//! Where a tenant's Graph and login are: a national cloud, or explicit roots (plain http only
//! on loopback).

use crate::*;

/// Where the identity platform and Graph live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    login_root: Url,
    graph_root: Url,
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl Endpoints {
    /// The endpoints of a national cloud.
    pub fn cloud(cloud: Cloud) -> Self {
        let parse = |s: &str| Url::parse(s).expect("the cloud roots are valid URLs");
        Self {
            login_root: parse(cloud.login_root()),
            graph_root: parse(cloud.graph_root()),
        }
    }

    /// Explicit roots, e.g. `http://127.0.0.1:8080` for the emulator. Plain `http` is allowed
    /// only for loopback addresses: a token never crosses a network in clear.
    ///
    /// # Errors
    /// [`Error::Config`] for an unparsable URL or plain `http` to a non-loopback host.
    pub fn custom(graph_root: &str, login_root: &str) -> Result<Self> {
        let parse = |what: &str, s: &str| -> Result<Url> {
            let url = Url::parse(s.trim_end_matches('/'))
                .map_err(|e| Error::Config(format!("{what} {s:?} is not a URL: {e}")))?;
            match url.scheme() {
                "https" => Ok(url),
                "http" if is_loopback(&url) => Ok(url),
                "http" => Err(Error::Config(format!(
                    "{what} {s:?} uses plain http: allowed only for loopback addresses; use https"
                ))),
                other => Err(Error::Config(format!(
                    "{what} {s:?} has scheme {other:?}: use https"
                ))),
            }
        };
        Ok(Self {
            graph_root: parse("Graph root", graph_root)?,
            login_root: parse("login root", login_root)?,
        })
    }

    pub(crate) fn graph_base(&self) -> String {
        format!("{}/v1.0", self.graph_root.as_str().trim_end_matches('/'))
    }

    pub(crate) fn token_url(&self, tenant: &TenantId) -> String {
        format!(
            "{}/{tenant}/oauth2/v2.0/token",
            self.login_root.as_str().trim_end_matches('/')
        )
    }

    pub(crate) fn scope(&self, cloud_graph_root: Option<&str>) -> String {
        // The scope names Graph's resource: the cloud's Graph host even when the requests go
        // to an explicit root.
        format!(
            "{}/.default",
            cloud_graph_root
                .unwrap_or(self.graph_root.as_str())
                .trim_end_matches('/')
        )
    }
}
