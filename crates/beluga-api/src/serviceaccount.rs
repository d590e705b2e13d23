//! ServiceAccounts (issue 16 item 5), pure: `ValidateServiceAccount`, kubectl's
//! `printServiceAccount` / `describeServiceAccount`, the `default` account the service-account
//! controller makes in every namespace, the `kube-root-ca.crt` ConfigMap the root-CA publisher
//! makes there, and the ServiceAccount admission plugin's changes to a new pod: its account
//! named (`default` when unset) and looked up, and, unless automounting is off, the projected
//! `kube-api-access-<5>` volume (token, `ca.crt`, namespace) mounted read-only in every
//! container at `/var/run/secrets/kubernetes.io/serviceaccount`
//! (plugin/pkg/admission/serviceaccount/admission.go).

use crate::describe::{map_lines, tabwrite};
use crate::duration::human_duration;
use crate::field::FieldError;
use crate::table::{column, Column};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, Container, DownwardAPIProjection, DownwardAPIVolumeFile,
    KeyToPath, ObjectFieldSelector, ProjectedVolumeSource, ServiceAccount,
    ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::jiff::Timestamp;

use crate::{ObjectMeta, Pod};

/// The account a pod runs as when it names none.
pub const DEFAULT: &str = "default";

/// The admission plugin's volume name before its 5 random characters.
pub const VOLUME_PREFIX: &str = "kube-api-access-";

/// Where every container finds its token, CA and namespace.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The ConfigMap with the cluster's CA in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// `serviceaccount.WarnOnlyBoundTokenExpirationSeconds`: the admission's token lifetime, which
/// the apiserver extends to a year (warning after this many seconds).
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 3607;

/// The root-CA publisher's description of its ConfigMap.
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The `default` account of `ns`, as the service-account controller makes it.
pub fn default_account(ns: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `kube-root-ca.crt` of `ns`, holding the cluster CA's certificate.
pub fn root_ca_config_map(ns: &str, ca_pem: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(ROOT_CA_CONFIG_MAP.into()),
            namespace: Some(ns.into()),
            annotations: Some(
                [(
                    "kubernetes.io/description".to_string(),
                    ROOT_CA_DESCRIPTION.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        data: Some([("ca.crt".to_string(), ca_pem.to_string())].into()),
        ..Default::default()
    }
}

/// `ValidateServiceAccount`: the name is a DNS subdomain, and so is each secret it names.
pub fn validate(sa: &ServiceAccount) -> Vec<FieldError> {
    let mut errs = Vec::new();
    crate::validation::subdomain_name(&mut errs, &sa.metadata);
    errs
}

/// `ValidateServiceAccountUpdate`: as a create (the name is the URL's).
pub fn validate_update(new: &ServiceAccount, _old: &ServiceAccount) -> Vec<FieldError> {
    validate(new)
}

/// `serviceAccountColumnDefinitions`.
pub fn columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
        column("Secrets", "integer", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret"),
        column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
    ]
}

/// `printServiceAccount`: name, how many secrets it lists, age.
pub fn row(sa: &ServiceAccount, now: Timestamp) -> Vec<String> {
    let age = sa
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or("<unknown>".into(), |t| {
            human_duration(now.duration_since(t.0))
        });
    vec![
        sa.metadata.name.clone().unwrap_or_default(),
        sa.secrets.as_ref().map_or(0, |s| s.len()).to_string(),
        age,
    ]
}

/// `describeServiceAccount` (no token secrets: tokens are bound, never stored).
pub fn describe(sa: &ServiceAccount) -> String {
    let m = &sa.metadata;
    let mut out = format!(
        "Name:\t{}\nNamespace:\t{}\n",
        m.name.clone().unwrap_or_default(),
        m.namespace.clone().unwrap_or_default()
    );
    map_lines(&mut out, "Labels", m.labels.as_ref());
    map_lines(&mut out, "Annotations", m.annotations.as_ref());
    let names = |v: Vec<String>| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.join("\n\t")
        }
    };
    let pull: Vec<String> = sa
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect();
    let mountable: Vec<String> = sa
        .secrets
        .iter()
        .flatten()
        .map(|r| r.name.clone().unwrap_or_default())
        .collect();
    out.push_str(&format!("Image pull secrets:\t{}\n", names(pull)));
    out.push_str(&format!("Mountable secrets:\t{}\n", names(mountable)));
    out.push_str("Tokens:\t<none>\n");
    tabwrite(&out)
}

/// The admission's refusal of a pod whose account does not exist.
pub fn missing_account_message(pod: &str, ns: &str, account: &str) -> String {
    format!("pods {pod:?} is forbidden: error looking up service account {ns}/{account}: serviceaccount {account:?} not found")
}

/// The account a pod runs as.
pub fn account_of(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT)
}

