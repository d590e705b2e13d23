//! Namespaces (issue 16 item 1), pure: the apiserver's defaulting (the
//! `kubernetes.io/metadata.name` label, the `kubernetes` finalizer, phase `Active`),
//! `ValidateNamespace[Update]`, the NamespaceLifecycle admission's words, and kubectl's
//! `printNamespace` / `describeNamespace`.

use crate::describe::{map_lines, tabwrite};
use crate::duration::human_duration;
use crate::field::FieldError;
use crate::table::{column, Column};
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use k8s_openapi::jiff::Timestamp;

/// The namespaces every cluster has.
pub const INITIAL: [&str; 4] = ["default", "kube-node-lease", "kube-public", "kube-system"];

/// The namespaces NamespaceLifecycle never lets go.
pub const IMMORTAL: [&str; 3] = ["default", "kube-public", "kube-system"];

/// The label the apiserver sets on every namespace, its name as a selectable value.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

pub const ACTIVE: &str = "Active";
pub const TERMINATING: &str = "Terminating";

/// The apiserver's defaulting and the strategy's `PrepareForCreate`.
pub fn apply_defaults(ns: &mut Namespace) {
    let name = ns.metadata.name.clone().unwrap_or_default();
    ns.metadata.namespace = None;
    ns.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(NAME_LABEL.into(), name);
    let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
    if spec.finalizers.as_ref().is_none_or(|f| f.is_empty()) {
        spec.finalizers = Some(vec!["kubernetes".into()]);
    }
    ns.status = Some(NamespaceStatus {
        phase: Some(ACTIVE.into()),
        ..Default::default()
    });
}

/// A namespace as the apiserver makes it at start.
pub fn initial(name: &str) -> Namespace {
    let mut ns = Namespace {
        metadata: crate::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    apply_defaults(&mut ns);
    ns
}

/// `ValidateNamespace`: the name is a DNS-1123 label.
pub fn validate(ns: &Namespace) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match ns.metadata.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(n) => {
            for msg in crate::validation::dns1123_label(n) {
                errs.push(FieldError::invalid("metadata.name", n, msg));
            }
        }
    }
    errs
}

/// `ValidateNamespaceUpdate`: the name stays (the spec's finalizers are the server's).
pub fn validate_update(new: &Namespace, old: &Namespace) -> Vec<FieldError> {
    let mut errs = validate(new);
    if new.metadata.name != old.metadata.name {
        errs.push(FieldError::invalid(
            "metadata.name",
            new.metadata.name.as_deref().unwrap_or(""),
            "field is immutable",
        ));
    }
    errs
}

/// The admission's refusal of new content in a namespace being deleted.
pub fn terminating_message(resource: &str, name: &str, ns: &str) -> String {
    format!("{resource} {name:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated")
}

/// The phase, `Active` when unset.
pub fn phase(ns: &Namespace) -> &str {
    ns.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or(ACTIVE)
}

/// `namespaceColumnDefinitions`.
pub fn columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
        column("Status", "", 0, "The status of the namespace"),
        column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
    ]
}

/// `printNamespace`: name, phase, age.
pub fn row(ns: &Namespace, now: Timestamp) -> Vec<String> {
    let age = ns
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or("<unknown>".into(), |t| {
            human_duration(now.duration_since(t.0))
        });
    vec![
        ns.metadata.name.clone().unwrap_or_default(),
        phase(ns).to_string(),
        age,
    ]
}

/// `describeNamespace` for a namespace without quotas or limit ranges.
pub fn describe(ns: &Namespace) -> String {
    let mut out = format!("Name:\t{}\n", ns.metadata.name.clone().unwrap_or_default());
    map_lines(&mut out, "Labels", ns.metadata.labels.as_ref());
    map_lines(&mut out, "Annotations", ns.metadata.annotations.as_ref());
    out.push_str(&format!("Status:\t{}\n", phase(ns)));
    out.push_str("\nNo resource quota.\n\nNo LimitRange resource.\n");
    tabwrite(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        let ns = initial("elastic-stack");
        assert_eq!(
            ns.metadata.labels.as_ref().unwrap()[NAME_LABEL],
            "elastic-stack"
        );
        assert_eq!(ns.spec.unwrap().finalizers.unwrap(), ["kubernetes"]);
        assert_eq!(phase(&initial("x")), "Active");
        let msgs = |name: &str| -> Vec<String> {
            let mut ns = initial(name);
            ns.metadata.name = Some(name.into());
            validate(&ns).iter().map(|e| e.to_string()).collect()
        };
        assert!(msgs("elastic-stack").is_empty());
        assert_eq!(msgs("Bad.Name"), ["metadata.name: Invalid value: \"Bad.Name\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]);
        assert_eq!(
            terminating_message("pods", "p", "gone"),
            "pods \"p\" is forbidden: unable to create new content in namespace gone because it is being terminated"
        );
    }

    #[test]
    fn rows_and_describe() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let mut ns = initial("web");
        ns.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                now - std::time::Duration::from_secs(120),
            ));
        assert_eq!(row(&ns, now), ["web", "Active", "2m"]);
        assert_eq!(
            describe(&ns),
            "Name:         web\nLabels:       kubernetes.io/metadata.name=web\nAnnotations:  <none>\nStatus:       Active\n\nNo resource quota.\n\nNo LimitRange resource.\n"
        );
    }
}
