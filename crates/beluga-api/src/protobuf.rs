//! Kubernetes protobuf request bodies read as JSON (kubectl-api §0 fact 9, §6): client-go's
//! typed clients — `kubectl create configmap|secret|namespace|serviceaccount|service`, `auth
//! can-i` — send `application/vnd.kubernetes.protobuf`: the `k8s\0` magic, then a
//! `runtime.Unknown` (field 1 its TypeMeta, field 2 the object's bytes). The kinds beluga
//! accepts that way are described field by field below, numbered as in upstream's
//! `generated.proto` (k8s.io/api core/v1, authorization/v1; apimachinery meta/v1, intstr);
//! fields not described are dropped, as an unknown JSON field is under `fieldValidation=Ignore`.

use base64::Engine;
use serde_json::{Map, Value};

/// The envelope's magic bytes.
pub const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("the body is not a Kubernetes protobuf envelope")]
    NoEnvelope,
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    #[error("no protobuf decoding for {0}")]
    Unsupported(String),
}

/// What a field holds.
#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Int,
    Msg(&'static [Field]),
    MapStr,
    /// `map[string][]byte`: base64 values in JSON.
    MapBytes,
    IntOrString,
    Time,
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    ty: Ty,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: false,
    }
}

const fn list(num: u64, name: &'static str, ty: Ty) -> Field {
    Field {
        num,
        name,
        ty,
        repeated: true,
    }
}

use Ty::*;

const OWNER_REFERENCE: &[Field] = &[
    f(5, "apiVersion", Str),
    f(1, "kind", Str),
    f(3, "name", Str),
    f(4, "uid", Str),
    f(6, "controller", Bool),
    f(7, "blockOwnerDeletion", Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Str),
    f(2, "generateName", Str),
    f(3, "namespace", Str),
    f(5, "uid", Str),
    f(6, "resourceVersion", Str),
    f(7, "generation", Int),
    f(8, "creationTimestamp", Time),
    f(10, "deletionGracePeriodSeconds", Int),
    f(11, "labels", MapStr),
    f(12, "annotations", MapStr),
    list(13, "ownerReferences", Msg(OWNER_REFERENCE)),
    list(14, "finalizers", Str),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "data", MapStr),
    f(3, "binaryData", MapBytes),
    f(4, "immutable", Bool),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "data", MapBytes),
    f(3, "type", Str),
    f(4, "stringData", MapStr),
    f(5, "immutable", Bool),
];

const NAMESPACE_SPEC: &[Field] = &[list(1, "finalizers", Str)];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(NAMESPACE_SPEC)),
];

const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Str),
    f(2, "namespace", Str),
    f(3, "name", Str),
    f(4, "uid", Str),
    f(5, "apiVersion", Str),
    f(6, "resourceVersion", Str),
    f(7, "fieldPath", Str),
];

const LOCAL_OBJECT_REFERENCE: &[Field] = &[f(1, "name", Str)];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    list(2, "secrets", Msg(OBJECT_REFERENCE)),
    list(3, "imagePullSecrets", Msg(LOCAL_OBJECT_REFERENCE)),
    f(4, "automountServiceAccountToken", Bool),
];

const SERVICE_PORT: &[Field] = &[
    f(1, "name", Str),
    f(2, "protocol", Str),
    f(6, "appProtocol", Str),
    f(3, "port", Int),
    f(4, "targetPort", IntOrString),
    f(5, "nodePort", Int),
];

const SERVICE_SPEC: &[Field] = &[
    list(1, "ports", Msg(SERVICE_PORT)),
    f(2, "selector", MapStr),
    f(3, "clusterIP", Str),
    list(18, "clusterIPs", Str),
    f(4, "type", Str),
    list(5, "externalIPs", Str),
    f(7, "sessionAffinity", Str),
    f(8, "loadBalancerIP", Str),
    list(9, "loadBalancerSourceRanges", Str),
    f(10, "externalName", Str),
    f(11, "externalTrafficPolicy", Str),
    f(12, "healthCheckNodePort", Int),
    f(13, "publishNotReadyAddresses", Bool),
    list(19, "ipFamilies", Str),
    f(17, "ipFamilyPolicy", Str),
    f(20, "allocateLoadBalancerNodePorts", Bool),
    f(21, "loadBalancerClass", Str),
    f(22, "internalTrafficPolicy", Str),
    f(23, "trafficDistribution", Str),
];

const SERVICE: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(SERVICE_SPEC)),
];

const RESOURCE_ATTRIBUTES: &[Field] = &[
    f(1, "namespace", Str),
    f(2, "verb", Str),
    f(3, "group", Str),
    f(4, "version", Str),
    f(5, "resource", Str),
    f(6, "subresource", Str),
    f(7, "name", Str),
];

