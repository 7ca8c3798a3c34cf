//! Realistic submissions: thousands of travellers in ten organisations, every sample area,
//! 1..4 legs over the next 90 days, and the mix the issue names: 85% low or medium risk,
//! 10% high, 4% very high, 1% held or refused.

use chrono::{Days, NaiveDate, Utc};
use serde_json::{Value, json};

pub const ORGS: [&str; 10] = [
    "UNICEF", "WFP", "UNHCR", "UNDP", "OCHA", "IOM", "UNFPA", "WHO", "FAO", "UNOPS",
];
pub const TRAVELLERS: usize = 5000;

const LOW_OR_MEDIUM: [&str; 4] = ["CHE-GVA", "JOR-AMM", "KEN-NBO", "ETH-ADD"];
const HIGH: [&str; 2] = ["SSD-JUB", "SOM-BAY"];
const VERY_HIGH: [&str; 3] = ["SOM-MOG", "AFG-KBL", "HTI-PAP"];
const HELD_OR_REFUSED: [&str; 4] = ["NER-NIA", "COD-GOM", "MLI-MNK", "SDN-KRT"];
/// Every area a generated request may name (the sample's, less the one expiring soon).
pub const AREAS: [&str; 13] = [
    "CHE-GVA", "JOR-AMM", "KEN-NBO", "ETH-ADD", "SSD-JUB", "SOM-BAY", "SOM-MOG", "AFG-KBL",
    "HTI-PAP", "NER-NIA", "COD-GOM", "MLI-MNK", "SDN-KRT",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    LowOrMedium,
    High,
    VeryHigh,
    HeldOrRefused,
}

/// A submission ready to send: which organisation's travel unit sends it, and the body.
pub struct Submission {
    pub org: usize,
    pub body: Vec<u8>,
}

pub struct Workload {
    rng: fastrand::Rng,
    today: NaiveDate,
}

impl Workload {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            today: Utc::now().date_naive(),
        }
    }

    fn day(&self, offset: u64) -> String {
        (self.today + Days::new(offset)).to_string()
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.usize(..from.len())]
    }

    pub fn class(&mut self) -> Class {
        match self.rng.u32(..100) {
            0..85 => Class::LowOrMedium,
            85..95 => Class::High,
            95..99 => Class::VeryHigh,
            _ => Class::HeldOrRefused,
        }
    }

    pub fn submission(&mut self) -> Submission {
        let class = self.class();
        let traveller = self.rng.usize(..TRAVELLERS);
        let org = traveller % ORGS.len();
        let legs = self.rng.usize(1..=4);
        let special = self.rng.usize(..legs);
        let mut day = self.rng.u64(1..=80);
        let mut itinerary = Vec::with_capacity(legs);
        for i in 0..legs {
            let area = match (i == special, class) {
                (true, Class::High) => self.pick(&HIGH),
                (true, Class::VeryHigh) => self.pick(&VERY_HIGH),
                (true, Class::HeldOrRefused) => self.pick(&HELD_OR_REFUSED),
                _ => self.pick(&LOW_OR_MEDIUM),
            };
            let stay = self.rng.u64(0..=3);
            itinerary.push(
                json!({"area": area, "arrival": self.day(day), "departure": self.day(day + stay)}),
            );
            day += stay;
        }
        let pc = match class {
            Class::VeryHigh => "PC1",
            Class::High => ["PC1", "PC2"][self.rng.usize(..2)],
            _ => ["PC1", "PC2", "PC3", "PC4"][self.rng.usize(..4)],
        };
        let body: Value = json!({
            "traveller": {
                "id": format!("t-{traveller:05}"),
                "name": format!("Traveller {traveller}"),
                "org": ORGS[org],
                "bsafe_valid_until": self.day(700),
                "ssafe_valid_until": self.day(700),
            },
            "purpose": "Programme delivery and monitoring",
            "programme_criticality": pc,
            "mission_sra_reference": (class == Class::VeryHigh).then(|| format!("MSRA-{}", self.rng.u32(1000..9999))),
            "legs": itinerary,
        });
        Submission {
            org,
            body: serde_json::to_vec(&body).expect("a JSON value serialises"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_close_to_what_the_scenarios_promise() {
        let mut workload = Workload::new(7);
        let mut counts = [0usize; 4];
        for _ in 0..100_000 {
            counts[workload.class() as usize] += 1;
        }
        let share = |n: usize| n as f64 / 1000.0;
        assert!((84.0..86.0).contains(&share(counts[0])), "{counts:?}");
        assert!((9.5..10.5).contains(&share(counts[1])), "{counts:?}");
        assert!((3.6..4.4).contains(&share(counts[2])), "{counts:?}");
        assert!((0.8..1.2).contains(&share(counts[3])), "{counts:?}");
    }

    #[test]
    fn submissions_are_well_formed_itineraries() {
        let mut workload = Workload::new(11);
        for _ in 0..1000 {
            let s = workload.submission();
            let body: Value = serde_json::from_slice(&s.body).unwrap();
            let legs = body["legs"].as_array().unwrap();
            assert!((1..=4).contains(&legs.len()));
            for pair in legs.windows(2) {
                assert!(pair[0]["departure"].as_str() <= pair[1]["arrival"].as_str());
            }
            assert_eq!(body["traveller"]["org"], ORGS[s.org]);
        }
    }
}
