//! `fieldValidation` (spec §3.7): how a request's body treats fields its kind does not have —
//! `Strict` refuses them (400, or 422 for a patch), `Warn` drops them with a `Warning: 299`
//! header each (kubectl prints `Warning: unknown field "…"`), `Ignore` drops them silently. Unset
//! is `Warn`, as in the apiserver. The directive and the warnings live for one request (a task
//! local set around its handler), so that every kind's decoder honours it without each handler
//! passing it along.

use super::*;
use beluga_api::manifest::{ManifestError, ValidateMode};

struct Request {
    mode: ValidateMode,
    warnings: std::sync::Mutex<Vec<String>>,
}

tokio::task_local! {
    static REQUEST: Request;
}

/// The directive of the query; a value the apiserver does not know is its 400.
pub(super) fn mode_of(q: &HashMap<String, Vec<String>>) -> Result<ValidateMode, ApiError> {
    match q1(q, "fieldValidation").unwrap_or("Warn") {
        "Strict" => Ok(ValidateMode::Strict),
        "Warn" | "" => Ok(ValidateMode::Warn),
        "Ignore" => Ok(ValidateMode::Ignore),
        other => Err(ApiError::new(
            400,
            "BadRequest",
            format!("fieldValidation parameter unsupported: {other}: supported values are Ignore, Warn, Strict"),
        )),
    }
}

/// Runs a request's handler under `mode`; its warnings become `Warning` headers.
pub(super) async fn scoped(
    mode: ValidateMode,
    handler: impl std::future::Future<Output = Result<Response<ResBody>, ApiError>>,
) -> Result<Response<ResBody>, ApiError> {
    let req = Request {
        mode,
        warnings: std::sync::Mutex::new(Vec::new()),
    };
    REQUEST
        .scope(req, async {
            let mut resp = handler.await?;
            let warnings = REQUEST.with(|r| std::mem::take(&mut *lock(&r.warnings)));
            for w in warnings {
                let text = format!("299 - {}", serde_json::Value::from(w));
                if let Ok(v) = hyper::header::HeaderValue::from_str(&text) {
                    resp.headers_mut().append(hyper::header::WARNING, v);
                }
            }
            Ok(resp)
        })
        .await
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request body of `kind`, decoded under the request's directive (Strict outside one).
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    body: &[u8],
    kind: &'static str,
) -> Result<T, ApiError> {
    let mode = REQUEST.try_with(|r| r.mode).unwrap_or(ValidateMode::Strict);
    let (object, unknown) = beluga_api::manifest::from_json_with(body, kind, mode)
        .map_err(|e: ManifestError| ApiError::new(400, "BadRequest", e.apiserver_message()))?;
    if mode == ValidateMode::Warn && !unknown.is_empty() {
        let _ = REQUEST.try_with(|r| {
            lock(&r.warnings).extend(unknown.iter().map(|f| format!("unknown field {f:?}")))
        });
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec §3.7: the three directives, Warn when unset (the apiserver's default since 1.23).
    #[test]
    fn directives() {
        let q = |v: &str| super::super::query::from_pairs(&[("fieldValidation", v)]);
        assert_eq!(mode_of(&HashMap::new()).ok(), Some(ValidateMode::Warn));
        assert_eq!(mode_of(&q("Strict")).ok(), Some(ValidateMode::Strict));
        assert_eq!(mode_of(&q("Warn")).ok(), Some(ValidateMode::Warn));
        assert_eq!(mode_of(&q("Ignore")).ok(), Some(ValidateMode::Ignore));
        assert_eq!(mode_of(&q("strict")).map_err(|e| e.code).err(), Some(400));
    }

    #[tokio::test]
    async fn warnings_become_headers_and_strict_refuses() {
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"dta":{}}"#;
        let resp = scoped(ValidateMode::Warn, async {
            decode::<beluga_api::ConfigMap>(body, "ConfigMap")?;
            Ok(json(StatusCode::OK, &()))
        })
        .await
        .expect("warned");
        let warnings: Vec<_> = resp
            .headers()
            .get_all(hyper::header::WARNING)
            .iter()
            .collect();
        assert_eq!(warnings, ["299 - \"unknown field \\\"dta\\\"\""]);
        let strict = scoped(ValidateMode::Strict, async {
            decode::<beluga_api::ConfigMap>(body, "ConfigMap")?;
            Ok(json(StatusCode::OK, &()))
        })
        .await;
        let e = strict.expect_err("refused");
        assert_eq!(
            e.message,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"dta\""
        );
    }
}
