//! The messages, in English and French, as plain text and HTML from one outline: the words
//! are in `i18n/<language>.json` (flat keys, `{name}` placeholders, `one`/`other` plurals),
//! every value put into HTML is escaped.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use crate::domain::person::Language;

const FILES: [(&str, &str); 2] = [
    ("en", include_str!("i18n/en.json")),
    ("fr", include_str!("i18n/fr.json")),
];

fn words() -> &'static HashMap<&'static str, HashMap<String, Value>> {
    static WORDS: OnceLock<HashMap<&'static str, HashMap<String, Value>>> = OnceLock::new();
    WORDS.get_or_init(|| {
        FILES
            .iter()
            .map(|(tag, json)| {
                let map: HashMap<String, Value> =
                    serde_json::from_str(json).expect("the mail language files are valid JSON");
                (*tag, map)
            })
            .collect()
    })
}

/// One language's words.
#[derive(Clone, Copy)]
pub struct Words {
    language: Language,
}

impl Words {
    pub fn new(language: Language) -> Self {
        Self { language }
    }

    /// The text of `key` with its placeholders filled; the key itself if it is missing (a
    /// unit test makes sure none is).
    pub fn t(&self, key: &str, values: &[(&str, &str)]) -> String {
        let raw = words()
            .get(self.language.as_str())
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or(key);
        fill(raw, values)
    }

    /// `key`'s `one` or `other` form for `n`.
    pub fn plural(&self, key: &str, n: usize, values: &[(&str, &str)]) -> String {
        // English and French: one for 1 (French also for 0).
        let one = n == 1 || (n == 0 && self.language.as_str() == "fr");
        let form = if one { "one" } else { "other" };
        let raw = words()
            .get(self.language.as_str())
            .and_then(|m| m.get(key))
            .and_then(|v| v.get(form))
            .and_then(Value::as_str)
            .unwrap_or(key);
        let count = n.to_string();
        let mut all: Vec<(&str, &str)> = vec![("n", &count)];
        all.extend_from_slice(values);
        fill(raw, &all)
    }

    /// `10 December 2026`, `10 décembre 2026`.
    pub fn date(&self, date: NaiveDate) -> String {
        let month = self.t(&format!("month.{}", date.month()), &[]);
        self.t(
            "date",
            &[
                ("day", &date.day().to_string()),
                ("month", &month),
                ("year", &date.year().to_string()),
            ],
        )
    }
}

impl Words {
    /// `10 December 2026, 14:05 UTC`.
    pub fn datetime(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        self.t(
            "datetime",
            &[
                ("date", &self.date(at.date_naive())),
                ("time", &at.format("%H:%M").to_string()),
            ],
        )
    }
}

fn fill(raw: &str, values: &[(&str, &str)]) -> String {
    let mut out = raw.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A message's outline, rendered as text and as HTML.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(String),
    List(Vec<String>),
    /// A sentence ending in a URL, shown as a link in HTML.
    Link {
        text: String,
        url: String,
    },
}

impl Letter {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for block in &self.blocks {
            match block {
                Block::Paragraph(p) => out.push_str(p),
                Block::List(items) => {
                    let lines: Vec<String> = items.iter().map(|i| format!("- {i}")).collect();
                    out.push_str(&lines.join("\n"));
                }
                Block::Link { text, .. } => out.push_str(text),
            }
            out.push_str("\n\n");
        }
        out.trim_end().to_owned() + "\n"
    }

    pub fn html(&self, language: Language) -> String {
        let mut body = String::new();
        for block in &self.blocks {
            match block {
                Block::Paragraph(p) => body.push_str(&format!("<p>{}</p>\n", escape(p))),
                Block::List(items) => {
                    body.push_str("<ul>\n");
                    for item in items {
                        body.push_str(&format!("<li>{}</li>\n", escape(item)));
                    }
                    body.push_str("</ul>\n");
                }
                Block::Link { text, url } => {
                    let label = text.strip_suffix(url.as_str()).unwrap_or(text).trim_end();
                    body.push_str(&format!(
                        "<p>{} <a href=\"{}\">{}</a></p>\n",
                        escape(label),
                        escape(url),
                        escape(url)
                    ));
                }
            }
        }
        format!(
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{body}</body>\n</html>\n",
            language.as_str(),
            escape(&self.subject)
        )
    }
}

/// HTML text and attribute escaping.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The tags of the languages the mail files cover, for the test that they are the service's.
pub fn languages() -> Vec<&'static str> {
    FILES.iter().map(|(tag, _)| *tag).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_speaks_exactly_the_services_languages() {
        assert_eq!(languages(), crate::domain::person::LANGUAGES.to_vec());
    }

    #[test]
    fn every_language_says_everything_english_says() {
        let all = words();
        let en = &all["en"];
        for (tag, map) in all {
            for (key, value) in en {
                let other = map
                    .get(key)
                    .unwrap_or_else(|| panic!("{tag}.json lacks {key}"));
                let placeholders = |v: &Value| {
                    let text = v.to_string();
                    let mut names: Vec<String> = text
                        .split('{')
                        .skip(1)
                        .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_owned()))
                        .collect();
                    names.sort();
                    names.dedup();
                    names
                };
                assert_eq!(placeholders(value), placeholders(other), "{tag}: {key}");
            }
            assert_eq!(map.len(), en.len(), "{tag}.json has keys English lacks");
        }
    }

    #[test]
    fn html_escapes_what_people_wrote() {
        let letter = Letter {
            subject: "A <b>".into(),
            blocks: vec![
                Block::Paragraph("Tom & \"Jerry\" <script>".into()),
                Block::Link {
                    text: "Open: https://x.example/#request=1".into(),
                    url: "https://x.example/#request=1".into(),
                },
            ],
        };
        let html = letter.html(Language::ENGLISH);
        assert!(html.contains("Tom &amp; &quot;Jerry&quot; &lt;script&gt;"));
        assert!(html.contains("<title>A &lt;b&gt;</title>"));
        assert!(html.contains("<a href=\"https://x.example/#request=1\">"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn dates_and_plurals_in_each_language() {
        let fr = Words::new(Language::parse("", "fr").unwrap());
        let en = Words::new(Language::ENGLISH);
        let day = NaiveDate::from_ymd_opt(2026, 8, 1).unwrap();
        assert_eq!(en.date(day), "1 August 2026");
        assert_eq!(fr.date(day), "1 août 2026");
        assert_eq!(
            en.plural("subject.digest", 1, &[]),
            "Clearway: 1 request entered your queue"
        );
        assert_eq!(
            en.plural("subject.digest", 3, &[]),
            "Clearway: 3 requests entered your queue"
        );
        assert_eq!(
            fr.plural("subject.digest", 2, &[]),
            "Clearway : 2 demandes sont entrées dans votre file"
        );
    }
}
