//! The query string: percent-decoding and kubectl's parameters (`q1`, `q_bool`).

use super::*;

pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters; repeated keys (`command=a&command=b`) keep every value in order.
pub fn query(uri: &hyper::Uri) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    m
}

/// A query from `(key, value)` pairs (tests).
#[cfg(test)]
pub fn from_pairs(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect()
}

pub fn q1<'a>(q: &'a HashMap<String, Vec<String>>, k: &str) -> Option<&'a str> {
    q.get(k).and_then(|v| v.first()).map(String::as_str)
}

pub fn q_bool(q: &HashMap<String, Vec<String>>, k: &str) -> bool {
    matches!(q1(q, k), Some("1" | "true" | ""))
}

/// The request's `labelSelector` and `fieldSelector`, for a kind with `fields`; a bad one is
/// the apiserver's 400.
pub fn selectors(
    q: &HashMap<String, Vec<String>>,
    fields: &[&str],
) -> Result<beluga_api::selector::Selectors, ApiError> {
    beluga_api::selector::Selectors::parse(q1(q, "labelSelector"), q1(q, "fieldSelector"), fields)
        .map_err(|e| ApiError::new(400, "BadRequest", e))
}

/// The items the request's selectors pick (all of them without selectors).
pub fn selected<T: serde::Serialize>(
    items: Vec<T>,
    uri: &hyper::Uri,
    fields: &[&str],
) -> Result<Vec<T>, ApiError> {
    let sel = selectors(&query(uri), fields)?;
    if sel.labels.is_empty() && sel.fields.is_empty() {
        return Ok(items);
    }
    Ok(items
        .into_iter()
        .filter(|i| sel.matches(&serde_json::to_value(i).unwrap_or_default()))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding_never_panics() {
        assert_eq!(super::percent_decode("a%20b+c"), "a b c");
        assert_eq!(super::percent_decode("%é%"), "%é%");
        assert_eq!(super::percent_decode("%2"), "%2");
        assert_eq!(super::percent_decode("%zz"), "%zz");
    }
}
