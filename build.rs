//! Embeds the web page's language files: every `src/http/ui/i18n/<language>.json` becomes
//! one entry of `LANGUAGES`, so adding a language is adding one file (no code to touch).

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("src/http/ui/i18n");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut languages: Vec<String> = fs::read_dir(dir)
        .expect("src/http/ui/i18n exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            println!("cargo:rerun-if-changed={}", path.display());
            (path.extension()? == "json").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    languages.sort();
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let entries: String = languages
        .iter()
        .map(|tag| {
            format!(
                "    ({tag:?}, include_str!({:?})),\n",
                format!("{root}/src/http/ui/i18n/{tag}.json")
            )
        })
        .collect();
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("languages.rs");
    fs::write(
        out,
        format!("/// (language tag, its strings as JSON), by tag.\npub const LANGUAGES: &[(&str, &str)] = &[\n{entries}];\n"),
    )
    .expect("OUT_DIR is writable");
}
