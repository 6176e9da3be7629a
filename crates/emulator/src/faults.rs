//! Fault injection for tests: latency, 5xx, connection resets, truncated bodies, throttling
//! storms. Configured per tenant through the control API (`PUT /_emulator/tenants/{t}/faults`).

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "fault"
)]
pub enum FaultAction {
    /// Answer normally: places the faults after it later in the sequence (a `$batch` takes
    /// none, each request inside it takes one).
    Pass,
    /// Answer with this status and Graph's error body (e.g. 500, 503, 504).
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// Drop the connection after the headers, before any body byte.
    Reset,
    /// Answer with the real status and headers but only the first half of the JSON body.
    Truncate,
    /// Answer 429 with this `Retry-After`.
    Throttle {
        /// Seconds; decimals allowed, as Graph sends them (`2.128`).
        retry_after: f64,
    },
}

/// Per-tenant fault configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Added latency for every Graph request, in milliseconds.
    pub latency_ms: u64,
    /// Probability (0–1) of a 503 with `Retry-After: 1`.
    pub error_rate: f64,
    /// Probability of a connection reset.
    pub reset_rate: f64,
    /// Probability of a truncated body.
    pub truncate_rate: f64,
    /// Seed for the probabilities, so a run is repeatable.
    pub seed: u64,
    /// Faults for the next requests, in order, before any probability applies.
    pub next: Vec<FaultAction>,
    /// When set, `next` applies only to requests whose path contains this text (e.g.
    /// `/groups/delta`): a fault aimed at one listing whatever comes before it.
    pub next_path: Option<String>,
    /// A throttling storm: this many consecutive requests get 429.
    pub throttle_storm: Option<ThrottleStorm>,
}

/// A run of 429 answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStorm {
    /// How many requests are throttled.
    pub requests: u32,
    /// The `Retry-After` they carry, in seconds (decimals allowed).
    pub retry_after: f64,
}

/// Live fault state of a tenant.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: ChaCha8Rng,
    queue: VecDeque<FaultAction>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(FaultConfig::default())
    }
}

impl Faults {
    /// Fault state from a configuration.
    pub fn new(config: FaultConfig) -> Self {
        let mut queue: VecDeque<FaultAction> = config.next.iter().cloned().collect();
        if let Some(storm) = &config.throttle_storm {
            for _ in 0..storm.requests {
                queue.push_back(FaultAction::Throttle {
                    retry_after: storm.retry_after,
                });
            }
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            queue,
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Added latency per request.
    pub fn latency_ms(&self) -> u64 {
        self.config.latency_ms
    }

    /// The fault for the next request (to `path`), if any.
    pub fn next_action(&mut self, path: &str) -> Option<FaultAction> {
        let aimed = self
            .config
            .next_path
            .as_deref()
            .is_none_or(|p| path.contains(p));
        if aimed && let Some(action) = self.queue.pop_front() {
            return Some(action);
        }
        let c = &self.config;
        if c.error_rate <= 0.0 && c.reset_rate <= 0.0 && c.truncate_rate <= 0.0 {
            return None;
        }
        let roll: f64 = self.rng.random();
        if roll < c.error_rate {
            Some(FaultAction::Status { status: 503 })
        } else if roll < c.error_rate + c.reset_rate {
            Some(FaultAction::Reset)
        } else if roll < c.error_rate + c.reset_rate + c.truncate_rate {
            Some(FaultAction::Truncate)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_then_the_storm() {
        let mut f = Faults::new(FaultConfig {
            next: vec![FaultAction::Reset],
            throttle_storm: Some(ThrottleStorm {
                requests: 2,
                retry_after: 3.0,
            }),
            ..FaultConfig::default()
        });
        assert_eq!(f.next_action("/users"), Some(FaultAction::Reset));
        assert_eq!(
            f.next_action("/users"),
            Some(FaultAction::Throttle { retry_after: 3.0 })
        );
        assert_eq!(
            f.next_action("/users"),
            Some(FaultAction::Throttle { retry_after: 3.0 })
        );
        assert_eq!(f.next_action("/users"), None);
    }

    #[test]
    fn aimed_faults_wait_for_their_path() {
        let mut f = Faults::new(FaultConfig {
            next: vec![FaultAction::Status { status: 400 }],
            next_path: Some("/groups/delta".into()),
            ..FaultConfig::default()
        });
        assert_eq!(f.next_action("/v1.0/users/delta"), None);
        assert_eq!(
            f.next_action("/v1.0/groups/delta"),
            Some(FaultAction::Status { status: 400 })
        );
        assert_eq!(f.next_action("/v1.0/groups/delta"), None);
    }

    #[test]
    fn rates_are_repeatable_for_a_seed() {
        let config = FaultConfig {
            error_rate: 0.3,
            seed: 7,
            ..FaultConfig::default()
        };
        let run = || {
            let mut f = Faults::new(config.clone());
            (0..50)
                .map(|_| f.next_action("/users").is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|h| **h).count();
        assert!((5..=25).contains(&hits), "{hits} of 50");
    }
}