/// The admission plugin on a new pod whose account `sa` exists: `serviceAccountName` (and the
/// deprecated `serviceAccount`) set, the account's `imagePullSecrets` for a pod without any, and
/// the token volume added unless automounting is off
/// (the pod's choice over the account's). `suffix` is the volume name's 5 random characters.
pub fn admit(pod: &mut Pod, sa: &ServiceAccount, suffix: &str) {
    let name = account_of(pod).to_string();
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.service_account_name = Some(name.clone());
    spec.service_account = Some(name);
    // The account's pull secrets, for a pod that names none.
    if spec
        .image_pull_secrets
        .as_ref()
        .is_none_or(|s| s.is_empty())
    {
        if let Some(pull) = sa.image_pull_secrets.as_ref().filter(|s| !s.is_empty()) {
            spec.image_pull_secrets = Some(pull.clone());
        }
    }
    let automount = spec
        .automount_service_account_token
        .or(sa.automount_service_account_token)
        .unwrap_or(true);
    if automount {
        mount_token(spec, suffix);
    }
}

/// `mountServiceAccountToken`: every container without a mount at the path gets one of the
/// pod's `kube-api-access-…` volume (its own, or one made now if a container needs it).
fn mount_token(spec: &mut k8s_openapi::api::core::v1::PodSpec, suffix: &str) {
    let existing = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name.starts_with(VOLUME_PREFIX))
        .map(|v| v.name.clone());
    let name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let mount = VolumeMount {
        name: name.clone(),
        read_only: Some(true),
        mount_path: MOUNT_PATH.into(),
        ..Default::default()
    };
    let mut needed = false;
    let inits = spec.init_containers.iter_mut().flatten();
    for c in inits.chain(spec.containers.iter_mut()) {
        if !has_mount_at_path(c) {
            c.volume_mounts
                .get_or_insert_with(Vec::new)
                .push(mount.clone());
            needed = true;
        }
    }
    if existing.is_none() && needed {
        spec.volumes.get_or_insert_with(Vec::new).push(Volume {
            name,
            projected: Some(token_volume_source()),
            ..Default::default()
        });
    }
}

fn has_mount_at_path(c: &Container) -> bool {
    c.volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path == MOUNT_PATH)
}

/// `TokenVolumeSource`: the token, the cluster CA and the namespace, mode 0644.
pub fn token_volume_source() -> ProjectedVolumeSource {
    ProjectedVolumeSource {
        default_mode: Some(0o644),
        sources: Some(vec![
            VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".into(),
                    expiration_seconds: Some(WARN_ONLY_EXPIRATION_SECONDS),
                    ..Default::default()
                }),
                ..Default::default()
            },
            VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name: ROOT_CA_CONFIG_MAP.into(),
                    items: Some(vec![KeyToPath {
                        key: "ca.crt".into(),
                        path: "ca.crt".into(),
                        mode: None,
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            VolumeProjection {
                downward_api: Some(DownwardAPIProjection {
                    items: Some(vec![DownwardAPIVolumeFile {
                        path: "namespace".into(),
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: "metadata.namespace".into(),
                        }),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            },
        ]),
    }
}

/// What the admission added to `old` when it was created, carried to its replacement `new`
/// when the user's manifest leaves it out (as kubectl's apply keeps the server's fields): the
/// account names, the token volume, and its mount in each container that had it (a manifest
/// with the volume but not every mount, as the seed notes' `app`, included).
pub fn carry_admitted(old: &Pod, new: &mut Pod) {
    let (Some(os), Some(ns)) = (old.spec.as_ref(), new.spec.as_mut()) else {
        return;
    };
    if ns.service_account_name.as_deref().is_none_or(str::is_empty) {
        ns.service_account_name = os.service_account_name.clone();
    }
    if ns.service_account.as_deref().is_none_or(str::is_empty) {
        ns.service_account = os.service_account.clone();
    }
    let Some(vol) = os
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name.starts_with(VOLUME_PREFIX))
    else {
        return;
    };
    let vols = ns.volumes.get_or_insert_with(Vec::new);
    if !vols.iter().any(|v| v.name == vol.name) {
        vols.push(vol.clone());
    }
    let old_containers: Vec<&Container> = os
        .init_containers
        .iter()
        .flatten()
        .chain(os.containers.iter())
        .collect();
    let inits = ns.init_containers.iter_mut().flatten();
    for c in inits.chain(ns.containers.iter_mut()) {
        let had = old_containers
            .iter()
            .find(|o| o.name == c.name)
            .and_then(|o| {
                o.volume_mounts
                    .iter()
                    .flatten()
                    .find(|m| m.name == vol.name)
            });
        if let Some(m) = had.filter(|_| !has_mount_at_path(c)) {
            c.volume_mounts.get_or_insert_with(Vec::new).push(m.clone());
        }
    }
    if ns.volumes.as_ref().is_some_and(|v| v.is_empty()) {
        ns.volumes = None;
    }
}

/// The 5 characters of `names.SimpleNameGenerator` from 64 random bits.
pub fn name_suffix(mut bits: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut s = String::with_capacity(5);
    for _ in 0..5 {
        s.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
        bits /= ALPHABET.len() as u64;
    }
    s
}

#[cfg(test)]
mod tests;
