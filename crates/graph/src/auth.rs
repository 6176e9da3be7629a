//! Client credentials (docs/graph.md §8): a client secret or a certificate, and the token cache.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dirvault_model::{ClientId, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How the client proves who it is. Secrets never appear in `Debug` output or errors.
#[derive(Clone)]
pub enum Credentials {
    /// A client secret.
    Secret {
        /// The app's client id.
        client_id: ClientId,
        /// The secret.
        secret: SecretString,
    },
    /// A certificate: a signed JWT assertion per token request.
    Certificate {
        /// The app's client id.
        client_id: ClientId,
        /// The certificate and its private key.
        certificate: ClientCertificate,
    },
}

impl Credentials {
    /// A client secret.
    pub fn secret(client_id: ClientId, secret: impl Into<String>) -> Self {
        Credentials::Secret {
            client_id,
            secret: SecretString::from(secret.into()),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        match self {
            Credentials::Secret { client_id, .. } | Credentials::Certificate { client_id, .. } => {
                client_id
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Secret { client_id, .. } => write!(
                f,
                "Credentials::Secret {{ client_id: {client_id}, secret: [redacted] }}"
            ),
            Credentials::Certificate {
                client_id,
                certificate,
            } => write!(
                f,
                "Credentials::Certificate {{ client_id: {client_id}, x5t#S256: {}, key: [redacted] }}",
                certificate.thumbprint_s256
            ),
        }
    }
}

/// An X.509 certificate (PEM) and its RSA private key (PEM), for client assertions.
#[derive(Clone)]
pub struct ClientCertificate {
    thumbprint_s256: String,
    key: jsonwebtoken::EncodingKey,
}

impl ClientCertificate {
    /// Reads a PEM certificate and a PEM RSA private key (PKCS#1 or PKCS#8).
    ///
    /// # Errors
    /// [`Error::Certificate`] when either cannot be parsed.
    pub fn from_pem(client_id: &ClientId, certificate_pem: &str, key_pem: &str) -> Result<Self> {
        let bad = |reason: String| Error::Certificate {
            client_id: client_id.to_string(),
            reason,
        };
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).map_err(|e| {
                bad(format!(
                    "not a PEM certificate ({e}); give the certificate file, not the key"
                ))
            })?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(format!(
                "not a PEM certificate (found a {} block); give the certificate file, not the key",
                pem.label
            )));
        }
        pem.parse_x509()
            .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|e| bad(format!("the private key is not an RSA key in PEM ({e})")))?;
        Ok(Self {
            // docs/graph.md §8: x5t#S256 = base64url SHA-256 of the certificate's DER.
            thumbprint_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&pem.contents)),
            key,
        })
    }

    /// A signed client assertion for `audience` (the token URL), valid for 10 minutes.
    pub(crate) fn assertion(&self, client_id: &ClientId, audience: &str) -> Result<String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.x5t_s256 = Some(self.thumbprint_s256.clone());
        header.typ = Some("JWT".into());
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id.as_str(), "sub": client_id.as_str(),
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| Error::Certificate {
            client_id: client_id.to_string(),
            reason: format!("signing the client assertion failed: {e}"),
        })
    }
}

/// An access token and when to stop using it.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub(crate) value: SecretString,
    pub(crate) refresh_at: Instant,
}

/// Refresh this long before the token's announced expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

/// Requests a token (client-credentials grant).
pub(crate) async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    scope: &str,
    tenant: &TenantId,
    credentials: &Credentials,
) -> Result<CachedToken> {
    let mut form: Vec<(&str, String)> = vec![
        ("client_id", credentials.client_id().to_string()),
        ("scope", scope.to_owned()),
        ("grant_type", "client_credentials".into()),
    ];
    match credentials {
        Credentials::Secret { secret, .. } => {
            form.push(("client_secret", secret.expose_secret().to_owned()))
        }
        Credentials::Certificate {
            client_id,
            certificate,
        } => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push((
                "client_assertion",
                certificate.assertion(client_id, token_url)?,
            ));
        }
    }
    let response = http
        .post(token_url)
        .form(&form)
        .send()
        .await
        .map_err(|source| Error::Transport {
            tenant: tenant.clone(),
            method: "POST".into(),
            url: token_url.to_owned(),
            source,
        })?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|source| Error::Transport {
        tenant: tenant.clone(),
        method: "POST".into(),
        url: token_url.to_owned(),
        source,
    })?;
    if status.is_success() {
        let token: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse {
                tenant: tenant.clone(),
                url: token_url.to_owned(),
                reason: format!("malformed JSON in the token response: {e}"),
            })?;
        let lifetime = Duration::from_secs(token.expires_in);
        return Ok(CachedToken {
            value: SecretString::from(token.access_token),
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 2)),
        });
    }
    let err: TokenError = serde_json::from_slice(&bytes).unwrap_or(TokenError {
        error: None,
        error_description: None,
    });
    let description = err
        .error_description
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
    // Drop the trace ids Entra appends: they change on every call.
    let description = description
        .split(" Trace ID:")
        .next()
        .unwrap_or_default()
        .to_owned();
    let code = err
        .error
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let hint = if description.starts_with("AADSTS7000215") {
        "check the client secret in the tenant's configuration (the secret value, not its id)"
    } else if description.starts_with("AADSTS700016") {
        "check the client id, and that an admin of this tenant consented to the app"
    } else if description.starts_with("AADSTS90002") {
        "check the tenant id and the cloud"
    } else if description.starts_with("AADSTS7000") || description.starts_with("AADSTS5002") {
        "check the certificate registered on the app and the clock of this machine"
    } else {
        "check the tenant's credentials and the app registration"
    };
    Err(Error::Token {
        tenant: tenant.clone(),
        status: status.as_u16(),
        code,
        description,
        hint,
    })
}
