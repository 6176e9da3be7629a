//! `graph-emulator`: serves emulated Microsoft Graph tenants over HTTP.
//!
//! ```text
//! graph-emulator --listen 127.0.0.1:8080 --tenant contoso:small:1 --tenant fabrikam:tiny:2
//! ```
//! prints, for each tenant, the tenant id, the client id and secret of an app with every
//! permission dirvault uses, the token URL and the Graph root.
//!
//! ```text
//! graph-emulator derive-metadata --csdl ../shared/graph-metadata/v1.0-Prod.csdl \
//!     --out crates/emulator/src/metadata/v1.0-entity-types.json
//! ```
//! regenerates the emulator's type table from Microsoft's published v1.0 metadata.

// The allocator the dirvault binaries use: the emulator's reads decode each object they answer
// with (issue #19's compact tenants), which is allocation-bound.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dirvault_emulator::metadata::Metadata;
use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig, TlsIdentity};

/// Microsoft Graph v1.0 + identity platform emulator.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Args,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Derives the emulator's entity-type table from Microsoft's Graph v1.0 CSDL (what
    /// `GET https://graph.microsoft.com/v1.0/$metadata` returns).
    DeriveMetadata {
        /// Microsoft's CSDL file (e.g. shared/graph-metadata/v1.0-Prod.csdl).
        #[arg(long)]
        csdl: PathBuf,
        /// Where to write the table (stdout when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Serving options.
#[derive(Debug, clap::Args)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// A tenant to generate: NAME[:SIZE[:SEED]], SIZE one of tiny, small, medium, large,
    /// L100k, or a user count. Repeatable.
    #[arg(
        long = "tenant",
        value_name = "NAME:SIZE:SEED",
        default_value = "contoso:small:1"
    )]
    tenants: Vec<String>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// Multiplies Graph's documented throttling limits; 0 switches throttling off.
    #[arg(long, default_value_t = 1.0)]
    throttle_scale: f64,
    /// Print the connection details as one JSON line (for scripts and tests).
    #[arg(long)]
    json: bool,
    /// Serve HTTPS with a certificate authority made for this run (MSAL and azure-identity
    /// need an https authority); its certificate is written to --ca-out.
    #[arg(long)]
    tls: bool,
    /// Where --tls writes the CA certificate (PEM) clients must trust
    /// [default: graph-emulator-ca-<pid>.pem in the temporary directory].
    #[arg(long, requires = "tls")]
    ca_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(Command::DeriveMetadata { csdl, out }) = cli.command {
        return derive_metadata(&csdl, out.as_deref());
    }
    let args = cli.serve;
    let specs = args
        .tenants
        .iter()
        .map(|t| TenantSpec::parse_arg(t))
        .collect::<Result<Vec<_>, _>>()
        .context("invalid --tenant")?;
    let emulator = Emulator::new(EmulatorConfig {
        token_lifetime_secs: args.token_lifetime,
        throttle: ThrottleConfig {
            scale: args.throttle_scale.max(0.0),
        },
        ..EmulatorConfig::default()
    });
    let mut tenants = Vec::new();
    for spec in &specs {
        tenants.push(
            emulator
                .create_tenant(spec)
                .with_context(|| format!("generating tenant {}", spec.name))?,
        );
    }
    let (server, ca_path) = if args.tls {
        let identity = TlsIdentity::generate().context("making the TLS certificate")?;
        let path = args.ca_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("graph-emulator-ca-{}.pem", std::process::id()))
        });
        std::fs::write(&path, identity.ca_pem())
            .with_context(|| format!("writing the CA certificate to {}", path.display()))?;
        let server = emulator
            .start_tls(&args.listen, &identity)
            .await
            .context("starting the emulator")?;
        (server, Some(path))
    } else {
        let server = emulator
            .start(&args.listen)
            .await
            .context("starting the emulator")?;
        (server, None)
    };
    let url = server.url();
    if args.json {
        let out = serde_json::json!({
            "url": url,
            "graphRoot": format!("{url}/v1.0"),
            "caPath": ca_path,
            "tenants": tenants,
        });
        println!("{out}");
    } else {
        println!("Graph emulator listening on {url}");
        println!("  Graph root:  {url}/v1.0");
        println!("  control API: {url}/_emulator");
        if let Some(path) = &ca_path {
            println!(
                "  CA certificate (trust it: SSL_CERT_FILE, REQUESTS_CA_BUNDLE): {}",
                path.display()
            );
        }
        for t in &tenants {
            println!();
            println!("tenant {} ({})", t.name, t.default_domain);
            println!("  tenant id:     {}", t.tenant_id);
            println!("  client id:     {}", t.client_id);
            println!("  client secret: {}", t.client_secret);
            println!("  token URL:     {url}/{}/oauth2/v2.0/token", t.tenant_id);
            println!("  authority:     {url}/{}", t.tenant_id);
            let counts: Vec<String> = t.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!("  objects:       {}", counts.join(", "));
        }
        println!();
        println!("Press Ctrl-C to stop.");
    }
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

fn derive_metadata(csdl: &std::path::Path, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(csdl).with_context(|| format!("reading {}", csdl.display()))?;
    let table = Metadata::from_csdl(
        &text,
        "Microsoft Graph v1.0 $metadata (v1.0-Prod.csdl, MIT)",
    )
    .with_context(|| format!("deriving the type table from {}", csdl.display()))?;
    match out {
        Some(path) => std::fs::write(path, table.to_json())
            .with_context(|| format!("writing {}", path.display()))?,
        None => print!("{}", table.to_json()),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
