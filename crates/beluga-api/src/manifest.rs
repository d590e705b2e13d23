//! Strict manifest parsing: multi-document YAML or JSON into the kinds beluga serves (`v1`
//! Pod, Service, ConfigMap, Secret, Namespace and ServiceAccount), with every unknown or misplaced field reported by its path, as the
//! apiserver's strict field validation does.

use crate::{ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount};
use serde::de::DeserializeOwned;

/// kubectl's `--validate` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidateMode {
    #[default]
    Strict,
    Warn,
    Ignore,
}

impl std::str::FromStr for ValidateMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "true" | "strict" => Ok(ValidateMode::Strict),
            "warn" => Ok(ValidateMode::Warn),
            "false" | "ignore" => Ok(ValidateMode::Ignore),
            other => Err(format!(
                "invalid - validate option {other:?}; must be one of: strict (or true), warn, ignore (or false)"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("error parsing {source_name}: {message}")]
    Syntax {
        source_name: String,
        message: String,
    },
    #[error("error when creating {source_name:?}: {kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {}", .fields.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>().join(", "))]
    UnknownFields {
        source_name: String,
        kind: &'static str,
        fields: Vec<String>,
    },
    #[error("error when creating {source_name:?}: {kind} in version \"v1\" cannot be handled as a {kind}: {message}")]
    Decode {
        source_name: String,
        kind: &'static str,
        message: String,
    },
    #[error("resource mapping not found for name: {name:?} namespace: {namespace:?} from {source_name:?}: no matches for kind {kind:?} in version {api_version:?}\nensure CRDs are installed first")]
    UnsupportedKind {
        source_name: String,
        name: String,
        namespace: String,
        kind: String,
        api_version: String,
    },
    #[error("error validating {source_name:?}: error validating data: [apiVersion not set, kind not set]; if you choose to ignore these errors, turn validation off with --validate=false")]
    MissingTypeMeta { source_name: String },
    #[error("no objects passed to apply")]
    Empty,
}

/// One object of a manifest, of a kind beluga serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Pod(Box<Pod>),
    Service(Box<Service>),
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
    Namespace(Box<Namespace>),
    ServiceAccount(Box<ServiceAccount>),
}

impl Object {
    /// The kind's name, as the apiserver spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Service(_) => "Service",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
            Object::Namespace(_) => "Namespace",
            Object::ServiceAccount(_) => "ServiceAccount",
        }
    }

    /// Where the object goes in a dependable apply order: what others live in or refer to
    /// first (Namespaces, then ServiceAccounts, ConfigMaps and Secrets, then Services), Pods
    /// last.
    pub fn apply_rank(&self) -> u8 {
        match self {
            Object::Namespace(_) => 0,
            Object::ConfigMap(_) | Object::Secret(_) | Object::ServiceAccount(_) => 1,
            Object::Service(_) => 2,
            Object::Pod(_) => 3,
        }
    }

    pub fn metadata(&self) -> &crate::ObjectMeta {
        match self {
            Object::Pod(p) => &p.metadata,
            Object::Service(s) => &s.metadata,
            Object::ConfigMap(c) => &c.metadata,
            Object::Secret(s) => &s.metadata,
            Object::Namespace(n) => &n.metadata,
            Object::ServiceAccount(a) => &a.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut crate::ObjectMeta {
        match self {
            Object::Pod(p) => &mut p.metadata,
            Object::Service(s) => &mut s.metadata,
            Object::ConfigMap(c) => &mut c.metadata,
            Object::Secret(s) => &mut s.metadata,
            Object::Namespace(n) => &mut n.metadata,
            Object::ServiceAccount(a) => &mut a.metadata,
        }
    }
}

/// The objects of a manifest, in file order, and the warnings they produced (`--validate=warn`).
#[derive(Debug)]
pub struct Parsed {
    pub objects: Vec<Object>,
    pub warnings: Vec<String>,
}

impl Parsed {
    /// The Pods among the objects.
    pub fn pods(&self) -> Vec<Pod> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                Object::Pod(p) => Some((**p).clone()),
                _ => None,
            })
            .collect()
    }
}

impl ManifestError {
    /// The apiserver's words for a request body it cannot decode: kubectl adds the
    /// `error when creating "<file>": ` itself.
    pub fn apiserver_message(&self) -> String {
        let text = self.to_string();
        match self {
            ManifestError::UnknownFields { source_name, .. }
            | ManifestError::Decode { source_name, .. } => text
                .strip_prefix(&format!("error when creating {source_name:?}: "))
                .map(String::from)
                .unwrap_or(text),
            _ => text,
        }
    }
}

