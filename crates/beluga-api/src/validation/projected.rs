//! The apiserver's checks of volumes made from objects (`validateConfigMapVolumeSource`,
//! `validateSecretVolumeSource`, `validateDownwardAPIVolumeSource`,
//! `validateProjectedVolumeSource`), in its words.

use super::local_descending_path;
use crate::field::FieldError;
use k8s_openapi::api::core::v1::{
    DownwardAPIVolumeFile, KeyToPath, ProjectedVolumeSource, ResourceFieldSelector, Volume,
};
use std::collections::HashSet;

const FILE_MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// The fieldRef paths a downwardAPI volume may project, sorted as `sets.List` prints them.
const VOLUME_FIELD_PATHS: [&str; 5] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// `validContainerResourceFieldPathExpressions`, sorted.
pub(super) const RESOURCES: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Every check of a volume made from objects at `path` (`spec.volumes[i]`).
pub(super) fn validate(errs: &mut Vec<FieldError>, path: &str, v: &Volume) {
    if let Some(c) = v.config_map.as_ref() {
        let p = format!("{path}.configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        mode(errs, &format!("{p}.defaultMode"), c.default_mode);
        items(errs, &p, c.items.as_deref().unwrap_or(&[]));
    }
    if let Some(s) = v.secret.as_ref() {
        let p = format!("{path}.secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(format!("{p}.secretName"), ""));
        }
        mode(errs, &format!("{p}.defaultMode"), s.default_mode);
        items(errs, &p, s.items.as_deref().unwrap_or(&[]));
    }
    if let Some(d) = v.downward_api.as_ref() {
        let p = format!("{path}.downwardAPI");
        mode(errs, &format!("{p}.defaultMode"), d.default_mode);
        for f in d.items.iter().flatten() {
            downward_file(errs, &p, f);
        }
    }
    if let Some(pr) = v.projected.as_ref() {
        let p = format!("{path}.projected");
        mode(errs, &format!("{p}.defaultMode"), pr.default_mode);
        sources(errs, &p, pr);
    }
}

fn mode(errs: &mut Vec<FieldError>, path: &str, m: Option<i32>) {
    if let Some(m) = m.filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(path, m, FILE_MODE));
    }
}

fn items(errs: &mut Vec<FieldError>, path: &str, items: &[KeyToPath]) {
    for (i, kp) in items.iter().enumerate() {
        key_to_path(errs, &format!("{path}.items[{i}]"), kp);
    }
}

/// `validateKeyToPath`.
fn key_to_path(errs: &mut Vec<FieldError>, path: &str, kp: &KeyToPath) {
    if kp.key.is_empty() {
        errs.push(FieldError::required(format!("{path}.key"), ""));
    }
    if kp.path.is_empty() {
        errs.push(FieldError::required(format!("{path}.path"), ""));
    }
    non_reserved_path(errs, &format!("{path}.path"), &kp.path);
    mode(errs, &format!("{path}.mode"), kp.mode);
}

/// `ValidateLocalNonReservedPath`: a descending relative path not starting with `..` (the
/// atomic writer's names).
fn non_reserved_path(errs: &mut Vec<FieldError>, path: &str, value: &str) {
    local_descending_path(errs, path, value);
    if value.starts_with("..") && !value.starts_with("../") {
        errs.push(FieldError::invalid(path, value, "must not start with '..'"));
    }
}

