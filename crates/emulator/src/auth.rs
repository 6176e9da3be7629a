//! The identity platform's client-credentials token endpoint, app registrations, bearer-token
//! validation and application-permission checks.
//!
//! Shapes: docs/graph.md §8 and Microsoft identity platform docs
//! (v2-oauth2-client-creds-grant-flow.md, certificate-credentials.md).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Emulator;
use crate::error::{Error, GraphError};
use crate::kinds::Collection;
use crate::token_signing::{AccessClaims, TokenSigner};

/// A client app registered in a tenant: its credentials and the application permissions an
/// admin consented to. The secret itself is never kept, only its SHA-256.
#[derive(Clone)]
pub struct AppRegistration {
    /// The app's client id (`appId`).
    pub client_id: String,
    /// Its display name.
    pub display_name: String,
    secret_sha256: Option<[u8; 32]>,
    certificate: Option<Certificate>,
    /// Consented application permissions (the token's `roles`).
    pub roles: BTreeSet<String>,
}

impl fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistration")
            .field("client_id", &self.client_id)
            .field("display_name", &self.display_name)
            .field("has_secret", &self.secret_sha256.is_some())
            .field("has_certificate", &self.certificate.is_some())
            .field("roles", &self.roles)
            .finish()
    }
}

#[derive(Clone)]
struct Certificate {
    /// base64url SHA-256 of the certificate's DER: the `x5t#S256` an assertion must carry.
    thumbprint_s256: String,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl AppRegistration {
    /// A registration with no credentials yet.
    pub fn new(client_id: String, display_name: String, roles: BTreeSet<String>) -> Self {
        Self {
            client_id,
            display_name,
            secret_sha256: None,
            certificate: None,
            roles,
        }
    }

    /// Registers a client secret (only its hash is kept).
    pub fn set_secret(&mut self, secret: &str) {
        self.secret_sha256 = Some(Sha256::digest(secret.as_bytes()).into());
    }

    /// Registers an RSA certificate (PEM) for client assertions.
    ///
    /// # Errors
    /// [`Error::InvalidCertificate`] when the PEM is not an X.509 certificate with an RSA key.
    pub fn set_certificate_pem(&mut self, pem: &str) -> Result<(), Error> {
        let invalid = |reason: String| Error::InvalidCertificate {
            client_id: self.client_id.clone(),
            reason,
        };
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| invalid(format!("not a PEM certificate: {e}")))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| invalid(format!("not an X.509 certificate: {e}")))?;
        let key = cert
            .public_key()
            .parsed()
            .map_err(|e| invalid(format!("unreadable public key: {e}")))?;
        let x509_parser::public_key::PublicKey::RSA(rsa) = key else {
            return Err(invalid(
                "only RSA certificates are supported (RS256/PS256)".into(),
            ));
        };
        self.certificate = Some(Certificate {
            thumbprint_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&pem.contents)),
            // ASN.1 integers carry a leading zero byte when the top bit is set; the verifier
            // wants the plain big-endian magnitude.
            modulus: crate::token_signing::strip_leading_zeros(rsa.modulus),
            exponent: crate::token_signing::strip_leading_zeros(rsa.exponent),
        });
        Ok(())
    }

    fn secret_matches(&self, secret: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        self.secret_sha256
            .is_some_and(|s| constant_time_eq(&s, &given))
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An access token the emulator issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The tenant (id) it is for.
    pub tenant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The application permissions it carries.
    pub roles: Arc<BTreeSet<String>>,
    /// When it stops working (emulated time).
    pub expires_at: DateTime<Utc>,
}

/// The form of a token request.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// An identity-platform error (`{error, error_description, error_codes, …}`).
pub(crate) struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let trace_id = uuid::Uuid::new_v4();
        let correlation_id = uuid::Uuid::new_v4();
        let timestamp = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `POST /{tenant}/oauth2/v2.0/token`
