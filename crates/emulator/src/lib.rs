//! A Microsoft Graph v1.0 and identity-platform emulator, for testing Entra ID tooling without
//! a real tenant.
//!
//! It serves many tenants at once from memory, and behaves as Microsoft documents Graph (see
//! `docs/graph.md` and the doc pages cited in the code): client-credentials tokens (secret or
//! certificate assertion) with expiry and application permissions; reads with paging,
//! `$select`, `$filter`, `$expand`, `$count`; delta queries; `$batch`; throttling with the
//! documented budgets and costs; writes with Graph's validation and errors; the recycle bin;
//! fault injection; and a control API (`/_emulator/…`) to create tenants, register apps, mutate
//! objects as an admin would and advance the emulated clock.
//!
//! # Example
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use dirvault_emulator::{Collection, Emulator, EmulatorConfig, TenantSpec};
//!
//! let emulator = Emulator::new(EmulatorConfig::default());
//! let tenant = emulator.create_tenant(&TenantSpec::preset("contoso", "tiny", 1)?)?;
//! let server = emulator.start("127.0.0.1:0").await?;
//!
//! // Any HTTP client can now get a token and call Graph:
//! println!("token URL: {}/{}/oauth2/v2.0/token", server.url(), tenant.tenant_id);
//! println!("Graph root: {}/v1.0", server.url());
//! assert_eq!(emulator.with_tenant(&tenant.tenant_id, |t| t.count(Collection::Users))?, 10);
//! # Ok::<(), dirvault_emulator::Error>(())
//! # }).unwrap();
//! ```

#![recursion_limit = "512"]

mod auth;
pub mod clock;
pub mod control;
mod error;
pub mod faults;
pub mod generator;
pub mod kinds;
pub mod metadata;
mod odata;
mod routes;
mod rules;
pub mod tenant;
pub mod throttle;
mod tls;
mod token_signing;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

pub use auth::{AppRegistration, Caller, IssuedToken, grants};
pub use clock::Clock;
pub use error::{Error, GraphError, GraphResult};
pub use faults::{FaultAction, FaultConfig, ThrottleStorm};
pub use generator::{TenantSpec, all_permissions};
pub use kinds::{Collection, LinkKind};
pub use rules::documented_writable;
pub use tenant::{BRANDING_STREAMS, DeletedItem, Obj, ObjectMap, PackedSet, Stats, Tenant};
pub use throttle::ThrottleConfig;
pub use tls::TlsIdentity;

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Access-token lifetime in seconds (Graph: 3599 by default; docs/graph.md §8).
    pub token_lifetime_secs: u64,
    /// Throttling: the documented limits, scaled; `scale: 0` switches it off.
    pub throttle: ThrottleConfig,
    /// Objects per delta page when the client sends no `Prefer: odata.maxpagesize`.
    pub delta_page_size: usize,
    /// `members@delta` entries per page: a larger group is split across pages, as Graph does.
    pub delta_members_per_page: usize,
    /// Whether delta honours `Prefer: return=minimal` (Graph does); off, every updated
    /// object comes whole, as from a service that ignores the header.
    pub honour_return_minimal: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            token_lifetime_secs: 3599,
            throttle: ThrottleConfig::default(),
            delta_page_size: 100,
            delta_members_per_page: 500,
            honour_return_minimal: true,
        }
    }
}

/// What [`Emulator::create_tenant`] returns: how to connect to the new tenant.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    /// The tenant id.
    pub tenant_id: String,
    /// Its short name.
    pub name: String,
    /// Its default domain.
    pub default_domain: String,
    /// A client app with every permission dirvault uses.
    pub client_id: String,
    /// That app's secret (shown once).
    pub client_secret: String,
    /// Object counts by kind.
    pub counts: BTreeMap<String, usize>,
}

impl std::fmt::Debug for TenantInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantInfo")
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

pub(crate) struct Inner {
    config: RwLock<EmulatorConfig>,
    clock: Clock,
    tenants: RwLock<BTreeMap<String, Arc<RwLock<Tenant>>>>,
    aliases: RwLock<HashMap<String, String>>,
    tokens: Mutex<auth::Tokens>,
    throttler: Mutex<throttle::Throttler>,
    router: OnceLock<Router>,
    metadata: RwLock<Arc<metadata::Metadata>>,
}

