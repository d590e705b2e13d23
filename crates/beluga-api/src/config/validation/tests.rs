//! Table tests of ConfigMap and Secret validation (issue 16 item 1: "validation in the
//! apiserver's words (key names, sizes: 1 MiB per object)").

use super::*;
use k8s_openapi::ByteString;
use std::collections::BTreeMap;

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        ..Default::default()
    }
}

fn cm(name: &str, data: &[(&str, &str)], binary: &[(&str, &[u8])]) -> ConfigMap {
    ConfigMap {
        metadata: meta(name),
        data: (!data.is_empty()).then(|| {
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        binary_data: (!binary.is_empty()).then(|| {
            binary
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect()
        }),
        ..Default::default()
    }
}

fn secret(type_: &str, data: &[(&str, &str)]) -> Secret {
    let mut s = Secret {
        metadata: meta("s"),
        type_: Some(type_.into()),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    };
    apply_secret_defaults(&mut s);
    s
}

fn texts(errs: Vec<FieldError>) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn config_keys() {
    let cases: &[(&str, &[&str])] = &[
        ("key.name", &[]),
        ("KEY_NAME-1", &[]),
        (".hidden", &[]),
        ("a/b", &[KEY_ERR]),
        ("", &[KEY_ERR]),
        (".", &["must not be '.'"]),
        ("..", &["must not be '..'"]),
        ("..data", &["must not start with '..'"]),
        ("ä", &[KEY_ERR]),
    ];
    for (key, want) in cases {
        assert_eq!(config_key(key), *want, "{key:?}");
    }
    let long = "a".repeat(254);
    assert_eq!(config_key(&long), ["must be no more than 253 characters"]);
}

#[test]
fn config_maps() {
    let big = "x".repeat(MAX_SIZE);
    let cases: Vec<(ConfigMap, Vec<&str>)> = vec![
        (cm("game-config", &[("a", "1")], &[("b", b"\0")]), vec![]),
        (
            cm("Bad_Name", &[], &[]),
            vec!["metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"],
        ),
        (
            cm("c", &[("a/b", "1")], &[]),
            vec!["data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')"],
        ),
        (
            cm("c", &[("k", "1")], &[("k", b"1")]),
            vec!["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"],
        ),
        (
            cm("c", &[("..k", "1")], &[]),
            vec!["data[..k]: Invalid value: \"..k\": must not start with '..'"],
        ),
        (cm("c", &[("a", &big)], &[]), vec![]),
        (
            cm("c", &[("a", &big)], &[("b", b"1")]),
            vec!["Too long: must have at most 1048576 bytes"],
        ),
    ];
    for (c, want) in cases {
        assert_eq!(
            texts(validate_config_map(&c)),
            want,
            "{:?}",
            c.metadata.name
        );
    }
    let mut nameless = cm("x", &[], &[]);
    nameless.metadata.name = None;
    assert_eq!(
        texts(validate_config_map(&nameless)),
        ["metadata.name: Required value: name or generateName is required"]
    );
}

#[test]
fn immutable_config_maps_keep_their_data() {
    let mut old = cm("c", &[("a", "1")], &[]);
    old.immutable = Some(true);
    let mut same = old.clone();
    same.metadata.labels = Some([("l".to_string(), "v".to_string())].into());
    assert!(validate_config_map_update(&same, &old).is_empty());
    let mut changed = cm("c", &[("a", "2")], &[("b", b"1")]);
    changed.immutable = None;
    assert_eq!(
        texts(validate_config_map_update(&changed, &old)),
        [
            "immutable: Forbidden: field is immutable when `immutable` is set",
            "data: Forbidden: field is immutable when `immutable` is set",
            "binaryData: Forbidden: field is immutable when `immutable` is set",
        ]
    );
    // A mutable one may change, and become immutable.
    let mut free = cm("c", &[("a", "1")], &[]);
    let mut locked = cm("c", &[("a", "3")], &[]);
    locked.immutable = Some(true);
    assert!(validate_config_map_update(&locked, &free).is_empty());
    free.immutable = Some(false);
    assert!(validate_config_map_update(&locked, &free).is_empty());
}

#[test]
fn secrets_by_type() {
    let cases: Vec<(Secret, Vec<&str>)> = vec![
        (secret("Opaque", &[("password", "x")]), vec![]),
        (secret("", &[]), vec![]),
        (secret("example.com/own", &[]), vec![]),
        (
            secret(SECRET_TLS, &[("tls.crt", "c")]),
            vec!["data[tls.key]: Required value"],
        ),
        (secret(SECRET_TLS, &[("tls.crt", "c"), ("tls.key", "k")]), vec![]),
        (
            secret(SECRET_BASIC_AUTH, &[]),
            vec!["data[username]: Required value", "data[password]: Required value"],
        ),
        (secret(SECRET_BASIC_AUTH, &[("password", "")]), vec![]),
        (
            secret(SECRET_SSH_AUTH, &[("ssh-privatekey", "")]),
            vec!["data[ssh-privatekey]: Required value"],
        ),
        (
            secret(SECRET_DOCKER_CONFIG_JSON, &[]),
            vec!["data[.dockerconfigjson]: Required value"],
        ),
        (
            secret(SECRET_DOCKER_CONFIG_JSON, &[(".dockerconfigjson", "{\"auths\":{}}")]),
            vec![],
        ),
        (
            secret(SECRET_SERVICE_ACCOUNT_TOKEN, &[]),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
        ),
        (
            secret("Opaque", &[("bad key", "x")]),
            vec!["data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')"],
        ),
    ];
    for (s, want) in cases {
        assert_eq!(texts(validate_secret(&s)), want, "{:?}", s.type_);
    }
    // Malformed JSON: the contents are never echoed.
    let bad = texts(validate_secret(&secret(
        SECRET_DOCKER_CONFIG_JSON,
        &[(".dockerconfigjson", "{nope")],
    )));
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with(
            "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "
        ),
        "{bad:?}"
    );
    assert!(!bad[0].contains("nope"), "{bad:?}");
    let big = "x".repeat(MAX_SIZE + 1);
    assert_eq!(
        texts(validate_secret(&secret("Opaque", &[("a", &big)]))),
        ["data: Too long: must have at most 1048576 bytes"]
    );
}

#[test]
fn a_secrets_type_never_changes_and_immutable_data_stays() {
    let old = secret("Opaque", &[("a", "1")]);
    let retyped = secret(SECRET_BASIC_AUTH, &[("a", "1"), ("username", "u")]);
    assert_eq!(
        texts(validate_secret_update(&retyped, &old)),
        ["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"]
    );
    let mut locked = old.clone();
    locked.immutable = Some(true);
    let mut changed = secret("Opaque", &[("a", "2")]);
    changed.immutable = Some(true);
    assert_eq!(
        texts(validate_secret_update(&changed, &locked)),
        ["data: Forbidden: field is immutable when `immutable` is set"]
    );
    assert!(validate_secret_update(&locked, &locked).is_empty());
}
