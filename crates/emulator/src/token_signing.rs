//! Access tokens as Entra issues them for Graph: RS256-signed JWTs (v1.0 access tokens, the
//! version Graph's tokens have) whose public key is published in the tenant's JWKS
//! (`/{tenant}/discovery/v2.0/keys`).
//!
//! Claims, from `identity-platform/access-token-claims-reference.md`: `aud` (the resource of
//! the `.default` scope), `iss` (`https://sts.windows.net/{tid}/` for v1.0 tokens), `iat`,
//! `nbf`, `exp`, `appid`, `appidacr` (`1`: a client secret, `2`: a certificate), `idtyp`
//! (`app`), `oid` and `sub` (the service principal), `roles` (the application permissions),
//! `tid`, `uti`, `ver` (`1.0`).
//!
//! Graph and dirvault treat the token as opaque; the emulator still looks issued tokens up by
//! their text, so a token signed by anyone else is refused.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Error;

/// The RSA key the emulator signs with and its public half as a JWK.
pub(crate) struct TokenSigner {
    key: EncodingKey,
    kid: String,
    jwk: Value,
}

impl TokenSigner {
    /// The process's signer: one 2048-bit key made on first use and shared by every
    /// emulator in the process (making one takes a noticeable fraction of a second).
    pub(crate) fn shared() -> Result<Arc<TokenSigner>, Error> {
        static SIGNER: OnceLock<Result<Arc<TokenSigner>, String>> = OnceLock::new();
        SIGNER
            .get_or_init(|| Self::generate().map(Arc::new))
            .clone()
            .map_err(Error::Tls)
    }

    fn generate() -> Result<Self, String> {
        // The rsa crate only generates the key; ring signs with it (see deny.toml).
        let private =
            rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
        let der = private.to_pkcs1_der().map_err(|e| e.to_string())?;
        let key = EncodingKey::from_rsa_der(der.as_bytes());
        let public = private.to_public_key();
        let spki = public
            .to_public_key_der()
            .map_err(|e| e.to_string())?
            .into_vec();
        // Entra's kids are short base64url thumbprints; this one is of the public key.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&spki)[..20]);
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        });
        Ok(Self { key, kid, jwk })
    }

    /// `{"keys": [ … ]}` as the JWKS endpoint serves it.
    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Signs `claims` (RS256, with this key's `kid`).
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| Error::Tls(e.to_string()))
    }
}

/// ASN.1 integers carry a leading zero byte when the top bit is set; JWKs carry the plain
/// big-endian magnitude.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// The claims of an app-only v1.0 access token for `resource`.
pub(crate) struct AccessClaims<'a> {
    pub(crate) tenant_id: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) app_display_name: &'a str,
    pub(crate) service_principal_id: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) roles: Vec<&'a str>,
    pub(crate) with_certificate: bool,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
}

impl AccessClaims<'_> {
    pub(crate) fn to_json(&self) -> Value {
        let issuer = format!("https://sts.windows.net/{}/", self.tenant_id);
        json!({
            "aud": self.resource,
            "iss": issuer,
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.expires_at,
            "app_displayname": self.app_display_name,
            "appid": self.client_id,
            "appidacr": if self.with_certificate { "2" } else { "1" },
            "idp": issuer,
            "idtyp": "app",
            "oid": self.service_principal_id,
            "roles": self.roles,
            "sub": self.service_principal_id,
            "tid": self.tenant_id,
            "uti": URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
            "ver": "1.0",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_verify_with_the_published_key() {
        let signer = TokenSigner::shared().unwrap();
        let claims = AccessClaims {
            tenant_id: "t",
            client_id: "c",
            app_display_name: "app",
            service_principal_id: "sp",
            resource: "https://graph.microsoft.com",
            roles: vec!["User.Read.All"],
            with_certificate: false,
            issued_at: 1_700_000_000,
            expires_at: 4_000_000_000,
        };
        let token = signer.sign(&claims.to_json()).unwrap();
        let jwks = signer.jwks();
        let jwk = &jwks["keys"][0];
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://graph.microsoft.com"]);
        let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(decoded.claims["roles"][0], "User.Read.All");
        assert_eq!(decoded.header.kid.as_deref(), jwk["kid"].as_str());
        // Tampering breaks it.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"aud":"https://graph.microsoft.com","exp":4000000000,"roles":["Directory.ReadWrite.All"]}"#);
        parts[1] = &forged;
        assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &validation).is_err());
    }
}
