//! `dryRun=All` (kubectl-api §3.6, §3.8; `kubectl apply|create|delete --dry-run=server`,
//! `kubectl diff`): a write admitted, defaulted, validated and answered as it would be made, then
//! not made — nothing stored, allocated, announced or started. The mark lives for one request (a
//! task local set around its handler, as the apiserver carries it in the request's options) and
//! is read at each store's commit point, so that every write path — POST, PUT, PATCH, apply,
//! DELETE, of every kind — honours it.

tokio::task_local! {
    static DRY_RUN: bool;
}

/// Whether the request being served is a dry run (never, outside a request).
pub fn active() -> bool {
    DRY_RUN.try_with(|d| *d).unwrap_or(false)
}

/// Runs a request's handler, a dry run or not.
pub async fn scoped<F: std::future::Future>(dry: bool, handler: F) -> F::Output {
    DRY_RUN.scope(dry, handler).await
}

/// The query's `dryRun` values: none is a write, `All` a dry run; anything else is refused in
/// the apiserver's words.
pub fn parse(values: &[String]) -> Result<bool, String> {
    match values.iter().find(|v| v.as_str() != "All") {
        Some(other) => Err(format!(
            "Invalid dryRun: Unsupported value: {other:?}: supported values: \"All\""
        )),
        None => Ok(!values.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_values() {
        assert_eq!(parse(&[]), Ok(false));
        assert_eq!(parse(&["All".into()]), Ok(true));
        assert_eq!(
            parse(&["x".into()]),
            Err("Invalid dryRun: Unsupported value: \"x\": supported values: \"All\"".into())
        );
    }

    #[tokio::test]
    async fn the_mark_lives_for_its_request_only() {
        assert!(!active());
        assert!(scoped(true, async { active() }).await);
        assert!(!scoped(false, async { active() }).await);
        assert!(!active());
    }
}
