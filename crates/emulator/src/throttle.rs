//! Throttling as Microsoft documents it for identity and access (docs/graph.md §5;
//! Microsoft Graph docs `throttling-limits.md`, "Identity and access service limits").
//!
//! Token buckets in ResourceUnits per app + tenant per 10 s, sized by tenant (S < 50 users:
//! 3,500; M 50–500: 5,000; L > 500: 8,000); writes 3,000 per 150 s per app + tenant; reports
//! (sign-ins, audits, authentication methods) 5 requests per 10 s per app + tenant; Conditional
//! Access 1 request per second per tenant, whose 429 carries no `Retry-After`.

use std::collections::HashMap;

use axum::http::Method;
use tokio::time::Instant;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// ResourceUnits per app + tenant.
    ResourceUnits,
    /// Writes per app + tenant.
    Writes,
    /// Reports APIs per app + tenant.
    Reports,
    /// Conditional Access per tenant.
    ConditionalAccess,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, window_secs: f64) -> Self {
        Self {
            tokens: capacity,
            capacity,
            per_second: capacity / window_secs,
            last: Instant::now(),
        }
    }

    /// Takes `cost`, or says how many seconds until it could.
    fn take(&mut self, cost: f64) -> Result<(), f64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        if self.tokens >= cost {
            self.tokens -= cost;
            Ok(())
        } else {
            Err((cost - self.tokens) / self.per_second)
        }
    }

    fn used_fraction(&self) -> f64 {
        1.0 - self.tokens / self.capacity
    }
}

/// What a request costs and which budgets it draws on.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// ResourceUnits (reported in `x-ms-resource-unit`).
    pub resource_units: u32,
    /// Whether it is a write.
    pub write: bool,
    /// The special budget it also draws on, if any.
    pub special: Option<Budget>,
}

/// The documented cost of a request (docs/graph.md §5). `path` is after `/v1.0`.
pub fn charge(method: &Method, path: &str, query: &str) -> Charge {
    let write = method != Method::GET && method != Method::HEAD;
    let lower = path.to_ascii_lowercase();
    let segments: Vec<&str> = lower.trim_matches('/').split('/').collect();
    let special = if lower.starts_with("/identity/conditionalaccess") {
        Some(Budget::ConditionalAccess)
    } else if lower.starts_with("/auditlogs/")
        || lower.starts_with("/reports/")
        || (segments.first() == Some(&"users") && segments.get(2) == Some(&"authentication"))
    {
        Some(Budget::Reports)
    } else {
        None
    };
    if write {
        return Charge {
            resource_units: 1,
            write: true,
            special,
        };
    }
    let base: i32 = match segments.as_slice() {
        ["users"] | ["users", "delta"] => 2,
        ["applications"] | ["applications", "delta"] => 2,
        ["groups", _, "members"] => 3,
        ["groups", _, "transitivemembers"] => 5,
        ["oauth2permissiongrants"] | ["oauth2permissiongrants", "delta"] => 2,
        ["serviceprincipals", _, "approleassignments"] => 2,
        _ => 1,
    };
    let query = query.to_ascii_lowercase();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&query).unwrap_or_default();
    let has = |name: &str| params.iter().any(|(k, _)| k == name);
    let mut cost = base;
    if has("$select") {
        cost -= 1;
    }
    if has("$expand") {
        cost += 1;
    }
    if params
        .iter()
        .any(|(k, v)| k == "$top" && v.parse::<u32>().is_ok_and(|t| t < 20))
    {
        cost -= 1;
    }
    Charge {
        resource_units: cost.max(1) as u32,
        write: false,
        special,
    }
}

/// Throttling configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// Multiplies every documented limit; `0` switches throttling off.
    pub scale: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self { scale: 1.0 }
    }
}

/// A refusal: 429 with `Retry-After` (absent for Conditional Access).
#[derive(Debug, Clone, PartialEq)]
pub struct Throttled {
    /// Seconds to wait, when Graph says: a decimal, as Graph writes it (`Retry-After: 2.128`
    /// in Microsoft Graph docs `concepts/throttling.md`).
    pub retry_after: Option<f64>,
    /// The `x-ms-throttle-scope` header value.
    pub scope: String,
}

/// Outcome of an admitted request.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// ResourceUnits charged.
    pub resource_units: u32,
    /// The share of the ResourceUnit budget in use, reported above 0.8: Graph's
    /// `x-ms-throttle-limit-percentage` is a decimal from 0.8 to 1.8
    /// (`concepts/throttling-limits.md`, "Regular responses").
    pub limit_percentage: Option<f64>,
}

/// Every bucket of every tenant and app.
#[derive(Debug, Default)]
pub struct Throttler {
    buckets: HashMap<(String, String, Budget), Bucket>,
}

