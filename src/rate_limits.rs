//! Rate limits (governor, GCRA): per client address before authentication, then per caller
//! with the quota of the caller's most generous role. State is in this process only: with N
//! instances behind a balancer a client gets up to N times the quota, which the balancer's
//! own spreading keeps close to the quota in practice.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
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

pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Each role's limiter with its rate, most generous first.
    per_role: Vec<(Role, DefaultKeyedRateLimiter<String>)>,
    pub forwarded_header: Option<String>,
}

impl RateLimits {
    /// `None` when limits are off.
    pub fn from_settings(settings: &RateLimitSettings) -> Result<Option<RateLimits>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let per_ip = DefaultKeyedRateLimiter::keyed(
            Rate::parse(&settings.per_ip)?.quota(settings.per_ip_burst),
        );
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
                .map(|(role, rate, burst)| {
                    (role, DefaultKeyedRateLimiter::keyed(rate.quota(burst)))
                })
                .collect(),
            forwarded_header: Some(settings.forwarded_header.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        }))
    }

    /// `Err(wait)` when the address is over its limit.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.per_ip
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Counts the request against the caller's most generous role.
    pub fn check_caller(&self, caller: &Caller) -> Result<(), Duration> {
        let Some((_, limiter)) = self.per_role.iter().find(|(role, _)| caller.has(*role)) else {
            return Ok(());
        };
        limiter
            .check_key(&caller.subject)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
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
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = DefaultKeyedRateLimiter::keyed(Rate::parse("1/min").unwrap().quota(3));
        for _ in 0..3 {
            assert!(limiter.check_key(&"alice").is_ok());
        }
        let wait = limiter
            .check_key(&"alice")
            .map_err(|n| n.wait_time_from(DefaultClock::default().now()))
            .unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(limiter.check_key(&"bob").is_ok(), "keys are independent");
    }
}