const NON_RESOURCE_ATTRIBUTES: &[Field] = &[f(1, "path", Str), f(2, "verb", Str)];

const ACCESS_REVIEW_SPEC: &[Field] = &[
    f(1, "resourceAttributes", Msg(RESOURCE_ATTRIBUTES)),
    f(2, "nonResourceAttributes", Msg(NON_RESOURCE_ATTRIBUTES)),
];

const ACCESS_REVIEW: &[Field] = &[
    f(1, "metadata", Msg(OBJECT_META)),
    f(2, "spec", Msg(ACCESS_REVIEW_SPEC)),
];

/// The message of a kind (by its `apiVersion` and `kind`).
fn schema(api_version: &str, kind: &str) -> Option<&'static [Field]> {
    Some(match (api_version, kind) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1", "Service") => SERVICE,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => ACCESS_REVIEW,
        _ => return None,
    })
}

/// A protobuf request body as the JSON object it stands for.
pub fn to_json(body: &[u8]) -> Result<Value, ProtobufError> {
    let unknown = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoEnvelope)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for field in Reader(unknown) {
        match field? {
            (1, Wire::Len(tm)) => {
                for tf in Reader(tm) {
                    match tf? {
                        (1, Wire::Len(v)) => api_version = string(v)?,
                        (2, Wire::Len(v)) => kind = string(v)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(r)) => raw = r,
            _ => {}
        }
    }
    let fields = schema(&api_version, &kind)
        .ok_or_else(|| ProtobufError::Unsupported(format!("{api_version} {kind}")))?;
    let mut object = message(fields, raw)?;
    object.insert("apiVersion".into(), api_version.into());
    object.insert("kind".into(), kind.into());
    Ok(Value::Object(object))
}

fn string(v: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(v.to_vec()).map_err(|_| ProtobufError::Malformed("a string is not UTF-8"))
}

fn message(fields: &[Field], data: &[u8]) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    for wire in Reader(data) {
        let (num, value) = wire?;
        let Some(field) = fields.iter().find(|f| f.num == num) else {
            continue;
        };
        match field.ty {
            MapStr | MapBytes => {
                let Wire::Len(entry) = value else {
                    return Err(ProtobufError::Malformed("a map entry is not a message"));
                };
                let (k, v) = map_entry(entry, matches!(field.ty, MapBytes))?;
                let map = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = map {
                    m.insert(k, v);
                }
            }
            ty => {
                let v = scalar(ty, value)?;
                // Go writes a plain field's zero value ("", 0, an empty time): in Go it means
                // unset, so here it is absent, as the JSON of the same object would have it.
                if !field.repeated && is_zero(&v) {
                    continue;
                }
                if field.repeated {
                    let list = out
                        .entry(field.name)
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(a) = list {
                        a.push(v);
                    }
                } else {
                    out.insert(field.name.into(), v);
                }
            }
        }
    }
    Ok(out)
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Null => true,
        _ => false,
    }
}

