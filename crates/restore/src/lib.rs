//! Restore for dirvault: a planner that handles every option, and an executor that is safe to
//! re-run.
//!
//! Planning is pure and separate from execution, as in rustic_core's `prepare_restore`:
//!
//! 1. [`BackupState::load`] reads what the snapshot holds about the selection;
//! 2. [`CurrentState::read`] reads what the target tenant holds now (through `$batch`);
//! 3. [`plan`] turns both into a [`RestorePlan`]: ordered [`Step`]s, each with the Graph call
//!    it will make, why, and what it depends on, plus the id map and warnings for what cannot
//!    be restored. The plan is serde JSON ([`PLAN_FORMAT`]) for review;
//! 4. [`apply`] runs it with bounded concurrency, journals finished steps in the repository,
//!    and on a re-run finishes an interrupted plan without duplicates.
//!
//! docs/restore.md explains every option and what Graph cannot restore.
//!
//! # Example
//!
//! Restore a deleted user from the newest snapshot, with the same id and its memberships
//! (against the bundled Graph emulator):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dirvault_emulator::{Emulator, EmulatorConfig, TenantSpec, ThrottleConfig};
//! use dirvault_engine::{BackupOptions, backup};
//! use dirvault_graph::{Credentials, GraphClient, Method};
//! use dirvault_model::ObjectKind;
//! use dirvault_restore::{ApplyOptions, BackupState, CurrentState, PlanContext, RestoreOptions};
//!
//! // Throttling off to keep the example quick; the executor honours Graph's limits.
//! let emulator = Emulator::new(EmulatorConfig {
//!     throttle: ThrottleConfig { scale: 0.0 },
//!     ..EmulatorConfig::default()
//! });
//! let info = emulator.create_tenant(&TenantSpec::preset("contoso", "tiny", 1)?)?;
//! let server = emulator.start("127.0.0.1:0").await?;
//! let client = GraphClient::builder(info.tenant_id.parse()?)
//!     .with_endpoints(&server.url(), &server.url())
//!     .with_credentials(Credentials::secret(info.client_id.parse()?, &info.client_secret))
//!     .build()?;
//! let repo = dirvault_store::Repository::open("memory://")?;
//! let snapshot = backup(&client, &repo, &BackupOptions::default(), chrono::Utc::now(), &|_| {})
//!     .await?
//!     .snapshot;
//!
//! // Someone deletes a user.
//! let user = repo.objects(&snapshot, ObjectKind::Users).await?.remove(0);
//! client.send(Method::DELETE, &format!("/users/{}", user.id()), None, &[]).await?;
//!
//! let options = RestoreOptions {
//!     ids: vec![user.id().to_string()],
//!     with_object: true,
//!     with_memberships: true,
//!     ..RestoreOptions::default()
//! };
//! let backup_state = BackupState::load(&repo, &snapshot, &options).await?;
//! let current = CurrentState::read(&client, &backup_state, &options, false).await?;
//! let plan = dirvault_restore::plan(&options, &backup_state, &current, PlanContext::new(false))?;
//! println!("{plan}"); // for review; serde_json::to_string(&plan) for machines
//! let report = dirvault_restore::apply(&client, &repo, &plan, &ApplyOptions::default()).await?;
//! assert!(report.is_complete());
//! # Ok(())
//! # }
//! ```

// The Graph error inside `Error` is large, as in dirvault-graph; errors are rare and cold.
#![allow(clippy::result_large_err)]

mod execute;
mod options;
pub mod plan;
mod planner;
mod state;

pub use execute::{
    ApplyOptions, Outcome, ReportSummary, RestoreReport, StepReport, apply, journal, plan_document,
    propose, proposed_document, ready_to_apply,
};
pub use options::RestoreOptions;
pub use plan::{
    Action, Call, Mapping, MatchedBy, ObjectRef, PLAN_FORMAT, Phase, PlanSummary, RestorePlan,
    Skip, SourceRef, Step, Warning,
};
pub use planner::{MAX_BIND, PlanContext, move_domain, plan};
pub use state::{BackupState, CurrentState, Found, restorable};

use dirvault_model::TenantId;

impl PlanContext {
    /// A context with a fresh plan id and the current time.
    pub fn new(cross_tenant: bool) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            created: chrono::Utc::now(),
            cross_tenant,
        }
    }
}

/// A restore error. Each says what failed, on what, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The selection does not name restorable objects of the snapshot.
    #[error("{0}")]
    Selection(String),
    /// The options contradict each other or miss something.
    #[error("{0}")]
    Options(String),
    /// Reading the target tenant failed.
    #[error(
        "reading {url} from tenant {tenant} failed: HTTP {status} {code}: {message}; check the app's read permissions there"
    )]
    Read {
        /// The tenant.
        tenant: TenantId,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Graph's code.
        code: String,
        /// Graph's message.
        message: String,
    },
    /// The plan was written by another plan format.
    #[error("plan {plan} has format {found:?}; this dirvault applies {PLAN_FORMAT}: plan again")]
    PlanFormat {
        /// The plan.
        plan: String,
        /// Its format.
        found: String,
    },
    /// The plan is not applied as it is: changed after planning, inconsistent, or another
    /// plan under an id the repository holds.
    #[error("plan {plan} is refused: {reason}")]
    PlanRefused {
        /// The plan.
        plan: String,
        /// Why.
        reason: String,
    },
    /// The client is for another tenant than the plan's target.
    #[error(
        "plan {plan} writes to tenant {target}, but the Graph client is for tenant {client}: use the target tenant's credentials"
    )]
    WrongTenant {
        /// The plan.
        plan: String,
        /// The plan's target.
        target: TenantId,
        /// The client's tenant.
        client: TenantId,
    },
    /// The plan re-creates users and no default password was given.
    #[error("plan {plan} re-creates users, who need a default password: none was given")]
    PasswordRequired {
        /// The plan.
        plan: String,
    },
    /// A journal segment cannot be read.
    #[error(
        "restore journal {name} is corrupt ({reason}); delete it to re-run the plan from its start (finished steps are recognised)"
    )]
    Journal {
        /// The segment.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The repository failed.
    #[error(transparent)]
    Store(#[from] dirvault_store::Error),
    /// Graph failed.
    #[error(transparent)]
    Graph(#[from] dirvault_graph::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