/// Parses every document of `text` (YAML or JSON; `---` separated; `kind: List` expanded).
/// Nothing is returned unless every document is a valid object of a kind beluga serves, so a
/// bad file creates nothing.
pub fn parse(text: &str, source_name: &str, mode: ValidateMode) -> Result<Parsed, ManifestError> {
    // kubectl reads YAML 1.1: `defaultMode: 0400` is octal (256), not 400.
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| ManifestError::Syntax {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
    let mut documents = Vec::new();
    for doc in docs {
        match doc {
            serde_json::Value::Null => {}
            serde_json::Value::Object(ref m)
                if m.get("kind").and_then(|k| k.as_str()) == Some("List")
                    && m.contains_key("items") =>
            {
                if let Some(serde_json::Value::Array(items)) = m.get("items") {
                    documents.extend(items.iter().cloned());
                }
            }
            other => documents.push(other),
        }
    }
    if documents.is_empty() {
        return Err(ManifestError::Empty);
    }
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    for obj in documents {
        let kind = obj
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let api_version = obj
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        if kind.is_empty() || api_version.is_empty() {
            return Err(ManifestError::MissingTypeMeta {
                source_name: source_name.to_string(),
            });
        }
        let (object, unknown) = match (kind.as_str(), api_version.as_str()) {
            ("Pod", "v1") => decode::<Pod>(&obj, source_name, "Pod")
                .map(|(p, u)| (Object::Pod(Box::new(p)), u))?,
            ("Service", "v1") => decode::<Service>(&obj, source_name, "Service")
                .map(|(s, u)| (Object::Service(Box::new(s)), u))?,
            ("ConfigMap", "v1") => decode::<ConfigMap>(&obj, source_name, "ConfigMap")
                .map(|(c, u)| (Object::ConfigMap(Box::new(c)), u))?,
            ("Secret", "v1") => decode::<Secret>(&obj, source_name, "Secret")
                .map(|(s, u)| (Object::Secret(Box::new(s)), u))?,
            ("Namespace", "v1") => decode::<Namespace>(&obj, source_name, "Namespace")
                .map(|(n, u)| (Object::Namespace(Box::new(n)), u))?,
            ("ServiceAccount", "v1") => {
                decode::<ServiceAccount>(&obj, source_name, "ServiceAccount")
                    .map(|(a, u)| (Object::ServiceAccount(Box::new(a)), u))?
            }
            _ => return Err(unsupported(&obj, source_name, kind, api_version)),
        };
        if !unknown.is_empty() {
            match mode {
                ValidateMode::Strict => {
                    return Err(ManifestError::UnknownFields {
                        source_name: source_name.to_string(),
                        kind: object.kind(),
                        fields: unknown,
                    })
                }
                ValidateMode::Warn => {
                    warnings.extend(unknown.into_iter().map(|f| format!("unknown field {f:?}")))
                }
                ValidateMode::Ignore => {}
            }
        }
        objects.push(object);
    }
    Ok(Parsed { objects, warnings })
}

/// kubectl's words for a kind no API of the server serves.
fn unsupported(
    obj: &serde_json::Value,
    source_name: &str,
    kind: String,
    api_version: String,
) -> ManifestError {
    let meta = obj.get("metadata");
    let field = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    ManifestError::UnsupportedKind {
        source_name: source_name.to_string(),
        name: field("name"),
        namespace: field("namespace"),
        kind,
        api_version,
    }
}

/// Turns serde_ignored's path into the apiserver's form: `spec.containers[0].imagee`.
fn kube_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", kube_path(parent)),
        Path::Map { parent, key } => {
            let p = kube_path(parent);
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => kube_path(parent),
    }
}

/// Decodes one object of `kind`, collecting the paths of unknown fields (except `status`,
/// which the apiserver drops on create).
fn decode<T: DeserializeOwned>(
    obj: &serde_json::Value,
    source_name: &str,
    kind: &'static str,
) -> Result<(T, Vec<String>), ManifestError> {
    let mut unknown = Vec::new();
    let object: T = serde_ignored::deserialize(obj, |path| unknown.push(kube_path(&path)))
        .map_err(|e| ManifestError::Decode {
            source_name: source_name.to_string(),
            kind,
            message: e.to_string(),
        })?;
    unknown.retain(|p| !p.starts_with("status"));
    Ok((object, unknown))
}

/// Parses a single JSON Pod (the daemon's request bodies), strictly.
pub fn pod_from_json(body: &[u8]) -> Result<Pod, ManifestError> {
    from_json(body, "Pod")
}

/// Parses a single JSON Service (the daemon's request bodies), strictly.
pub fn service_from_json(body: &[u8]) -> Result<Service, ManifestError> {
    from_json(body, "Service")
}

