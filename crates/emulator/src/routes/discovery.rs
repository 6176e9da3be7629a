//! The identity platform's discovery documents, which MSAL and azure-identity read before
//! asking for a token: `GET /{tenant}/v2.0/.well-known/openid-configuration` (its
//! `token_endpoint`, `issuer`, `jwks_uri`: identity-platform/v2-protocols-oidc.md, "Find your
//! app's OpenID configuration document URI") and the signing keys at `jwks_uri`
//! (`/{tenant}/discovery/v2.0/keys`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Emulator;
use crate::tls::Https;
use crate::token_signing::TokenSigner;

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub(crate) async fn openid_configuration(
    State(emulator): State<Emulator>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    https: Option<axum::Extension<Https>>,
) -> Response {
    let scheme = if https.is_some() { "https" } else { "http" };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let root = format!("{scheme}://{host}");
    // Entra answers for a tenant id or one of its domains; the issuer names the tenant id.
    let Some(tenant_id) = emulator.tenant(&tenant).map(|t| t.read().id.clone()) else {
        return unknown_tenant(&tenant);
    };
    axum::Json(json!({
        "token_endpoint": format!("{root}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{root}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{root}/{tenant_id}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{root}/oidc/userinfo"),
        "authorization_endpoint": format!("{root}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{root}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{root}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid", "roles"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": host,
        "rbac_url": "https://pas.windows.net",
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`
pub(crate) async fn keys(State(emulator): State<Emulator>, Path(tenant): Path<String>) -> Response {
    if emulator.tenant(&tenant).is_none() {
        return unknown_tenant(&tenant);
    }
    match TokenSigner::shared() {
        Ok(signer) => axum::Json(signer.jwks()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// AADSTS90002, as the discovery endpoints answer for a tenant that does not exist.
fn unknown_tenant(tenant: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "error": "invalid_tenant",
            "error_description": format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            "error_codes": [90002],
        })),
    )
        .into_response()
}