pub(crate) async fn token(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    https: Option<axum::Extension<crate::tls::Https>>,
    Form(form): Form<TokenRequest>,
) -> Result<Response, AadError> {
    let scheme = if https.is_some() { "https" } else { "http" };
    let bad = |code, description: String| {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            description,
        )
    };
    if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations") {
        // Client credentials need a tenant: docs/graph.md §8 ("never `common`").
        return Err(bad(
            700016,
            format!(
                "Use a tenant-specific endpoint for the client credentials flow, not '{tenant}'."
            ),
        ));
    }
    let Some(shared) = emulator.tenant(&tenant) else {
        return Err(bad(
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. Only client_credentials is supported by this emulator.",
        ));
    }
    let Some(client_id) = form.client_id.as_deref() else {
        return Err(bad(
            900144,
            "The request body must contain the following parameter: 'client_id'.".into(),
        ));
    };
    // The resource is the `.default` scope's prefix (MSAL may add `openid profile`-style
    // scopes beside it).
    let resource = match form.scope.as_deref().and_then(|s| {
        s.split_whitespace()
            .find_map(|s| s.strip_suffix("/.default"))
    }) {
        Some(resource) if !resource.is_empty() => resource.to_owned(),
        _ => {
            let other = form.scope.as_deref();
            return Err(AadError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                    other.unwrap_or("")
                ),
            ));
        }
    };
    let now = emulator.clock().now();
    let mut tenant_guard = shared.write();
    tenant_guard.stats.token_requests += 1;
    let tenant_id = tenant_guard.id.clone();
    let Some(app) = tenant_guard.apps.get(client_id).cloned() else {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    };
    // The token's `oid`/`sub`: the app's service principal in this tenant.
    let service_principal_id = tenant_guard
        .objects(Collection::ServicePrincipals)
        .and_then(|sps| {
            sps.iter()
                .find(|(_, sp)| sp.get("appId").and_then(|a| a.as_str()) == Some(client_id))
                .map(|(id, _)| id.clone())
        })
        .unwrap_or_else(|| {
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, client_id.as_bytes()).to_string()
        });
    drop(tenant_guard);
    let invalid_client = |code, description: String| {
        AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description,
        )
    };
    match (&form.client_secret, &form.client_assertion) {
        (Some(secret), _) => {
            if !app.secret_matches(secret) {
                return Err(invalid_client(
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.".into(),
                ));
            }
        }
        (None, Some(assertion)) => {
            if form.client_assertion_type.as_deref() != Some(ASSERTION_TYPE) {
                return Err(bad(
                    50027,
                    format!("client_assertion_type must be '{ASSERTION_TYPE}'."),
                ));
            }
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let audience = format!("{scheme}://{host}/{tenant}/oauth2/v2.0/token");
            verify_assertion(&app, assertion, &audience, now)
                .map_err(|(code, d)| invalid_client(code, d))?;
        }
        (None, None) => {
            return Err(bad(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
            ));
        }
    }
    let lifetime = emulator.config().token_lifetime_secs;
    let expires_at = now + chrono::Duration::seconds(lifetime as i64);
    let claims = AccessClaims {
        tenant_id: &tenant_id,
        client_id,
        app_display_name: &app.display_name,
        service_principal_id: &service_principal_id,
        resource: &resource,
        roles: app.roles.iter().map(String::as_str).collect(),
        with_certificate: form.client_assertion.is_some(),
        issued_at: now.timestamp(),
        expires_at: expires_at.timestamp(),
    };
    let access_token = TokenSigner::shared()
        .and_then(|signer| signer.sign(&claims.to_json()))
        .map_err(|e| {
            AadError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                format!("The emulator could not sign the token: {e}"),
            )
        })?;
    emulator.store_token(
        access_token.clone(),
        IssuedToken {
            tenant_id,
            client_id: client_id.to_owned(),
            roles: Arc::new(app.roles.clone()),
            expires_at,
        },
    );
    Ok(axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    aud: Option<serde_json::Value>,
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// Verifies a client assertion JWT: signature against the registered certificate, `x5t#S256`,
/// `aud`, `iss`/`sub`, `exp`/`nbf` (against the emulated clock), `jti`.
fn verify_assertion(
    app: &AppRegistration,
    assertion: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<(), (u32, String)> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let malformed = |why: &str| (50027, format!("JWT token is invalid or malformed: {why}."));
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| malformed(&e.to_string()))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(malformed("alg must be RS256 or PS256"));
    }
    let Some(cert) = &app.certificate else {
        return Err((
            700027,
            format!(
                "Client assertion failed signature validation: no certificate is registered on application '{}'.",
                app.client_id
            ),
        ));
    };
    match header.x5t_s256.as_deref() {
        Some(t) if t == cert.thumbprint_s256 => {}
        _ => {
            return Err((
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application.".into(),
            ));
        }
    }
    let key = DecodingKey::from_rsa_raw_components(&cert.modulus, &cert.exponent);
    let mut validation = Validation::new(header.alg);
    // exp and nbf are checked against the emulated clock below, aud by hand.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation).map_err(|_| {
            (
                700027,
                "Client assertion failed signature validation.".to_owned(),
            )
        })?;
    let claims = data.claims;
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => a == audience,
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v == audience),
        _ => false,
    };
    if !aud_ok {
        return Err((
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience; the audience must be '{audience}'."
            ),
        ));
    }
    if claims.iss.as_deref() != Some(app.client_id.as_str())
        || claims.sub.as_deref() != Some(app.client_id.as_str())
    {
        return Err((
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter (iss and sub must both be the client id).".into(),
        ));
    }
    if claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err(malformed("jti is required"));
    }
    let now = now.timestamp();
    // The identity platform allows a few minutes of clock skew.
    let skew = 300;
    let in_window = claims.exp.is_some_and(|exp| now <= exp + skew)
        && claims.nbf.is_none_or(|nbf| nbf <= now + skew);
    if !in_window {
        return Err((
            700024,
            "Client assertion is not within its valid time range.".into(),
        ));
    }
    Ok(())
}