impl Throttler {
    /// Charges a request; `users` is the tenant's user count (its size class).
    ///
    /// # Errors
    /// [`Throttled`] when a budget is exhausted.
    pub fn admit(
        &mut self,
        config: ThrottleConfig,
        tenant: &str,
        client: &str,
        users: usize,
        charge: &Charge,
    ) -> Result<Admitted, Throttled> {
        if config.scale <= 0.0 {
            return Ok(Admitted {
                resource_units: charge.resource_units,
                limit_percentage: None,
            });
        }
        let s = config.scale;
        let ru_capacity = match users {
            0..50 => 3_500.0,
            50..=500 => 5_000.0,
            _ => 8_000.0,
        } * s;
        if let Some(special) = charge.special {
            // Conditional Access is counted per tenant, whatever the app.
            let owner = if special == Budget::ConditionalAccess {
                ""
            } else {
                client
            };
            let (capacity, window) = match special {
                Budget::ConditionalAccess => (1.0 * s, 1.0),
                _ => (5.0 * s, 10.0),
            };
            let bucket = self
                .buckets
                .entry((tenant.to_owned(), owner.to_owned(), special))
                .or_insert_with(|| Bucket::new(capacity.max(1.0), window));
            if let Err(wait) = bucket.take(1.0) {
                return Err(Throttled {
                    retry_after: (special != Budget::ConditionalAccess)
                        .then(|| retry_seconds(wait)),
                    scope: throttle_scope("ReadWrite", client, tenant),
                });
            }
        }
        if charge.write {
            let bucket = self
                .buckets
                .entry((tenant.to_owned(), client.to_owned(), Budget::Writes))
                .or_insert_with(|| Bucket::new((3_000.0 * s).max(1.0), 150.0));
            if let Err(wait) = bucket.take(1.0) {
                return Err(Throttled {
                    retry_after: Some(retry_seconds(wait)),
                    scope: throttle_scope("Write", client, tenant),
                });
            }
        }
        let bucket = self
            .buckets
            .entry((tenant.to_owned(), client.to_owned(), Budget::ResourceUnits))
            .or_insert_with(|| Bucket::new(ru_capacity.max(1.0), 10.0));
        match bucket.take(f64::from(charge.resource_units)) {
            Ok(()) => {
                let used = (bucket.used_fraction() * 1000.0).round() / 1000.0;
                Ok(Admitted {
                    resource_units: charge.resource_units,
                    limit_percentage: (used > 0.8).then_some(used),
                })
            }
            Err(wait) => Err(Throttled {
                retry_after: Some(retry_seconds(wait)),
                scope: throttle_scope("ReadWrite", client, tenant),
            }),
        }
    }

    /// Forgets every bucket (after a configuration change).
    pub fn reset(&mut self) {
        self.buckets.clear();
    }
}

/// The wait, in seconds to the millisecond, as Graph writes `Retry-After` (`2.128`).
fn retry_seconds(wait: f64) -> f64 {
    (wait * 1000.0).ceil().max(1.0) / 1000.0
}

/// `x-ms-throttle-scope`: `<Scope>/<Limit>/<ApplicationId>/<TenantId|UserId|ResourceId>`
/// (`concepts/throttling-limits.md`, "Throttled responses").
fn throttle_scope(limit: &str, client: &str, tenant: &str) -> String {
    format!("Tenant_Application/{limit}/{client}/{tenant}")
}

/// A number of seconds or a share as a header value: at most three decimals, no trailing
/// zeros (`2.128`, `0.85`, `3`).
pub(crate) fn decimal_header(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_documented_table() {
        let get = Method::GET;
        assert_eq!(charge(&get, "/users", "").resource_units, 2);
        assert_eq!(charge(&get, "/users", "$select=id").resource_units, 1);
        assert_eq!(
            charge(&get, "/groups/x/members", "$top=10").resource_units,
            2
        );
        assert_eq!(
            charge(&get, "/groups/x/transitiveMembers", "$expand=manager").resource_units,
            6
        );
        assert_eq!(
            charge(&get, "/devices", "$select=id&$top=5").resource_units,
            1
        );
        let post = charge(&Method::POST, "/users", "");
        assert!(post.write);
        assert_eq!(
            charge(&get, "/identity/conditionalAccess/policies", "").special,
            Some(Budget::ConditionalAccess)
        );
        assert_eq!(
            charge(&get, "/users/u1/authentication/methods", "").special,
            Some(Budget::Reports)
        );
    }

    #[test]
    fn a_small_tenant_gets_3500_units_then_429_with_retry_after() {
        let mut t = Throttler::default();
        let c = Charge {
            resource_units: 500,
            write: false,
            special: None,
        };
        let config = ThrottleConfig::default();
        for _ in 0..7 {
            t.admit(config, "t", "a", 10, &c).unwrap();
        }
        let refused = t.admit(config, "t", "a", 10, &c).unwrap_err();
        assert!(refused.retry_after.is_some_and(|s| s > 0.0));
        assert_eq!(refused.scope, "Tenant_Application/ReadWrite/a/t");
        // Another app in the same tenant has its own bucket.
        t.admit(config, "t", "b", 10, &c).unwrap();
    }

    #[test]
    fn conditional_access_429_has_no_retry_after() {
        let mut t = Throttler::default();
        let c = Charge {
            resource_units: 1,
            write: false,
            special: Some(Budget::ConditionalAccess),
        };
        let config = ThrottleConfig::default();
        t.admit(config, "t", "a", 10, &c).unwrap();
        let refused = t.admit(config, "t", "other-app", 10, &c).unwrap_err();
        assert_eq!(refused.retry_after, None);
    }

    #[test]
    fn header_decimals_are_written_as_graph_writes_them() {
        assert_eq!(decimal_header(2.128), "2.128");
        assert_eq!(decimal_header(0.85), "0.85");
        assert_eq!(decimal_header(3.0), "3");
        assert_eq!(retry_seconds(0.0), 0.001);
        assert_eq!(retry_seconds(2.1271), 2.128);
    }

    #[test]
    fn scale_zero_switches_throttling_off() {
        let mut t = Throttler::default();
        let c = Charge {
            resource_units: 100_000,
            write: true,
            special: Some(Budget::Reports),
        };
        for _ in 0..100 {
            t.admit(ThrottleConfig { scale: 0.0 }, "t", "a", 10, &c)
                .unwrap();
        }
    }
}
