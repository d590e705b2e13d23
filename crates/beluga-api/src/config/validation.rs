//! kube-apiserver's `ValidateConfigMap` / `ValidateConfigMapUpdate` and `ValidateSecret` /
//! `ValidateSecretUpdate` (`pkg/apis/core/validation/validation.go`), in their check order and
//! words. A Secret is validated after `apply_secret_defaults` (its `stringData` already in
//! `data`, as the apiserver converts it before validating).

use super::*;
use crate::field::{dedup, FieldError};
use crate::validation::{label_errors, subdomain_name};
use crate::ObjectMeta;

const KEY_FMT: &str = "[-._a-zA-Z0-9]+";
/// `RegexError(configMapKeyErrMsg, configMapKeyFmt, "key.name", "KEY_NAME", "key_name")`.
const KEY_ERR: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')";
const IMMUTABLE: &str = "field is immutable when `immutable` is set";
const REDACTED: &str = "<secret contents redacted>";

/// `IsConfigMapKey`: the key's problems (also a Secret's and a projected item's key).
pub fn config_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
    if !ok {
        debug_assert!(KEY_ERR.ends_with(&format!("'{KEY_FMT}')")));
        errs.push(KEY_ERR.to_string());
    }
    match key {
        "." => errs.push("must not be '.'".into()),
        ".." => errs.push("must not be '..'".into()),
        k if k.starts_with("..") => errs.push("must not start with '..'".into()),
        _ => {}
    }
    errs
}

/// `ValidateObjectMeta` with `NameIsDNSSubdomain`, for the fields a create carries.
fn validate_meta(errs: &mut Vec<FieldError>, meta: &ObjectMeta) {
    subdomain_name(errs, meta);
    if let Some(ns) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
        label_errors(errs, "metadata.namespace", ns);
    }
}

fn keys<'a>(errs: &mut Vec<FieldError>, bag: &str, keys: impl Iterator<Item = &'a String>) {
    for k in keys {
        for msg in config_key(k) {
            errs.push(FieldError::invalid(format!("{bag}[{k}]"), k.as_str(), msg));
        }
    }
}

/// `ValidateConfigMap`.
pub fn validate_config_map(c: &ConfigMap) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_meta(&mut errs, &c.metadata);
    let (data, binary) = (
        c.data.clone().unwrap_or_default(),
        c.binary_data.clone().unwrap_or_default(),
    );
    for k in data.keys() {
        keys(&mut errs, "data", std::iter::once(k));
        if binary.contains_key(k) {
            let msg = "duplicate of key present in binaryData";
            errs.push(FieldError::invalid(format!("data[{k}]"), k.as_str(), msg));
        }
    }
    keys(&mut errs, "binaryData", binary.keys());
    let size: usize = data.values().map(String::len).sum::<usize>()
        + binary.values().map(|v| v.0.len()).sum::<usize>();
    if size > MAX_SIZE {
        // The apiserver passes "" for the path: the whole object.
        errs.push(FieldError::too_long("", MAX_SIZE));
    }
    dedup(errs)
}

/// `ValidateConfigMapUpdate`: an immutable ConfigMap keeps its data (and stays immutable).
pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden("immutable", IMMUTABLE));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden("data", IMMUTABLE));
        }
        if new.binary_data != old.binary_data {
            errs.push(FieldError::forbidden("binaryData", IMMUTABLE));
        }
    }
    errs.extend(validate_config_map(new));
    dedup(errs)
}

/// `ValidateSecret`: key names, the 1 MiB bound, and what each type requires.
pub fn validate_secret(s: &Secret) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_meta(&mut errs, &s.metadata);
    let data = s.data.clone().unwrap_or_default();
    keys(&mut errs, "data", data.keys());
    if data.values().map(|v| v.0.len()).sum::<usize>() > MAX_SIZE {
        errs.push(FieldError::too_long("data", MAX_SIZE));
    }
    let required = |errs: &mut Vec<FieldError>, key: &str| {
        errs.push(FieldError::required(format!("data[{key}]"), ""));
    };
    let json_key = |errs: &mut Vec<FieldError>, key: &str| match data.get(key) {
        None => required(errs, key),
        Some(v) => {
            if let Err(e) =
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&v.0)
            {
                errs.push(FieldError::invalid(
                    format!("data[{key}]"),
                    REDACTED,
                    e.to_string(),
                ));
            }
        }
    };
    match s.type_.as_deref().unwrap_or("") {
        SECRET_SERVICE_ACCOUNT_TOKEN => {
            let name = "kubernetes.io/service-account.name";
            let given = s.metadata.annotations.as_ref().and_then(|a| a.get(name));
            if given.is_none_or(|v| v.is_empty()) {
                errs.push(FieldError::required(
                    format!("metadata.annotations[{name}]"),
                    "",
                ));
            }
        }
        SECRET_DOCKERCFG => json_key(&mut errs, ".dockercfg"),
        SECRET_DOCKER_CONFIG_JSON => json_key(&mut errs, ".dockerconfigjson"),
        // Either may be empty, but one must be there.
        SECRET_BASIC_AUTH if !data.contains_key("username") && !data.contains_key("password") => {
            required(&mut errs, "username");
            required(&mut errs, "password");
        }
        SECRET_SSH_AUTH if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            required(&mut errs, "ssh-privatekey");
        }
        SECRET_TLS => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    required(&mut errs, key);
                }
            }
        }
        _ => {}
    }
    dedup(errs)
}

/// `ValidateSecretUpdate`: the type never changes; an immutable Secret keeps its data.
pub fn validate_secret_update(new: &Secret, old: &Secret) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if new.type_ != old.type_ {
        let t = new.type_.clone().unwrap_or_default();
        errs.push(FieldError::invalid(
            "type",
            t.as_str(),
            "field is immutable",
        ));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden("immutable", IMMUTABLE));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden("data", IMMUTABLE));
        }
    }
    errs.extend(validate_secret(new));
    dedup(errs)
}

#[cfg(test)]
mod tests;
