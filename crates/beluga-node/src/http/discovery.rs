//! What kubectl asks before anything else (kubectl-api spec §2): `/version` (which kubectl the
//! dispatcher runs: the minor of beluga's types, 1.33), the resources beluga serves as
//! aggregated discovery (`apidiscovery.k8s.io/v2`, chosen by the `Accept`) or the legacy
//! `APIVersions` / `APIGroupList` / `APIResourceList`, a minimal OpenAPI v3 that declares
//! `fieldValidation` (without it `kubectl apply` refuses to run), and SelfSubjectAccessReview.
//! One table of resources feeds every format, and only verbs that work are advertised.

use super::*;
use serde_json::{json, Value};

/// The Kubernetes minor whose types beluga serves (k8s-openapi `v1_33`, kubelet 1.33).
pub const MINOR: &str = "33";

/// A served resource and what can be done with it.
pub(super) struct Resource {
    pub group: &'static str,
    pub plural: &'static str,
    singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    pub verbs: &'static [&'static str],
    /// (name, kind, verbs)
    sub: &'static [(&'static str, &'static str, &'static [&'static str])],
}

/// What every kept kind serves (PATCH of all four types included).
const RW: &[&str] = &["create", "delete", "get", "list", "patch", "update"];

const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: &["cm"],
        all: false,
        verbs: RW,
        sub: &[],
    },
    Resource {
        group: "",
        plural: "endpoints",
        singular: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        short: &["ep"],
        all: false,
        verbs: &["get", "list"],
        sub: &[],
    },
    Resource {
        group: "",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: &["ev"],
        all: false,
        verbs: &["list"],
        sub: &[],
    },
    Resource {
        group: "",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short: &["ns"],
        all: false,
        verbs: RW,
        sub: &[],
    },
    Resource {
        group: "",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short: &["po"],
        all: true,
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        sub: &[
            ("exec", "PodExecOptions", &["create", "get"]),
            ("log", "Pod", &["get"]),
            ("portforward", "PodPortForwardOptions", &["create", "get"]),
        ],
    },
    Resource {
        group: "",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: &[],
        all: false,
        verbs: RW,
        sub: &[],
    },
    Resource {
        group: "",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short: &["sa"],
        all: false,
        verbs: RW,
        sub: &[],
    },
    Resource {
        group: "",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short: &["svc"],
        all: true,
        verbs: RW,
        sub: &[],
    },
    Resource {
        group: "authorization.k8s.io",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        short: &[],
        all: false,
        verbs: &["create"],
        sub: &[],
    },
    Resource {
        group: "authentication.k8s.io",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        kind: "SelfSubjectReview",
        namespaced: false,
        short: &[],
        all: false,
        verbs: &["create"],
        sub: &[],
    },
    Resource {
        group: "metrics.k8s.io",
        plural: "pods",
        singular: "",
        kind: "PodMetrics",
        namespaced: true,
        short: &[],
        all: false,
        verbs: &["get", "list"],
        sub: &[],
    },
    Resource {
        group: "discovery.k8s.io",
        plural: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short: &[],
        all: false,
        verbs: &["get", "list"],
        sub: &[],
    },
];

/// The groups besides the core one, in kubectl's priority order.
pub(super) const GROUPS: &[&str] = &[
    "discovery.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "metrics.k8s.io",
];

/// The name of a served resource, as the static string `ApiError` carries.
pub(super) fn served(plural: &str) -> Option<&'static str> {
    RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .map(|r| r.plural)
}

pub(super) fn in_group(group: &str) -> impl Iterator<Item = &'static Resource> + '_ {
    RESOURCES.iter().filter(move |r| r.group == group)
}