/// A fresh client secret, shaped like Entra's (40 characters).
pub(crate) fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 30];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token store: issued access tokens.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    tokens: HashMap<String, IssuedToken>,
}

impl Tokens {
    pub(crate) fn insert(&mut self, token: String, issued: IssuedToken, now: DateTime<Utc>) {
        if self.tokens.len() > 10_000 {
            self.tokens.retain(|_, t| t.expires_at > now);
        }
        self.tokens.insert(token, issued);
    }

    pub(crate) fn get(&self, token: &str) -> Option<&IssuedToken> {
        self.tokens.get(token)
    }
}

/// Validates the bearer token of a Graph request.
pub(crate) fn authenticate(
    emulator: &Emulator,
    headers: &HeaderMap,
) -> Result<IssuedToken, GraphError> {
    let unauthorized = |message: &str| {
        let mut e = GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
        e.headers.push((
            "www-authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
        ));
        e
    };
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized("Access token is empty."));
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Err(unauthorized("Access token is empty."));
    };
    let Some(issued) = emulator.lookup_token(token) else {
        return Err(unauthorized(
            "IDX14100: JWT is not well formed, there are no dots (.).",
        ));
    };
    if issued.expires_at <= emulator.clock().now() {
        return Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if emulator.tenant(&issued.tenant_id).is_none() {
        return Err(unauthorized(
            "Access token validation failure. Invalid audience.",
        ));
    }
    Ok(issued)
}

/// Application permissions that `Directory.Read.All` implies (docs/graph.md §1).
const DIRECTORY_READ_COVERS: &[&str] = &[
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Application.Read.All",
    "Device.Read.All",
    "AdministrativeUnit.Read.All",
    "RoleManagement.Read.Directory",
    "Organization.Read.All",
    "Domain.Read.All",
    "Directory.Read.All",
];

/// Application permissions that `Directory.ReadWrite.All` implies.
const DIRECTORY_WRITE_COVERS: &[&str] = &[
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Device.ReadWrite.All",
    "AdministrativeUnit.ReadWrite.All",
    "Group.Create",
];

