//! Which module may import which: the layers import downward only (domain <- app <- http and
//! cli; store, cache and notify are adapters below the app), and a new import that breaks
//! the rule, or closes a cycle, fails this test. `docs/architecture.md` draws the picture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and the top-level modules it may import.
#[rustfmt::skip]
const ALLOWED: &[(&str, &[&str])] = &[
    ("error_code", &[]),
    ("tls", &[]),
    ("shutdown", &[]),
    ("telemetry", &[]),
    ("domain", &["error_code"]),
    ("metrics", &["domain"]),
    ("rate_limits", &["domain"]),
    ("auth", &["domain", "error_code", "shutdown", "tls"]),
    ("store", &["domain", "error_code", "metrics"]),
    // The services own the traits of the adapters below (`app::ports`); the store's traits
    // are its own top module, its backends below it.
    ("app", &["domain", "error_code", "shutdown", "store"]),
    // Adapters that implement the services' ports.
    ("cache", &["app", "domain", "error_code", "metrics", "shutdown", "store", "tls"]),
    // notify relays live events between instances over the cache's Redis connection.
    ("notify", &["app", "cache", "domain", "error_code", "shutdown", "store", "tls"]),
    // The edges.
    ("cli", &["app", "domain", "error_code"]),
    (
        "http",
        &[
            "app", "auth", "cache", "domain", "error_code", "metrics", "notify", "rate_limits",
            "shutdown", "store",
        ],
    ),
    // Where it is all put together.
    (
        "config",
        &[
            "app", "auth", "cache", "domain", "http", "notify", "rate_limits", "store",
            "telemetry",
        ],
    ),
    (
        "startup",
        &[
            "app", "auth", "cache", "config", "domain", "error_code", "http", "metrics", "notify",
            "rate_limits", "shutdown", "store", "telemetry", "tls",
        ],
    ),
];

/// The top-level modules each file of `module` imports through `crate::`, outside tests.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut found: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let module = relative
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            if ["lib", "main", "layers"].contains(&module.as_str()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (at, _) in code.match_indices("crate::") {
                let target: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if target != module && !target.is_empty() {
                    found
                        .entry(module.clone())
                        .or_default()
                        .insert((target, relative.clone()));
                }
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (module, targets) in imports(&src) {
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{module}: a new top-level module; give it a row in ALLOWED"
            ));
            continue;
        };
        for (target, file) in targets {
            if !may.contains(&target.as_str()) {
                wrong.push(format!("src/{file} imports crate::{target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_table_has_no_cycle() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    // Depth-first: a module met again while still on the path closes a cycle.
    fn visit<'a>(
        module: &'a str,
        allowed: &BTreeMap<&'a str, &'a [&'a str]>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        assert!(!path.contains(&module), "cycle: {path:?} -> {module}");
        if !done.insert(module) {
            return;
        }
        path.push(module);
        for next in allowed.get(module).copied().unwrap_or_default() {
            visit(next, allowed, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in allowed.keys() {
        visit(module, &allowed, &mut Vec::new(), &mut done);
    }
}