/// Parses a single JSON object of `kind` (the daemon's request bodies), strictly.
pub fn from_json<T: DeserializeOwned>(body: &[u8], kind: &'static str) -> Result<T, ManifestError> {
    from_json_with(body, kind, ValidateMode::Strict).map(|(o, _)| o)
}

/// Parses a single JSON object of `kind` under `mode` (the API's `fieldValidation`): unknown
/// fields refused (`Strict`) or dropped and named (the second value).
pub fn from_json_with<T: DeserializeOwned>(
    body: &[u8],
    kind: &'static str,
    mode: ValidateMode,
) -> Result<(T, Vec<String>), ManifestError> {
    let source_name = "request body".to_string();
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ManifestError::Syntax {
            source_name: source_name.clone(),
            message: e.to_string(),
        })?;
    let (object, unknown) = decode(&value, &source_name, kind)?;
    if !unknown.is_empty() && mode == ValidateMode::Strict {
        return Err(ManifestError::UnknownFields {
            source_name,
            kind,
            fields: unknown,
        });
    }
    Ok((object, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: c, image: busybox}]
---
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
"#;

    #[test]
    fn multi_document_yaml_and_json() {
        let p = parse(TWO, "f.yaml", ValidateMode::Strict).unwrap();
        let names: Vec<_> = p
            .pods()
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    // kubectl's YAML is 1.1: a leading zero is octal (`defaultMode: 0400` is 256), a quoted
    // one a string.
    #[test]
    fn leading_zeros_are_octal_as_kubectl_reads_them() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {v: '0400'}}\nspec:\n  containers: [{name: c, image: x}]\n  volumes: [{name: v, secret: {secretName: s, defaultMode: 0400}}]\n";
        let p = parse(y, "f.yaml", ValidateMode::Strict)
            .unwrap()
            .pods()
            .remove(0);
        let v = &p.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0];
        assert_eq!(v.secret.as_ref().unwrap().default_mode, Some(0o400));
        assert_eq!(p.metadata.labels.unwrap()["v"], "0400");
    }

    #[test]
    fn unknown_field_named_by_path() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    imagee: x\n  foo: 1\n";
        let err = parse(y, "f.yaml", ValidateMode::Strict).unwrap_err();
        match &err {
            ManifestError::UnknownFields { fields, .. } => {
                assert_eq!(
                    fields,
                    &[
                        "spec.containers[0].imagee".to_string(),
                        "spec.foo".to_string()
                    ]
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(err
            .to_string()
            .contains("strict decoding error: unknown field \"spec.containers[0].imagee\""));
        let warn = parse(y, "f.yaml", ValidateMode::Warn).unwrap();
        assert_eq!(warn.warnings.len(), 2);
        assert_eq!(
            parse(y, "f.yaml", ValidateMode::Ignore)
                .unwrap()
                .warnings
                .len(),
            0
        );
    }

    #[test]
    fn pods_and_services_in_file_order() {
        let y = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selector: {app: a}\n  ports: [{port: 80}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n";
        let p = parse(y, "f", ValidateMode::Strict).unwrap();
        let kinds: Vec<_> = p.objects.iter().map(|o| o.kind()).collect();
        assert_eq!(kinds, ["Service", "Pod"]);
        let bad =
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  prots: [{port: 80}]\n";
        assert_eq!(
            parse(bad, "f", ValidateMode::Strict).unwrap_err().to_string(),
            "error when creating \"f\": Service in version \"v1\" cannot be handled as a Service: strict decoding error: unknown field \"spec.prots\""
        );
    }

    #[test]
    fn other_kinds_are_refused() {
        let y = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n";
        assert!(matches!(
            parse(y, "f", ValidateMode::Strict),
            Err(ManifestError::UnsupportedKind { .. })
        ));
        assert!(matches!(
            parse("metadata: {}\n", "f", ValidateMode::Strict),
            Err(ManifestError::MissingTypeMeta { .. })
        ));
        assert!(matches!(
            parse("", "f", ValidateMode::Strict),
            Err(ManifestError::Empty)
        ));
        assert!(matches!(
            parse("a: [", "f", ValidateMode::Strict),
            Err(ManifestError::Syntax { .. })
        ));
    }

    #[test]
    fn wrong_type_is_a_decode_error() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: {name: c}\n";
        assert!(matches!(
            parse(y, "f", ValidateMode::Strict),
            Err(ManifestError::Decode { .. })
        ));
    }

    #[test]
    fn list_is_expanded_and_status_ignored() {
        let y = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: c, image: i}]}\n  status: {phase: Running, bogus: 1}\n";
        assert_eq!(parse(y, "f", ValidateMode::Strict).unwrap().pods().len(), 1);
    }
}