fn map_entry(entry: &[u8], bytes: bool) -> Result<(String, Value), ProtobufError> {
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    for w in Reader(entry) {
        match w? {
            (1, Wire::Len(b)) => k = string(b)?,
            (2, Wire::Len(b)) if bytes => {
                v = base64::engine::general_purpose::STANDARD.encode(b).into()
            }
            (2, Wire::Len(b)) => v = string(b)?.into(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn scalar(ty: Ty, value: Wire<'_>) -> Result<Value, ProtobufError> {
    Ok(match (ty, value) {
        (Str, Wire::Len(b)) => string(b)?.into(),
        (Bool, Wire::Varint(n)) => (n != 0).into(),
        // int32/int64 travel as two's complement varints.
        (Int, Wire::Varint(n)) => (n as i64).into(),
        (Msg(fields), Wire::Len(b)) => Value::Object(message(fields, b)?),
        (IntOrString, Wire::Len(b)) => int_or_string(b)?,
        (Time, Wire::Len(b)) => time(b)?,
        _ => return Err(ProtobufError::Malformed("a field of the wrong wire type")),
    })
}

fn int_or_string(b: &[u8]) -> Result<Value, ProtobufError> {
    let (mut is_string, mut int, mut s) = (false, 0i64, String::new());
    for w in Reader(b) {
        match w? {
            (1, Wire::Varint(t)) => is_string = t == 1,
            (2, Wire::Varint(n)) => int = n as i32 as i64,
            (3, Wire::Len(v)) => s = string(v)?,
            _ => {}
        }
    }
    Ok(if is_string { s.into() } else { int.into() })
}

fn time(b: &[u8]) -> Result<Value, ProtobufError> {
    let mut seconds = 0i64;
    for w in Reader(b) {
        if let (1, Wire::Varint(n)) = w? {
            seconds = n as i64;
        }
    }
    if seconds == 0 {
        return Ok(Value::Null);
    }
    let t = k8s_openapi::jiff::Timestamp::from_second(seconds)
        .map_err(|_| ProtobufError::Malformed("a time out of range"))?;
    Ok(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into())
}

/// The longest varint protobuf allows (64 bits in 7-bit groups).
const MAX_VARINT_BYTES: usize = 10;

/// Appends `n` as a protobuf varint.
pub fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads a varint at `*i`; `None` when it runs past the message or past 10 bytes (a longer one
/// once overflowed the shift and panicked gRPC probes).
pub fn read_varint(msg: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for n in 0..MAX_VARINT_BYTES {
        let b = *msg.get(*i)?;
        *i += 1;
        v |= u64::from(b & 0x7f) << (7 * n);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// One field's value on the wire.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

/// The fields of a message, in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut i = 0;
        let n = read_varint(self.0, &mut i).ok_or(ProtobufError::Malformed(
            "a varint runs past the end or past 64 bits",
        ))?;
        self.0 = &self.0[i..];
        Ok(n)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if n > self.0.len() {
            return Err(ProtobufError::Malformed("a field runs past the end"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<(u64, Wire<'a>), ProtobufError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                0 => Wire::Varint(self.varint()?),
                1 => self.take(8).map(|_| Wire::Fixed)?,
                2 => {
                    let n = usize::try_from(self.varint()?)
                        .map_err(|_| ProtobufError::Malformed("a length out of range"))?;
                    Wire::Len(self.take(n)?)
                }
                5 => self.take(4).map(|_| Wire::Fixed)?,
                _ => return Err(ProtobufError::Malformed("an unknown wire type")),
            };
            Ok((key >> 3, value))
        })();
        if field.is_err() {
            // Nothing after a malformed field can be read.
            self.0 = &[];
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn len(num: u64, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        push_varint(&mut v, num << 3 | 2);
        push_varint(&mut v, body.len() as u64);
        v.extend_from_slice(body);
        v
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let tm = [len(1, api_version.as_bytes()), len(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), len(1, &tm), len(2, raw)].concat()
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [len(1, k.as_bytes()), len(2, v)].concat()
    }

    // What `kubectl create configmap cfg --from-literal=a=1` carries, built field by field.
    #[test]
    fn a_config_map() {
        let meta = [len(1, b"cfg"), len(11, &entry("app", b"web"))].concat();
        let raw = [
            len(1, &meta),
            len(2, &entry("a", b"1")),
            len(3, &entry("b", b"\x00\x01")),
            vec![4 << 3, 1],
        ]
        .concat();
        let v = to_json(&envelope("v1", "ConfigMap", &raw)).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app": "web"}},
                "data": {"a": "1"}, "binaryData": {"b": "AAE="}, "immutable": true})
        );
    }

    // A Service's ports: repeated messages, an IntOrString either way; Go's zero values
    // (an empty `sessionAffinity`, a 0 `healthCheckNodePort`) are absent.
    #[test]
    fn a_service() {
        let port = |p: u8, target: Vec<u8>| [vec![3 << 3, p], len(4, &target)].concat();
        let int_target = [vec![1 << 3, 0], vec![2 << 3, 0x90, 0x3f]].concat(); // 8080
        let str_target = [vec![1 << 3, 1], len(3, b"http")].concat();
        let spec = [
            len(1, &port(80, int_target)),
            len(1, &port(81, str_target)),
            len(4, b"ClusterIP"),
        ]
        .concat();
        let raw = [len(1, &len(1, b"svc")), len(2, &spec)].concat();
        let v = to_json(&envelope("v1", "Service", &raw)).expect("decodes");
        assert_eq!(
            v["spec"],
            json!({"ports": [{"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": "http"}], "type": "ClusterIP"})
        );
    }

    // Spec §6: `auth can-i create pods`' body.
    #[test]
    fn an_access_review() {
        let attrs = [len(1, b"default"), len(2, b"create"), len(5, b"pods")].concat();
        let raw = len(2, &len(1, &attrs));
        let v = to_json(&envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &raw,
        ))
        .expect("decodes");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "create", "resource": "pods"})
        );
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        assert_eq!(to_json(b"{}"), Err(ProtobufError::NoEnvelope));
        assert!(matches!(
            to_json(&envelope("apps/v1", "Deployment", b"")),
            Err(ProtobufError::Unsupported(_))
        ));
        let cut = envelope("v1", "ConfigMap", &len(1, b"abc"));
        for n in MAGIC.len()..cut.len() {
            let _ = to_json(&cut[..n]);
        }
        let mut bad = envelope("v1", "ConfigMap", &[]);
        bad.extend_from_slice(&[0xff; 12]);
        assert!(to_json(&bad).is_err());
    }
}