/// `/version`: the apiserver's `version.Info`, beluga's own version in the build metadata.
pub(super) fn version(runtime: &str) -> Value {
    json!({
        "major": "1",
        "minor": MINOR,
        "gitVersion": format!("v1.{MINOR}.0+beluga.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("linux/{}", go_arch()),
        "runtime": runtime,
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn aggregated_resource(r: &Resource, version: &str) -> Value {
    let gvk = |kind: &str| json!({"group": r.group, "version": version, "kind": kind});
    let mut v = json!({
        "resource": r.plural,
        "responseKind": gvk(r.kind),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short.is_empty() {
        v["shortNames"] = json!(r.short);
    }
    if r.all {
        v["categories"] = json!(["all"]);
    }
    if !r.sub.is_empty() {
        let subs: Vec<Value> = r
            .sub
            .iter()
            .map(|(name, kind, verbs)| json!({"subresource": name, "responseKind": gvk(kind), "verbs": verbs}))
            .collect();
        v["subresources"] = json!(subs);
    }
    v
}

/// The version a group is served at: `v1`, but the metrics API's `v1beta1` (metrics-server's).
pub(super) fn version_of(group: &str) -> &'static str {
    match group {
        "metrics.k8s.io" => "v1beta1",
        _ => "v1",
    }
}

fn aggregated_group(group: &str) -> Value {
    let version = version_of(group);
    let resources: Vec<Value> = in_group(group)
        .map(|r| aggregated_resource(r, version))
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": [{"version": version, "freshness": "Current", "resources": resources}]})
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(hyper::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| {
            a.split(',').any(|t| {
                let params: Vec<&str> = t.split(';').map(str::trim).collect();
                params.contains(&"g=apidiscovery.k8s.io")
                    && params.contains(&"v=v2")
                    && params.contains(&"as=APIGroupDiscoveryList")
            })
        })
}

fn aggregated(groups: Vec<Value>) -> Response<ResBody> {
    let list = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": groups});
    full(
        StatusCode::OK,
        AGGREGATED,
        serde_json::to_vec(&list).unwrap_or_default(),
    )
}

/// `GET /api`.
pub(super) fn core(req: &Request<Incoming>, server: &str) -> Response<ResBody> {
    if wants_aggregated(req) {
        return aggregated(vec![aggregated_group("")]);
    }
    json(
        StatusCode::OK,
        &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]}),
    )
}

/// `GET /apis`.
pub(super) fn groups(req: &Request<Incoming>) -> Response<ResBody> {
    if wants_aggregated(req) {
        return aggregated(GROUPS.iter().map(|g| aggregated_group(g)).collect());
    }
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            let gv =
                json!({"groupVersion": format!("{g}/{}", version_of(g)), "version": version_of(g)});
            json!({"name": g, "versions": [gv], "preferredVersion": gv})
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

/// `GET /api/v1` or `GET /apis/<group>/v1`: the legacy `APIResourceList`; `None` for a group
/// beluga does not serve.
pub(super) fn resources(group: &str) -> Option<Response<ResBody>> {
    if !group.is_empty() && !GROUPS.contains(&group) {
        return None;
    }
    let mut list = Vec::new();
    for r in in_group(group) {
        let mut v = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs});
        if !r.short.is_empty() {
            v["shortNames"] = json!(r.short);
        }
        if r.all {
            v["categories"] = json!(["all"]);
        }
        list.push(v);
        for (name, kind, verbs) in r.sub {
            list.push(json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs}));
        }
    }
    let gv = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/{}", version_of(group))
    };
    Some(json(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    ))
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (`kubectl auth can-i`):
/// whether the caller may do what the review's attributes say (an admin everything; kubectl
/// sends it as protobuf, which `body_bytes` reads as JSON).
pub(super) fn access_review(caller: &super::auth::Caller, body: &[u8]) -> Response<ResBody> {
    let review: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let spec = &review["spec"];
    let attrs = &spec["resourceAttributes"];
    let s = |k: &str| attrs[k].as_str().filter(|v| !v.is_empty());
    let allowed = match caller {
        super::auth::Caller::Local | super::auth::Caller::Admin => true,
        super::auth::Caller::Account { namespace, .. } if attrs.is_object() => {
            let resource = match s("subresource") {
                Some(sub) => format!("{}/{sub}", s("resource").unwrap_or("")),
                None => s("resource").unwrap_or("").to_string(),
            };
            super::auth::account_may(
                namespace,
                s("verb").unwrap_or(""),
                s("group").unwrap_or(""),
                &resource,
                s("namespace"),
                s("name"),
            )
        }
        // Non-resource paths: discovery, which every authenticated user may read.
        super::auth::Caller::Account { .. } => spec["nonResourceAttributes"]["verb"] == "get",
        super::auth::Caller::Nobody => false,
    };
    json(
        StatusCode::CREATED,
        &json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": spec, "status": {"allowed": allowed}}),
    )
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (`kubectl auth whoami`): who the
/// caller is.
pub(super) fn self_review(caller: &super::auth::Caller) -> Response<ResBody> {
    json(
        StatusCode::CREATED,
        &json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null},
            "status": {"userInfo": {"username": caller.user(), "groups": caller.groups()}}}),
    )
}

