//! JSON input, parsed with the field at fault named by JSON pointer: the API's bodies and
//! the files the command line imports.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::AppError;
use crate::error_code::Code;

/// Parses JSON; a syntax error is a 400, a value that does not fit the schema a 422 naming
/// the field by JSON pointer.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    // Tracking the path costs an allocation per field; only a body that fails needs it, so it
    // is parsed again, the same way, to say where.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = match parsed {
        Ok(value) => value,
        Err(e) => {
            let inner = e.inner();
            if !inner.is_data() {
                return Err(AppError::new(Code::MalformedJson, inner.to_string()));
            }
            let mut pointer = json_pointer(e.path());
            let message = inner.to_string();
            // serde reports a missing or unknown field at its parent; point at the field itself.
            if let Some(name) = quoted_after(&message, "missing field `")
                .or_else(|| quoted_after(&message, "unknown field `"))
            {
                let tail = format!("/{}", escape(name));
                if !pointer.ends_with(&tail) {
                    pointer.push_str(&tail);
                }
            }
            let detail = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            return Err(AppError::invalid_field(pointer, detail));
        }
    };
    deserializer.end().map_err(|e| {
        AppError::new(
            Code::MalformedJson,
            format!("trailing characters after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => pointer.push_str(&format!("/{}", escape(key))),
            Segment::Enum { variant } => pointer.push_str(&format!("/{}", escape(variant))),
            Segment::Unknown => {}
        }
    }
    pointer
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// A JSON Schema `integer`: any number without a fractional part, `2.0` included, which
/// serde's integers refuse. For the integer fields of request bodies.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        // 2^63 is exactly representable; everything below it that is whole converts exactly.
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < 9_223_372_036_854_775_808.0 => {
            Ok(f as i64)
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number, not {number}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        legs: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        arrival: chrono::NaiveDate,
        area: String,
    }

    #[test]
    fn errors_point_at_the_field() {
        let cases = [
            (
                r#"{"legs":[{"arrival":"2026-13-01","area":"X"}]}"#,
                "/legs/0/arrival",
            ),
            (r#"{"legs":[{"area":"X"}]}"#, "/legs/0/arrival"),
            (
                r#"{"legs":[{"arrival":"2026-12-01","area":"X","extra":1}]}"#,
                "/legs/0/extra",
            ),
            (r#"{"legs":{}}"#, "/legs"),
        ];
        for (body, field) in cases {
            let problem = parse_json::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(problem.code, Code::InvalidField, "{body}");
            assert_eq!(
                problem.field.as_deref(),
                Some(field),
                "{body}: {}",
                problem.detail
            );
        }
    }

    #[test]
    fn syntax_errors_and_deep_nesting_are_malformed_json() {
        for body in [&b"{"[..], b"{\"legs\": []} trailing", b"not json"] {
            assert_eq!(
                parse_json::<Outer>(body).unwrap_err().code,
                "malformed_json"
            );
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse_json::<serde_json::Value>(deep.as_bytes())
                .unwrap_err()
                .code,
            "malformed_json"
        );
    }

    #[test]
    fn whole_numbers_are_integers_as_json_schema_counts_them() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "whole_number")]
            n: i64,
        }
        for (text, n) in [("2", 2), ("2.0", 2), ("-7.0", -7), ("1e3", 1000)] {
            let body: Body = serde_json::from_str(&format!("{{\"n\": {text}}}")).unwrap();
            assert_eq!(body.n, n, "{text}");
        }
        for bad in ["2.5", "1e19", "\"2\"", "null"] {
            assert!(
                serde_json::from_str::<Body>(&format!("{{\"n\": {bad}}}")).is_err(),
                "{bad}"
            );
        }
    }
}
