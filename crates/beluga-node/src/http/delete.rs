//! A DELETE's options (kubectl-api §3.11): kubectl sends `DeleteOptions` in the body —
//! `gracePeriodSeconds`, and `dryRun: ["All"]` for `--dry-run=server` — where the query may
//! carry them too.

use super::*;

/// What a DELETE asks beyond its object.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DeleteOptions {
    pub grace: Option<i64>,
    pub dry_run: bool,
}

/// The body's options over the query's (`gracePeriodSeconds`); a body that is no JSON object
/// is ignored, as before.
pub(super) fn options(
    q: &HashMap<String, Vec<String>>,
    body: &[u8],
) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions {
        grace: q1(q, "gracePeriodSeconds").and_then(|g| g.parse::<i64>().ok()),
        dry_run: false,
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(o);
    };
    o.grace = o
        .grace
        .or(v.get("gracePeriodSeconds").and_then(|g| g.as_i64()));
    let values: Vec<String> = v
        .get("dryRun")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    o.dry_run = crate::dry_run::parse(&values).map_err(|m| ApiError::new(400, "BadRequest", m))?;
    Ok(o)
}

/// Runs a delete with the request's options, as a dry run when the body (or the query) asks.
pub(super) async fn deleting(
    req: Request<Incoming>,
    delete: impl FnOnce(Option<i64>) -> Result<Response<ResBody>, ApiError>,
) -> Result<Response<ResBody>, ApiError> {
    let q = query(req.uri());
    let body = body_bytes(req).await?;
    let o = options(&q, &body)?;
    let dry = o.dry_run || crate::dry_run::active();
    crate::dry_run::scoped(dry, async move { delete(o.grace) }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_options_from_the_body_and_the_query() {
        let q = |pairs: &[(&str, &str)]| super::super::query::from_pairs(pairs);
        let none = q(&[]);
        assert_eq!(options(&none, b"").unwrap(), DeleteOptions::default());
        assert_eq!(
            options(&none, br#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"propagationPolicy":"Background"}"#).unwrap(),
            DeleteOptions { grace: None, dry_run: true }
        );
        assert_eq!(
            options(
                &q(&[("gracePeriodSeconds", "3")]),
                br#"{"gracePeriodSeconds":9}"#
            )
            .unwrap(),
            DeleteOptions {
                grace: Some(3),
                dry_run: false
            }
        );
        assert_eq!(
            options(&none, br#"{"gracePeriodSeconds":0}"#)
                .unwrap()
                .grace,
            Some(0)
        );
        assert!(options(&none, br#"{"dryRun":["Some"]}"#).is_err());
    }
}
