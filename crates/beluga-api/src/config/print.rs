//! How kubectl shows ConfigMaps and Secrets: `printConfigMap` / `printSecret` (the `get`
//! rows and their columns, `pkg/printers/internalversion/printers.go`) and
//! `describeConfigMap` / `describeSecret` (kubectl's `pkg/describe/describe.go`: a Secret's
//! values are never shown, only their sizes).

use super::*;
use crate::describe::{map_lines, tabwrite};
use crate::duration::human_duration;
use crate::table::{column, Column};
use k8s_openapi::jiff::Timestamp;

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// `configMapColumnDefinitions`.
pub fn config_map_columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, NAME_DOC),
        column("Data", "", 0, "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."),
        column("Age", "", 0, AGE_DOC),
    ]
}

/// `secretColumnDefinitions`.
pub fn secret_columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, NAME_DOC),
        column("Type", "", 0, "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
        column("Data", "", 0, "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
        column("Age", "", 0, AGE_DOC),
    ]
}

fn age(meta: &crate::ObjectMeta, now: Timestamp) -> String {
    meta.creation_timestamp
        .as_ref()
        .map_or("<unknown>".into(), |t| {
            human_duration(now.duration_since(t.0))
        })
}

/// `printConfigMap`: name, the number of keys in both bags, age.
pub fn config_map_row(c: &ConfigMap, now: Timestamp) -> Vec<String> {
    vec![
        c.metadata.name.clone().unwrap_or_default(),
        config_map_keys(c).to_string(),
        age(&c.metadata, now),
    ]
}

/// `printSecret`: name, type, the number of keys, age.
pub fn secret_row(s: &Secret, now: Timestamp) -> Vec<String> {
    vec![
        s.metadata.name.clone().unwrap_or_default(),
        s.type_.clone().unwrap_or_default(),
        secret_keys(s).to_string(),
        age(&s.metadata, now),
    ]
}

fn head(out: &mut String, m: &crate::ObjectMeta) {
    out.push_str(&format!("Name:\t{}\n", m.name.clone().unwrap_or_default()));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        m.namespace.clone().unwrap_or_default()
    ));
    map_lines(out, "Labels", m.labels.as_ref());
    map_lines(out, "Annotations", m.annotations.as_ref());
}

/// `describeConfigMap`: each `data` value in full under its key, `binaryData` by size.
pub fn describe_config_map(c: &ConfigMap) -> String {
    let mut out = String::new();
    head(&mut out, &c.metadata);
    out.push_str("\nData\n====\n");
    for (k, v) in c.data.iter().flatten() {
        out.push_str(&format!("{k}:\n----\n{v}\n"));
    }
    out.push_str("\nBinaryData\n====\n");
    for (k, v) in c.binary_data.iter().flatten() {
        out.push_str(&format!("{k}: {} bytes\n", v.0.len()));
    }
    out.push('\n');
    tabwrite(&out)
}

/// `describeSecret`: the type, and each key's size (a service-account token's `token` alone is
/// shown, as kubectl does).
pub fn describe_secret(s: &Secret) -> String {
    let mut out = String::new();
    head(&mut out, &s.metadata);
    let t = s.type_.clone().unwrap_or_default();
    out.push_str(&format!("\nType:\t{t}\n\nData\n====\n"));
    for (k, v) in s.data.iter().flatten() {
        if k == "token" && t == SECRET_SERVICE_ACCOUNT_TOKEN {
            out.push_str(&format!("{k}:\t{}\n", String::from_utf8_lossy(&v.0)));
        } else {
            out.push_str(&format!("{k}:\t{} bytes\n", v.0.len()));
        }
    }
    tabwrite(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::ByteString;

    fn meta(name: &str, now: Timestamp) -> crate::ObjectMeta {
        crate::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            creation_timestamp: Some(Time(now - std::time::Duration::from_secs(90))),
            ..Default::default()
        }
    }

    #[test]
    fn rows_count_keys_and_show_the_type() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().expect("time");
        let c = ConfigMap {
            metadata: meta("game-config", now),
            data: Some([("a".to_string(), "1".to_string())].into()),
            binary_data: Some([("b".to_string(), ByteString(vec![1]))].into()),
            ..Default::default()
        };
        assert_eq!(config_map_row(&c, now), ["game-config", "2", "90s"]);
        let mut s = Secret {
            metadata: meta("db", now),
            string_data: Some([("password".to_string(), "x".to_string())].into()),
            ..Default::default()
        };
        apply_secret_defaults(&mut s);
        assert_eq!(secret_row(&s, now), ["db", "Opaque", "1", "90s"]);
        assert_eq!(config_map_columns().len(), 3);
        assert_eq!(secret_columns().len(), 4);
    }

    #[test]
    fn describe_shows_config_values_and_hides_secret_ones() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().expect("time");
        let c = ConfigMap {
            metadata: meta("game-config", now),
            data: Some([("lives".to_string(), "3".to_string())].into()),
            binary_data: Some([("icon".to_string(), ByteString(vec![0; 4]))].into()),
            ..Default::default()
        };
        assert_eq!(
            describe_config_map(&c),
            "Name:         game-config\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nData\n====\nlives:\n----\n3\n\nBinaryData\n====\nicon: 4 bytes\n\n"
        );
        let s = Secret {
            metadata: meta("db", now),
            type_: Some("Opaque".into()),
            data: Some([("password".to_string(), ByteString(b"hunter2".to_vec()))].into()),
            ..Default::default()
        };
        let text = describe_secret(&s);
        assert_eq!(
            text,
            "Name:         db\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nType:  Opaque\n\nData\n====\npassword:  7 bytes\n"
        );
        assert!(!text.contains("hunter2"));
    }
}