/// The emulator: shared state behind a cheap-to-clone handle.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Emulator {
    /// An emulator with no tenants.
    pub fn new(config: EmulatorConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                clock: Clock::default(),
                tenants: RwLock::new(BTreeMap::new()),
                aliases: RwLock::new(HashMap::new()),
                tokens: Mutex::new(auth::Tokens::default()),
                throttler: Mutex::new(throttle::Throttler::default()),
                router: OnceLock::new(),
                metadata: RwLock::new(metadata::Metadata::microsoft_v1()),
            }),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> EmulatorConfig {
        self.inner.config.read().clone()
    }

    /// Changes the throttling scale (0 = off) for every tenant.
    pub fn set_throttle(&self, throttle: ThrottleConfig) {
        self.inner.config.write().throttle = throttle;
        self.inner.throttler.lock().reset();
    }

    /// The emulated clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// A tenant by id, domain or name (case-insensitive).
    pub fn tenant(&self, key: &str) -> Option<Arc<RwLock<Tenant>>> {
        let key = key.to_lowercase();
        let id = self.inner.aliases.read().get(&key).cloned().unwrap_or(key);
        self.inner.tenants.read().get(&id).cloned()
    }

    /// Every tenant id.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.inner.tenants.read().keys().cloned().collect()
    }

    /// Runs `f` on a tenant, under its write lock.
    ///
    /// # Errors
    /// [`Error::UnknownTenant`].
    pub fn with_tenant<R>(
        &self,
        tenant: &str,
        f: impl FnOnce(&mut Tenant) -> R,
    ) -> Result<R, Error> {
        let shared = self.tenant(tenant).ok_or_else(|| Error::UnknownTenant {
            tenant: tenant.to_owned(),
        })?;
        let mut guard = shared.write();
        Ok(f(&mut guard))
    }

    /// Generates a tenant from `spec` and registers a client app with every permission
    /// dirvault uses ([`all_permissions`]).
    ///
    /// # Errors
    /// [`Error::Mutation`] when a tenant of that name exists.
    pub fn create_tenant(&self, spec: &TenantSpec) -> Result<TenantInfo, Error> {
        if self.tenant(&spec.name).is_some() {
            return Err(Error::Mutation(format!(
                "a tenant named {:?} exists already",
                spec.name
            )));
        }
        let now = self.clock().now();
        let mut tenant = generator::generate(spec, now);
        tenant.metadata = self.metadata();
        let (client_id, client_secret) = generator::register_app(
            &mut tenant,
            "dirvault backup",
            &all_permissions(),
            now,
            true,
        );
        let client_secret = client_secret.unwrap_or_default();
        let counts = ObjectKindCounts::of(&tenant);
        let info = TenantInfo {
            tenant_id: tenant.id.clone(),
            name: tenant.name.clone(),
            default_domain: tenant.default_domain().to_owned(),
            client_id,
            client_secret,
            counts: counts.0,
        };
        let id = tenant.id.clone();
        {
            let mut aliases = self.inner.aliases.write();
            aliases.insert(tenant.name.to_lowercase(), id.clone());
            for d in &tenant.domains {
                aliases.insert(d.to_lowercase(), id.clone());
            }
        }
        self.inner
            .tenants
            .write()
            .insert(id, Arc::new(RwLock::new(tenant)));
        Ok(info)
    }

    /// Removes a tenant; its tokens stop working.
    ///
    /// # Errors
    /// [`Error::UnknownTenant`].
    pub fn remove_tenant(&self, tenant: &str) -> Result<(), Error> {
        let shared = self.tenant(tenant).ok_or_else(|| Error::UnknownTenant {
            tenant: tenant.to_owned(),
        })?;
        let id = shared.read().id.clone();
        self.inner.tenants.write().remove(&id);
        self.inner.aliases.write().retain(|_, v| *v != id);
        Ok(())
    }

    /// Registers a client app in a tenant with `permissions`; with `with_secret`, returns its
    /// new secret; `certificate_pem` registers a certificate for client assertions.
    ///
    /// # Errors
    /// [`Error::UnknownTenant`], [`Error::InvalidCertificate`].
    pub fn register_app(
        &self,
        tenant: &str,
        display_name: &str,
        permissions: &[String],
        with_secret: bool,
        certificate_pem: Option<&str>,
    ) -> Result<(String, Option<String>), Error> {
        let now = self.clock().now();
        self.with_tenant(tenant, |t| {
            let (client_id, secret) =
                generator::register_app(t, display_name, permissions, now, with_secret);
            if let Some(pem) = certificate_pem {
                let app = t
                    .apps
                    .get_mut(&client_id)
                    .ok_or_else(|| Error::Mutation("app vanished".into()))?;
                app.set_certificate_pem(pem)?;
            }
            Ok((client_id, secret))
        })?
    }

    /// The service's type facts: Microsoft's v1.0 metadata and what [`Emulator::add_property`]
    /// declared since; served at `/v1.0/$metadata`.
    pub fn metadata(&self) -> Arc<metadata::Metadata> {
        self.inner.metadata.read().clone()
    }

    /// Declares a new property on an entity type, as Microsoft does when Graph grows: from
    /// now on `$metadata` lists it, `$select` accepts it, and every object of the type
    /// returns it (null until a value is set, e.g. through a control-API mutation).
    ///
    /// # Errors
    /// [`Error::Mutation`] for an unknown type, a taken or invalid name.
    pub fn add_property(
        &self,
        property_of: &str,
        property: metadata::Property,
    ) -> Result<(), Error> {
        let updated = {
            let mut current = self.inner.metadata.write();
            let mut next = (**current).clone();
            next.add_property(property_of, property)
                .map_err(Error::Mutation)?;
            *current = Arc::new(next);
            current.clone()
        };
        for tenant in self.inner.tenants.read().values() {
            tenant.write().metadata = updated.clone();
        }
        Ok(())
    }

    /// The HTTP router (Graph, token endpoint and control API).
    pub fn router(&self) -> Router {
        self.inner
            .router
            .get_or_init(|| routes::router(self.clone()))
            .clone()
    }

    /// Binds `addr` and serves in the background until the returned handle is dropped.
    ///
    /// # Errors
    /// [`Error::Serve`] when the address cannot be bound.
    pub async fn start(&self, addr: &str) -> Result<RunningEmulator, Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Serve {
                addr: addr.to_owned(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Serve {
            addr: addr.to_owned(),
            source,
        })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningEmulator {
            addr: local,
            scheme: "http",
            shutdown: Some(tx),
            task,
        })
    }

    /// Like [`Emulator::start`], over HTTPS with `identity`'s certificate: what Microsoft's
    /// auth libraries need (they refuse an `http` authority). Links the emulator writes then
    /// start with `https://`.
    ///
    /// # Errors
    /// [`Error::Serve`] when the address cannot be bound.
    pub async fn start_tls(
        &self,
        addr: &str,
        identity: &TlsIdentity,
    ) -> Result<RunningEmulator, Error> {
        use tower::ServiceExt;
        let serve_error = |source| Error::Serve {
            addr: addr.to_owned(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(serve_error)?;
        let local = listener.local_addr().map_err(serve_error)?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let acceptor = identity.acceptor();
        let router = self.router();
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    // A client that fails the handshake (an untrusted CA) is simply dropped.
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |mut req: hyper::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(tls::Https);
                            router.clone().oneshot(req.map(axum::body::Body::new))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RunningEmulator {
            addr: local,
            scheme: "https",
            shutdown: Some(tx),
            task,
        })
    }

    pub(crate) fn store_token(&self, token: String, issued: IssuedToken) {
        let now = self.clock().now();
        self.inner.tokens.lock().insert(token, issued, now);
    }

    pub(crate) fn lookup_token(&self, token: &str) -> Option<IssuedToken> {
        self.inner.tokens.lock().get(token).cloned()
    }

    pub(crate) fn throttler(&self) -> &Mutex<throttle::Throttler> {
        &self.inner.throttler
    }
}

struct ObjectKindCounts(BTreeMap<String, usize>);

impl ObjectKindCounts {
    fn of(t: &Tenant) -> Self {
        let mut counts = BTreeMap::new();
        for kind in crate::kinds::Collection::ALL {
            let n = t.count(kind);
            if n > 0 {
                counts.insert(kind.name().to_owned(), n);
            }
        }
        let methods: usize = t.auth_methods.values().map(PackedSet::len).sum();
        if methods > 0 {
            counts.insert("authenticationMethods".to_owned(), methods);
        }
        let members: usize = t
            .all_links(crate::kinds::LinkKind::GroupMember)
            .map(|m| m.values().map(BTreeSet::len).sum())
            .unwrap_or(0);
        counts.insert("groupMembers".to_owned(), members);
        Self(counts)
    }
}

/// A running emulator server; dropping it shuts the server down.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    scheme: &'static str,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (`https://` from [`Emulator::start_tls`]) — the login root
    /// and the Graph root (add `/v1.0`).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
