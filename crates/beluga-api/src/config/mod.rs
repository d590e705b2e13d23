//! ConfigMaps and Secrets (issue 16), pure: the apiserver's defaulting and conversion of a
//! Secret (`SetDefaults_Secret`: type `Opaque`; `stringData` merged over `data`, as the v1 →
//! internal conversion does, and dropped), validation in its words (`validation`), and how
//! kubectl shows them (`print`). The daemon holds the objects.

pub mod print;
pub mod validation;

use crate::{ConfigMap, Secret};

/// `MaxSecretSize`: the most bytes the values of a ConfigMap or Secret may take together.
pub const MAX_SIZE: usize = 1024 * 1024;

/// The Secret types the apiserver names (`pkg/apis/core/types.go`).
pub const SECRET_OPAQUE: &str = "Opaque";
pub const SECRET_SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
pub const SECRET_DOCKERCFG: &str = "kubernetes.io/dockercfg";
pub const SECRET_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub const SECRET_BASIC_AUTH: &str = "kubernetes.io/basic-auth";
pub const SECRET_SSH_AUTH: &str = "kubernetes.io/ssh-auth";
pub const SECRET_TLS: &str = "kubernetes.io/tls";

/// A Secret as the apiserver stores it: `type` defaulted to `Opaque`, each `stringData` entry
/// written over `data`'s (its bytes), `stringData` gone.
pub fn apply_secret_defaults(s: &mut Secret) {
    if s.type_.as_deref().is_none_or(str::is_empty) {
        s.type_ = Some(SECRET_OPAQUE.into());
    }
    if let Some(strings) = s.string_data.take() {
        let data = s.data.get_or_insert_with(Default::default);
        for (k, v) in strings {
            data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
        }
    }
}

/// How many keys a ConfigMap holds (`data` and `binaryData`): kubectl's DATA column.
pub fn config_map_keys(c: &ConfigMap) -> usize {
    c.data.as_ref().map_or(0, |d| d.len()) + c.binary_data.as_ref().map_or(0, |d| d.len())
}

/// How many keys a Secret holds.
pub fn secret_keys(s: &Secret) -> usize {
    s.data.as_ref().map_or(0, |d| d.len())
}

/// A ConfigMap key's value as a container reads it (a `data` string, else `binaryData` bytes).
pub fn config_map_value<'a>(c: &'a ConfigMap, key: &str) -> Option<&'a [u8]> {
    c.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.as_bytes())
        .or_else(|| {
            c.binary_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| v.0.as_slice())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn string_data_is_merged_over_data_and_the_type_defaulted() {
        let mut s = Secret {
            data: Some([("a".to_string(), ByteString(b"old".to_vec()))].into()),
            string_data: Some(
                [
                    ("a".to_string(), "new".to_string()),
                    ("b".into(), "x".into()),
                ]
                .into(),
            ),
            ..Default::default()
        };
        apply_secret_defaults(&mut s);
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert!(s.string_data.is_none());
        let data = s.data.unwrap_or_default();
        assert_eq!(data["a"].0, b"new");
        assert_eq!(data["b"].0, b"x");
        let mut t = Secret {
            type_: Some(SECRET_TLS.into()),
            ..Default::default()
        };
        apply_secret_defaults(&mut t);
        assert_eq!(t.type_.as_deref(), Some(SECRET_TLS));
        assert!(t.data.is_none());
    }

    #[test]
    fn keys_and_values_of_both_bags() {
        let c = ConfigMap {
            data: Some([("a".to_string(), "1".to_string())].into()),
            binary_data: Some([("b".to_string(), ByteString(vec![0, 255]))].into()),
            ..Default::default()
        };
        assert_eq!(config_map_keys(&c), 2);
        assert_eq!(config_map_value(&c, "a"), Some(&b"1"[..]));
        assert_eq!(config_map_value(&c, "b"), Some(&[0u8, 255][..]));
        assert_eq!(config_map_value(&c, "c"), None);
    }
}