/// `validateDownwardAPIVolumeFile` (its errors under `path`, the source's own path, as the
/// apiserver reports them).
fn downward_file(errs: &mut Vec<FieldError>, path: &str, f: &DownwardAPIVolumeFile) {
    if f.path.is_empty() {
        errs.push(FieldError::required(format!("{path}.path"), ""));
    }
    non_reserved_path(errs, &format!("{path}.path"), &f.path);
    match (f.field_ref.as_ref(), f.resource_field_ref.as_ref()) {
        (Some(fr), other) => {
            field_selector(errs, &format!("{path}.fieldRef"), &fr.field_path);
            if other.is_some() {
                errs.push(FieldError::invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(r)) => resource_selector(errs, &format!("{path}.resourceFieldRef"), r, true),
        (None, None) => errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    mode(errs, &format!("{path}.mode"), f.mode);
}

/// `validateObjectFieldSelector` with the volume's paths: a subscript only on labels and
/// annotations.
fn field_selector(errs: &mut Vec<FieldError>, path: &str, fp: &str) {
    if fp.is_empty() {
        errs.push(FieldError::required(format!("{path}.fieldPath"), ""));
        return;
    }
    if let Some((base, _)) = fp.split_once("['").filter(|_| fp.ends_with("']")) {
        if base != "metadata.labels" && base != "metadata.annotations" {
            errs.push(FieldError::invalid(
                path,
                base,
                "does not support subscript",
            ));
        }
    } else if !VOLUME_FIELD_PATHS.contains(&fp) {
        errs.push(FieldError::not_supported(
            format!("{path}.fieldPath"),
            fp,
            &VOLUME_FIELD_PATHS,
        ));
    }
}

/// `validateContainerResourceFieldSelector` (a volume's names its container) and
/// `validateContainerResourceDivisor`.
pub(super) fn resource_selector(
    errs: &mut Vec<FieldError>,
    path: &str,
    r: &ResourceFieldSelector,
    volume: bool,
) {
    let hugepages = r.resource.starts_with("limits.hugepages-")
        || r.resource.starts_with("requests.hugepages-");
    if volume && r.container_name.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(format!("{path}.containerName"), ""));
    } else if r.resource.is_empty() {
        errs.push(FieldError::required(format!("{path}.resource"), ""));
    } else if !RESOURCES.contains(&r.resource.as_str()) && !hugepages {
        errs.push(FieldError::not_supported(
            format!("{path}.resource"),
            r.resource.as_str(),
            &RESOURCES,
        ));
    }
    let Some(d) = r
        .divisor
        .as_ref()
        .map(|d| d.0.trim())
        .filter(|d| !is_unset(d))
    else {
        return;
    };
    const BYTES: [&str; 13] = [
        "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
    ];
    let (ok, what) = match r.resource.as_str() {
        "limits.cpu" | "requests.cpu" => (["1m", "1"].contains(&d), "1m and 1 are supported with the cpu resource"),
        "limits.memory" | "requests.memory" => (BYTES.contains(&d), "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"),
        "limits.ephemeral-storage" | "requests.ephemeral-storage" => (BYTES.contains(&d), "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"),
        _ if hugepages => (BYTES.contains(&d), "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource"),
        _ => (true, ""),
    };
    if !ok {
        errs.push(FieldError::invalid(
            format!("{path}.divisor"),
            r.resource.as_str(),
            format!("only divisor's values {what}"),
        ));
    }
}

/// A divisor of zero is an unset one.
fn is_unset(d: &str) -> bool {
    d.is_empty() || d.trim_start_matches(['0', '.']).is_empty()
}

/// `validateProjectionSources`: one kind per source, items as a volume's, no path twice.
fn sources(errs: &mut Vec<FieldError>, path: &str, p: &ProjectedVolumeSource) {
    let mut seen = HashSet::new();
    let mut duplicate = |errs: &mut Vec<FieldError>, p: &str, value: &str| {
        if !p.is_empty() && !seen.insert(p.to_string()) {
            errs.push(FieldError::invalid(
                path,
                value,
                "conflicting duplicate paths",
            ));
        }
    };
    for (i, s) in p.sources.iter().flatten().enumerate() {
        let sp = format!("{path}.sources[{i}]");
        let mut kinds = 0;
        if let Some(sec) = s.secret.as_ref() {
            kinds += 1;
            let p = format!("{sp}.secret");
            if sec.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.name"), ""));
            }
            for (j, kp) in sec.items.iter().flatten().enumerate() {
                key_to_path(errs, &format!("{p}.items[{j}]"), kp);
                duplicate(errs, &kp.path, &sec.name);
            }
        }
        if let Some(cm) = s.config_map.as_ref() {
            kinds += 1;
            let p = format!("{sp}.configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.name"), ""));
            }
            for (j, kp) in cm.items.iter().flatten().enumerate() {
                key_to_path(errs, &format!("{p}.items[{j}]"), kp);
                duplicate(errs, &kp.path, &cm.name);
            }
        }
        if let Some(d) = s.downward_api.as_ref() {
            kinds += 1;
            for f in d.items.iter().flatten() {
                downward_file(errs, &format!("{sp}.downwardAPI"), f);
                duplicate(errs, &f.path, &f.path);
            }
        }
        if let Some(t) = s.service_account_token.as_ref() {
            kinds += 1;
            let p = format!("{sp}.serviceAccountToken");
            if t.path.is_empty() {
                errs.push(FieldError::required(format!("{p}.path"), ""));
            }
            non_reserved_path(errs, &format!("{p}.path"), &t.path);
            match t.expiration_seconds {
                Some(e) if e < 600 => errs.push(FieldError::invalid(
                    format!("{p}.expirationSeconds"),
                    e,
                    "may not specify a duration less than 10 minutes",
                )),
                Some(e) if e > 1 << 32 => errs.push(FieldError::invalid(
                    format!("{p}.expirationSeconds"),
                    e,
                    "may not specify a duration larger than 2^32 seconds",
                )),
                _ => {}
            }
            duplicate(errs, &t.path, &t.path);
        }
        kinds += usize::from(s.cluster_trust_bundle.is_some());
        if kinds > 1 {
            errs.push(FieldError::forbidden(
                sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
}