/// Whether `roles` grant `needed`.
pub fn grants(roles: &BTreeSet<String>, needed: &str) -> bool {
    if roles.contains(needed) {
        return true;
    }
    // X.ReadWrite.Y implies X.Read.Y.
    if let Some((prefix, suffix)) = needed.split_once(".Read.")
        && roles.contains(&format!("{prefix}.ReadWrite.{suffix}"))
    {
        return true;
    }
    if needed == "GroupMember.Read.All" && grants(roles, "Group.Read.All") {
        return true;
    }
    if needed == "Group.Read.All" && roles.contains("GroupMember.Read.All") {
        return true;
    }
    if (needed == "GroupMember.ReadWrite.All" || needed == "Group.Create")
        && roles.contains("Group.ReadWrite.All")
    {
        return true;
    }
    // Branding: the organization permissions are listed as higher privileges
    // (organizationalbrandinglocalization-get.md, organizationalbrandinglocalization-update.md).
    if needed == "OrganizationalBranding.Read.All"
        && ["Organization.Read.All", "Organization.ReadWrite.All"]
            .iter()
            .any(|p| roles.contains(*p))
    {
        return true;
    }
    if needed == "OrganizationalBranding.ReadWrite.All"
        && roles.contains("Organization.ReadWrite.All")
    {
        return true;
    }
    // The policy pages list Policy.Read.All as the higher privilege for every narrower
    // policy read (authenticationmethodspolicy-get.md, permissiongrantpolicy-list.md,
    // authenticationstrengthroot-list-policies.md).
    if needed.starts_with("Policy.Read.") && roles.contains("Policy.Read.All") {
        return true;
    }
    // PIM policies: the role management permissions themselves are listed as higher
    // privileges (policyroot-list-rolemanagementpolicies.md,
    // unifiedrolemanagementpolicyrule-update.md); Directory.Read.All is not.
    if needed == "RoleManagementPolicy.Read.Directory"
        && [
            "RoleManagement.Read.Directory",
            "RoleManagement.Read.All",
            "RoleManagement.ReadWrite.Directory",
        ]
        .iter()
        .any(|p| roles.contains(*p))
    {
        return true;
    }
    if needed == "RoleManagementPolicy.ReadWrite.Directory"
        && roles.contains("RoleManagement.ReadWrite.Directory")
    {
        return true;
    }
    if DIRECTORY_READ_COVERS.contains(&needed)
        && (roles.contains("Directory.Read.All") || roles.contains("Directory.ReadWrite.All"))
    {
        return true;
    }
    DIRECTORY_WRITE_COVERS.contains(&needed) && roles.contains("Directory.ReadWrite.All")
}

/// The request's caller, established by the gate middleware.
#[derive(Clone)]
pub struct Caller {
    /// The tenant id.
    pub tenant_id: String,
    /// The client id.
    pub client_id: String,
    /// Consented permissions.
    pub roles: Arc<BTreeSet<String>>,
    /// The Graph root as the caller sees it, e.g. `http://127.0.0.1:8080/v1.0`.
    pub base: String,
}

impl Caller {
    /// The `initiatedBy` of the audit events this caller's changes write: an app.
    pub fn audit_initiator(&self) -> serde_json::Value {
        serde_json::json!({"app": {"appId": self.client_id, "displayName": null,
            "servicePrincipalId": null, "servicePrincipalName": null}, "user": null})
    }

    /// 403 unless the caller holds one of `any_of`.
    ///
    /// # Errors
    /// 403 `Authorization_RequestDenied`.
    pub fn require(&self, any_of: &[&str]) -> Result<(), GraphError> {
        if any_of.iter().any(|p| grants(&self.roles, p)) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }

    /// 403 unless the caller may read `kind`.
    ///
    /// # Errors
    /// 403 `Authorization_RequestDenied`.
    pub fn require_read(&self, kind: Collection) -> Result<(), GraphError> {
        self.require(&[kind.facts().read_permission])
    }

    /// 403 unless the caller may write `kind`.
    ///
    /// # Errors
    /// 403 `Authorization_RequestDenied`.
    pub fn require_write(&self, kind: Collection) -> Result<(), GraphError> {
        match kind.facts().write_permission {
            Some(p) => self.require(&[p]),
            None => Err(GraphError::forbidden()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> BTreeSet<String> {
        r.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn permission_implications_follow_graph() {
        assert!(grants(&roles(&["User.ReadWrite.All"]), "User.Read.All"));
        assert!(grants(
            &roles(&["Directory.Read.All"]),
            "Application.Read.All"
        ));
        assert!(!grants(&roles(&["Directory.Read.All"]), "Policy.Read.All"));
        assert!(!grants(
            &roles(&["Directory.Read.All"]),
            "AuditLog.Read.All"
        ));
        assert!(!grants(
            &roles(&["Directory.Read.All"]),
            "User.ReadWrite.All"
        ));
        assert!(grants(
            &roles(&["RoleManagement.ReadWrite.Directory"]),
            "RoleManagement.Read.Directory"
        ));
        assert!(!grants(
            &roles(&["Directory.ReadWrite.All"]),
            "RoleManagement.ReadWrite.Directory"
        ));
    }

    #[test]
    fn registration_debug_shows_no_secret() {
        let mut app = AppRegistration::new("c".into(), "backup".into(), BTreeSet::new());
        app.set_secret("hunter2-very-secret");
        let debug = format!("{app:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(app.secret_matches("hunter2-very-secret"));
        assert!(!app.secret_matches("hunter3"));
    }
}
