//! Rate limits (governor, GCRA): per client address before authentication, then per caller
//! with the quota of the caller's most generous role. State is in this process only: with N
//! instances behind a balancer a client gets up to N times the quota, which the balancer's
//! own spreading keeps close to the quota in practice.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{NotUntil, Quota, RateLimiter};
use serde::Deserialize;

use crate::domain::caller::{Caller, Role};

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Before authentication, per client address: "100/s", "30/min" or "1000/h".
    pub per_ip: String,
    pub per_ip_burst: u32,
    /// A header carrying the client's address, set only behind a proxy that overwrites it
    /// (e.g. "x-forwarded-for"); empty: the connection's peer address.
    pub forwarded_header: String,
    /// Per caller, by role.
    pub roles: BTreeMap<String, RoleQuota>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoleQuota {
    pub rate: String,
    pub burst: u32,
}

/// A rate as configured: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    /// Parses "N/s", "N/min" or "N/h".
    pub fn parse(text: &str) -> Result<Rate, String> {
        let (count, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: expected a rate such as 30/min"))?;
        let count: NonZeroU32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: the count must be a whole number above 0"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("`{text}`: unknown unit `{other}` (s, min or h)")),
        };
        Ok(Rate { count, per })
    }

    /// Requests per hour, to compare rates.
    fn hourly(self) -> f64 {
        f64::from(self.count.get()) * 3600.0 / self.per.as_secs_f64()
    }

    fn quota(self, burst: u32) -> Quota {
        let period = self.per / self.count.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .expect("the period is above zero")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("at least 1"))
    }
}

/// A keyed GCRA limiter that reports the bucket's state with each decision, for the
/// RateLimit fields.
type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

fn limiter<K: std::hash::Hash + Eq + Clone>(quota: Quota) -> Limiter<K> {
    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>()
}

/// Where a client stands in one policy after a request, as the IETF RateLimit header
/// fields (draft-ietf-httpapi-ratelimit-headers) report it. GCRA is a bucket of `burst`
/// requests refilled one per period: the quota is the burst, the window the time it takes
/// to refill, and the reset the time until it is full again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// `ip`, or the role whose quota applies.
    pub policy: &'static str,
    pub quota: u32,
    pub window_seconds: u64,
    pub remaining: u32,
    pub reset_seconds: u64,
}

impl Standing {
    fn new(policy: &'static str, quota: Quota, remaining: u32) -> Standing {
        let burst = quota.burst_size().get();
        let period = quota.replenish_interval();
        Standing {
            policy,
            quota: burst,
            window_seconds: ceil_seconds(period * burst),
            remaining,
            reset_seconds: ceil_seconds(period * (burst - remaining.min(burst))),
        }
    }
}

/// Over the limit: how long to wait, and the standing (nothing remaining).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub wait: Duration,
    pub standing: Standing,
}

/// Whole seconds, rounded up: acting earlier would only be refused again.
pub fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn decide(
    policy: &'static str,
    outcome: Result<StateSnapshot, NotUntil<<DefaultClock as Clock>::Instant>>,
) -> Result<Standing, Refusal> {
    match outcome {
        Ok(state) => Ok(Standing::new(
            policy,
            state.quota(),
            state.remaining_burst_capacity(),
        )),
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut standing = Standing::new(policy, not_until.quota(), 0);
            standing.reset_seconds = standing.reset_seconds.max(ceil_seconds(wait));
            Err(Refusal { wait, standing })
        }
    }
}

pub struct RateLimits {
    per_ip: Limiter<IpAddr>,
    /// Each role's limiter with its rate, most generous first.
    per_role: Vec<(Role, Limiter<String>)>,
    pub forwarded_header: Option<String>,
}

impl RateLimits {
    /// `None` when limits are off.
    pub fn from_settings(settings: &RateLimitSettings) -> Result<Option<RateLimits>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let per_ip = limiter(Rate::parse(&settings.per_ip)?.quota(settings.per_ip_burst));
        let mut roles = Vec::new();
        for (name, quota) in &settings.roles {
            let role: Role = name.parse()?;
            let rate = Rate::parse(&quota.rate).map_err(|e| format!("role {name}: {e}"))?;
            roles.push((role, rate, quota.burst));
        }
        if let Some(missing) = Role::ALL
            .iter()
            .find(|r| !roles.iter().any(|(role, _, _)| role == *r))
        {
            return Err(format!(
                "rate_limits.roles has no quota for the role `{}`",
                missing.as_str()
            ));
        }
        roles.sort_by(|a, b| b.1.hourly().total_cmp(&a.1.hourly()));
        Ok(Some(RateLimits {
            per_ip,
            per_role: roles
                .into_iter()
                .map(|(role, rate, burst)| (role, limiter(rate.quota(burst))))
                .collect(),
            forwarded_header: Some(settings.forwarded_header.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        }))
    }

    /// Counts the request against the client address's quota.
    pub fn check_ip(&self, ip: IpAddr) -> Result<Standing, Refusal> {
        decide("ip", self.per_ip.check_key(&ip))
    }

    /// Counts the request against the caller's most generous role; `None` when no role
    /// of the caller has a quota.
    pub fn check_caller(&self, caller: &Caller) -> Option<Result<Standing, Refusal>> {
        let (role, limiter) = self.per_role.iter().find(|(role, _)| caller.has(*role))?;
        Some(decide(role.as_str(), limiter.check_key(&caller.subject)))
    }

    /// Forgets keys whose limit has fully recovered: memory follows the active clients.
    pub fn prune(&self) {
        self.per_ip.retain_recent();
        self.per_ip.shrink_to_fit();
        for (_, limiter) in &self.per_role {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys held, for the tests of the pruning.
    pub fn tracked(&self) -> usize {
        self.per_ip.len() + self.per_role.iter().map(|(_, l)| l.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_bad_ones_say_why() {
        assert_eq!(Rate::parse("30/min").unwrap().per, Duration::from_secs(60));
        assert_eq!(Rate::parse(" 50 / s ").unwrap().count.get(), 50);
        for bad in ["30", "0/s", "x/s", "5/week", "-1/min"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_the_standing_counts_down() {
        let limiter = limiter(Rate::parse("1/min").unwrap().quota(3));
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let standing = decide("traveller", limiter.check_key(&"alice")).unwrap();
            assert_eq!((standing.quota, standing.window_seconds), (3, 180));
            remaining.push((standing.remaining, standing.reset_seconds));
        }
        assert_eq!(remaining, [(2, 60), (1, 120), (0, 180)]);
        let refusal = decide("traveller", limiter.check_key(&"alice")).unwrap_err();
        assert!(
            refusal.wait > Duration::from_secs(15) && refusal.wait <= Duration::from_secs(60),
            "{refusal:?}"
        );
        assert_eq!(refusal.standing.remaining, 0);
        let bob = decide("traveller", limiter.check_key(&"bob")).unwrap();
        assert_eq!(bob.remaining, 2, "keys are independent");
    }
}
