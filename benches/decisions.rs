//! Regressions on the hot path without a server: the pure policy evaluation of a request,
//! and an area-risk lookup answered by the in-process cache tier.

use std::path::Path;
use std::sync::Arc;

use chrono::{Days, Utc};
use clearway::cache::AreaRiskCache;
use clearway::config::Settings;
use clearway::domain::area::AreaCode;
use clearway::domain::criticality::ProgrammeCriticality;
use clearway::domain::itinerary::{Itinerary, Leg};
use clearway::domain::policy::evaluate;
use clearway::domain::request::{ClearanceRequest, OrgId, Traveller, TravellerId};
use clearway::startup::Services;
use criterion::{Criterion, criterion_group, criterion_main};

fn settings(dir: &Path) -> Settings {
    let mut settings = Settings::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
        "development",
    )
    .unwrap();
    settings.database.url = format!("sqlite://{}", dir.join("bench.db").display());
    settings.redis.url = String::new();
    settings.log.filter = "error".into();
    settings
}

fn request(areas: &[&str]) -> ClearanceRequest {
    let today = Utc::now().date_naive();
    let legs = areas
        .iter()
        .enumerate()
        .map(|(i, area)| {
            Leg::stay(
                AreaCode::parse("", area).unwrap(),
                today + Days::new(10 + 3 * i as u64),
                today + Days::new(12 + 3 * i as u64),
            )
        })
        .collect();
    ClearanceRequest::new(
        Traveller::new(
            TravellerId::parse("", "t-1").unwrap(),
            "Traveller",
            OrgId::parse("", "UNICEF").unwrap(),
            Some(today + Days::new(700)),
            Some(today + Days::new(700)),
        )
        .unwrap(),
        "Programme monitoring",
        ProgrammeCriticality::Pc1,
        Some("MSRA-1"),
        Itinerary::parse(legs, today).unwrap(),
    )
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let sample = std::fs::read_to_string(settings.config_dir.join("sample-sras.json")).unwrap();
    let (cache, policy): (Arc<AreaRiskCache>, _) = runtime.block_on(async {
        let services = Services::open(&settings).await.unwrap();
        clearway::cli::sra_import::import(
            &services.publishing,
            &services.air_operators,
            &services.clearing,
            &sample,
            Utc::now().date_naive(),
        )
        .await
        .unwrap();
        (services.cache.clone(), settings.load_policy().unwrap())
    });
    let areas = ["KEN-NBO", "SOM-MOG", "SSD-JUB"];
    let risks: Vec<_> = runtime.block_on(async {
        let mut risks = Vec::new();
        for area in areas {
            risks.push(
                cache
                    .get(&AreaCode::parse("", area).unwrap())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        risks
    });
    let trip = request(&areas);

    c.bench_function("policy: evaluate a three-leg request", |b| {
        b.iter(|| {
            evaluate(
                std::hint::black_box(&trip),
                |code| risks.iter().find(|r| &r.area.code == code).map(Arc::as_ref),
                |_| None,
                &policy,
            )
        })
    });

    let code = AreaCode::parse("", "SOM-MOG").unwrap();
    c.bench_function("cache: area risk from the in-process tier", |b| {
        b.to_async(&runtime)
            .iter(|| async { cache.get(std::hint::black_box(&code)).await.unwrap() })
    });
}

criterion_group!(decisions, benches);
criterion_main!(decisions);