/// The requests of this module (and the health endpoints, `/beluga/v1/kubeconfig`); `None`
/// for any other.
pub(super) fn route(
    d: &Daemon,
    method: &Method,
    segs: &[&str],
    req: &Request<Incoming>,
) -> Option<Result<Response<ResBody>, ApiError>> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let answer = match (method, segs) {
        (&Method::GET, ["healthz" | "livez" | "readyz"]) => {
            full(StatusCode::OK, "text/plain", "ok")
        }
        (&Method::GET, ["version"]) => json(StatusCode::OK, &version(d.runtime_name())),
        (&Method::GET, ["api"]) => core(req, &server_address(d)),
        (&Method::GET, ["apis"]) => groups(req),
        (&Method::GET, ["api", "v1"]) => resources("")?,
        (&Method::GET, ["apis", g, v]) if *v == version_of(g) => {
            return Some(resources(g).ok_or_else(not_found))
        }
        (&Method::GET, ["openapi", "v3"]) => super::openapi::index(),
        (&Method::GET, ["openapi", "v3", rest @ ..]) => {
            return Some(super::openapi::group(rest).ok_or_else(not_found))
        }
        (&Method::GET, ["beluga", "v1", "kubeconfig"]) => return Some(kubeconfig(d)),
        _ => return None,
    };
    Some(Ok(answer))
}

/// Where a client reaches the API: the address bound, loopback for an unspecified one.
fn server_address(d: &Daemon) -> String {
    match d.api_addr() {
        Some(a) if a.ip().is_unspecified() && a.is_ipv6() => format!("[::1]:{}", a.port()),
        Some(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
        Some(a) => a.to_string(),
        None => String::new(),
    }
}

/// `beluga kubeconfig`'s: the admin's credentials for the API's address.
fn kubeconfig(d: &Daemon) -> Result<Response<ResBody>, ApiError> {
    if d.api_addr().is_none() {
        return Err(ApiError::new(
            404,
            "NotFound",
            "this daemon serves no Kubernetes API (it was started with --api-listen \"\")",
        ));
    }
    let admin = d.admin();
    let server = format!("https://{}", server_address(d));
    let config = beluga_api::kubeconfig::render(&beluga_api::kubeconfig::Credentials {
        server: &server,
        ca_pem: &d.pki().ca_pem,
        cert_pem: &admin.cert_pem,
        key_pem: &admin.key_pem,
        token: &admin.token,
    });
    Ok(json(StatusCode::OK, &config))
}

#[cfg(test)]
mod tests {
    use super::*;

    // kubectl-api spec §2.2: a resource without responseKind is dropped by kubectl, so every
    // resource and subresource carries one.
    #[test]
    fn every_resource_has_a_response_kind_and_known_verbs() {
        for g in std::iter::once("").chain(GROUPS.iter().copied()) {
            let group = aggregated_group(g);
            for r in group["versions"][0]["resources"].as_array().unwrap() {
                assert!(r["responseKind"]["kind"].is_string(), "{r}");
                for s in r["subresources"].as_array().into_iter().flatten() {
                    assert!(s["responseKind"]["kind"].is_string(), "{s}");
                }
                for v in r["verbs"].as_array().unwrap() {
                    let v = v.as_str().unwrap();
                    assert!(
                        ["create", "delete", "get", "list", "patch", "update", "watch"]
                            .contains(&v),
                        "{v}"
                    );
                }
            }
        }
        assert_eq!(aggregated_group("")["metadata"].get("name"), None);
        assert_eq!(
            aggregated_group("discovery.k8s.io")["metadata"]["name"],
            "discovery.k8s.io"
        );
    }

    #[test]
    fn the_version_is_the_minor_of_the_types_served() {
        let v = version("crun");
        assert_eq!(v["major"], "1");
        assert_eq!(v["minor"], "33");
        assert!(v["gitVersion"]
            .as_str()
            .unwrap()
            .starts_with("v1.33.0+beluga."));
    }
}
