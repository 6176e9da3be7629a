//! HTTPS for the emulator: Microsoft's auth libraries (MSAL, azure-identity) refuse an
//! authority that is not `https`, so the emulator can make a certificate authority of its own,
//! a server certificate for the loopback names signed by it, and serve TLS with them. Clients
//! trust the CA by its PEM file (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, reqwest's
//! `add_root_certificate`).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::Error;

/// Marks a request that arrived over TLS: links the emulator writes (nextLink, deltaLink,
/// `@odata.context`, the token audience) then start with `https://`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Https;

/// The scheme a request arrived with.
pub(crate) fn scheme_of(extensions: &axum::http::Extensions) -> &'static str {
    if extensions.get::<Https>().is_some() {
        "https"
    } else {
        "http"
    }
}

/// A CA the emulator generated and the server certificate it signed for `localhost`,
/// `127.0.0.1` and `::1`. Generated anew each time: nothing is trusted beyond one run.
pub struct TlsIdentity {
    ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The server's private key stays out of Debug output.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Makes a CA and a server certificate.
    ///
    /// # Errors
    /// [`Error::Tls`] when a key or a certificate cannot be made.
    pub fn generate() -> Result<Self, Error> {
        let tls = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| tls(&e))?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "dirvault graph-emulator CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(|e| tls(&e))?;
        let issuer = CertifiedIssuer::self_signed(ca, ca_key).map_err(|e| tls(&e))?;

        let mut leaf = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .map_err(|e| tls(&e))?;
        leaf.distinguished_name
            .push(DnType::CommonName, "graph-emulator");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // OpenSSL's strict verification (Python's default since 3.13) wants the authority
        // key identifier on a certificate a CA signed.
        leaf.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().map_err(|e| tls(&e))?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(|e| tls(&e))?;

        let chain = vec![
            CertificateDer::from(leaf_cert.der().to_vec()),
            CertificateDer::from(issuer.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| tls(&e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: issuer.pem(),
            config: Arc::new(config),
        })
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}
