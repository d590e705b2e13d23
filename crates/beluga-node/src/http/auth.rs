//! Who is calling and what they may do (issue 17 items 1 and 4). The unix socket is root's
//! alone, so its callers are trusted. Over TLS a client certificate the cluster CA signed (the
//! admin's, with the client-auth usage) or the admin's bearer token is the admin, who may do
//! everything; a service-account token this node signed, for a pod that still exists, is that
//! account, which may only read pods and namespaces in its own namespace; anyone may read
//! `/version` and the health endpoints; everything else is kube-apiserver's 401.

use super::*;
use crate::credentials::same_secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The unix socket.
    Local,
    Admin,
    Account {
        namespace: String,
        name: String,
    },
    /// No credentials.
    Nobody,
}

impl Caller {
    pub fn user(&self) -> String {
        match self {
            Caller::Local | Caller::Admin => "beluga-admin".into(),
            Caller::Account { namespace, name } => {
                format!("system:serviceaccount:{namespace}:{name}")
            }
            Caller::Nobody => "system:anonymous".into(),
        }
    }

    /// The groups the apiserver would give the user.
    pub fn groups(&self) -> Vec<String> {
        let groups: &[&str] = match self {
            Caller::Local | Caller::Admin => &["system:masters", "system:authenticated"],
            Caller::Account { .. } => &["system:serviceaccounts", "system:authenticated"],
            Caller::Nobody => &["system:unauthenticated"],
        };
        let mut out: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        if let Caller::Account { namespace, .. } = self {
            out.insert(1, format!("system:serviceaccounts:{namespace}"));
        }
        out
    }

    fn is_admin(&self) -> bool {
        matches!(self, Caller::Local | Caller::Admin)
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// The caller of a request over TLS (`client_cert`: the handshake verified one).
pub(super) fn authenticate(
    d: &Daemon,
    headers: &hyper::HeaderMap,
    client_cert: bool,
) -> Result<Caller, ApiError> {
    let bearer = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = bearer else {
        return Ok(if client_cert {
            Caller::Admin
        } else {
            Caller::Nobody
        });
    };
    if same_secret(token.as_bytes(), d.admin().token.as_bytes()) {
        return Ok(Caller::Admin);
    }
    // A token that is not ours is refused even beside a good certificate, as the apiserver's
    // union authenticator does when the token authenticator errs.
    let v = d.verify_token(token).map_err(|_| unauthorized())?;
    Ok(Caller::Account {
        namespace: v.namespace,
        name: v.account,
    })
}

/// What a request asks, in the apiserver's authorization terms.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Attributes<'a> {
    pub verb: &'static str,
    pub group: &'a str,
    pub resource: String,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The attributes of a resource request; `None` for anything else (discovery, `/version`).
pub(super) fn attributes<'a>(
    method: &Method,
    segs: &[&'a str],
    watch: bool,
) -> Option<Attributes<'a>> {
    let (group, rest) = match segs {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", g, _, rest @ ..] => (*g, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r, rest @ ..] => (Some(*ns), [&[*r][..], rest].concat()),
        other => (None, other.to_vec()),
    };
    let (resource, name, sub) = match rest.as_slice() {
        [] => return None,
        [r] => (*r, None, None),
        [r, n] => (*r, Some(*n), None),
        [r, n, s, ..] => (*r, Some(*n), Some(*s)),
    };
    // `/api/v1/namespaces/NAME` is the namespace itself.
    let (resource, name, namespace) = match (namespace, rest.len()) {
        (Some(ns), 0) => ("namespaces", Some(ns), None),
        _ => (resource, name, namespace),
    };
    let verb = match (method, name, watch) {
        (&Method::GET, _, true) => "watch",
        (&Method::GET | &Method::HEAD, None, false) => "list",
        (&Method::GET | &Method::HEAD, Some(_), false) => "get",
        (&Method::POST, _, _) => "create",
        (&Method::PUT, _, _) => "update",
        (&Method::PATCH, _, _) => "patch",
        (&Method::DELETE, None, _) => "deletecollection",
        (&Method::DELETE, Some(_), _) => "delete",
        _ => "unknown",
    };
    // A WebSocket exec, attach or port-forward is a GET, authorized as the POST it stands for
    // (the apiserver's `AuthorizePodWebsocketUpgradeCreatePermission`).
    let verb = match sub {
        Some("exec" | "attach" | "portforward") => "create",
        _ => verb,
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    Some(Attributes {
        verb,
        group,
        resource,
        namespace,
        name,
    })
}

/// Paths anyone may read (the apiserver's `system:public-info-viewer`).
fn public(segs: &[&str]) -> bool {
    matches!(segs, ["version"] | ["healthz"] | ["livez"] | ["readyz"])
}

/// Whether `caller` may make the request; kube-apiserver's 401 or 403 if not.
pub(super) fn authorize(
    caller: &Caller,
    method: &Method,
    segs: &[&str],
    watch: bool,
) -> Result<(), ApiError> {
    if public(segs) || caller.is_admin() {
        return Ok(());
    }
    if segs.first() == Some(&"beluga") {
        return Err(ApiError::new(
            403,
            "Forbidden",
            "beluga's own API is served on its unix socket only",
        ));
    }
    let Caller::Account { namespace, .. } = caller else {
        return Err(unauthorized());
    };
    let Some(a) = attributes(method, segs, watch) else {
        // Discovery and OpenAPI: every authenticated user (`system:discovery`).
        return Ok(());
    };
    if account_may(namespace, a.verb, a.group, &a.resource, a.namespace, a.name) {
        return Ok(());
    }
    Err(forbidden(caller, &a))
}

/// What a pod's service account may do (issue 17 item 4): read the pods of its namespace
/// and that namespace; and ask what it may do (`system:basic-user`).
pub(super) fn account_may(
    own_namespace: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> bool {
    let self_review = matches!(
        (group, resource),
        (
            "authorization.k8s.io",
            "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
        ) | ("authentication.k8s.io", "selfsubjectreviews")
    );
    if self_review {
        return verb == "create";
    }
    let read = matches!(verb, "get" | "list" | "watch");
    let own = match (group, resource) {
        ("", "pods") => namespace == Some(own_namespace),
        ("", "namespaces") => name == Some(own_namespace),
        _ => false,
    };
    read && own
}

/// The RBAC authorizer's refusal, in its words.
fn forbidden(caller: &Caller, a: &Attributes) -> ApiError {
    let resource = a.resource.split('/').next().unwrap_or("");
    let what = match a.name {
        Some(n) => format!("{} {n:?}", a.resource),
        None => a.resource.clone(),
    };
    let scope = match a.namespace {
        Some(ns) => format!(" in the namespace {ns:?}"),
        None => ": cluster-scope".to_string(),
    };
    let message = format!(
        "{what} is forbidden: User {:?} cannot {} resource {:?} in API group {:?}{scope}",
        caller.user(),
        a.verb,
        a.resource,
        a.group,
    );
    ApiError {
        name: a.name.map(String::from),
        resource: discovery::served(resource).unwrap_or(""),
        ..ApiError::new(403, "Forbidden", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<&str> {
        p.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// (method, path, watch, the attributes: verb, group, resource, namespace, name)
    type Case<'a> = (
        &'a str,
        &'a str,
        bool,
        Option<(&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>)>,
    );

    // Table: request → the authorizer's attributes.
    #[test]
    fn attributes_of_requests() {
        let cases: &[Case] = &[
            (
                "GET",
                "/api/v1/pods",
                false,
                Some(("list", "", "pods", None, None)),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods",
                true,
                Some(("watch", "", "pods", Some("a"), None)),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/p",
                false,
                Some(("get", "", "pods", Some("a"), Some("p"))),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/p/log",
                false,
                Some(("get", "", "pods/log", Some("a"), Some("p"))),
            ),
            (
                "POST",
                "/api/v1/namespaces/a/pods/p/exec",
                false,
                Some(("create", "", "pods/exec", Some("a"), Some("p"))),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/p/portforward",
                false,
                Some(("create", "", "pods/portforward", Some("a"), Some("p"))),
            ),
            (
                "GET",
                "/api/v1/namespaces/a/pods/p/exec",
                false,
                Some(("create", "", "pods/exec", Some("a"), Some("p"))),
            ),
            (
                "DELETE",
                "/api/v1/namespaces/a/pods/p",
                false,
                Some(("delete", "", "pods", Some("a"), Some("p"))),
            ),
            (
                "GET",
                "/api/v1/namespaces/a",
                false,
                Some(("get", "", "namespaces", None, Some("a"))),
            ),
            (
                "GET",
                "/api/v1/namespaces",
                false,
                Some(("list", "", "namespaces", None, None)),
            ),
            (
                "GET",
                "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices",
                false,
                Some((
                    "list",
                    "discovery.k8s.io",
                    "endpointslices",
                    Some("a"),
                    None,
                )),
            ),
            ("GET", "/api", false, None),
            ("GET", "/api/v1", false, None),
            ("GET", "/apis/discovery.k8s.io/v1", false, None),
            ("GET", "/version", false, None),
        ];
        for (m, p, watch, want) in cases {
            let method: Method = m.parse().unwrap();
            let got = attributes(&method, &segs(p), *watch)
                .map(|a| (a.verb, a.group, a.resource, a.namespace, a.name));
            let want = want.map(|(v, g, r, ns, n)| (v, g, r.to_string(), ns, n));
            assert_eq!(got, want, "{m} {p}");
        }
    }

    // Issue 17 item 4: an account reads pods and its namespace in its own namespace only.
    #[test]
    fn accounts_read_their_own_namespace_only() {
        let sa = Caller::Account {
            namespace: "a".into(),
            name: "default".into(),
        };
        let ok = |m: &str, p: &str| authorize(&sa, &m.parse().unwrap(), &segs(p), false);
        assert!(ok("GET", "/api/v1/namespaces/a/pods").is_ok());
        assert!(ok("GET", "/api/v1/namespaces/a/pods/p").is_ok());
        assert!(ok("GET", "/api/v1/namespaces/a").is_ok());
        assert!(ok("GET", "/apis").is_ok());
        assert!(ok("GET", "/version").is_ok());
        let e = ok("GET", "/api/v1/namespaces/b/pods").unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods is forbidden: User \"system:serviceaccount:a:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"b\""
        );
        let e = ok("DELETE", "/api/v1/namespaces/a/pods/p").unwrap_err();
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: User \"system:serviceaccount:a:default\" cannot delete resource \"pods\" in API group \"\" in the namespace \"a\""
        );
        let e = ok("GET", "/api/v1/namespaces/a/secrets").unwrap_err();
        assert_eq!(e.code, 403);
        let e = ok("GET", "/api/v1/pods").unwrap_err();
        assert!(e.message.ends_with(": cluster-scope"), "{}", e.message);
        assert_eq!(ok("GET", "/beluga/v1/images").unwrap_err().code, 403);
        let nobody = authorize(&Caller::Nobody, &Method::GET, &segs("/api/v1/pods"), false);
        assert_eq!(nobody.unwrap_err().code, 401);
        assert!(authorize(&Caller::Nobody, &Method::GET, &segs("/version"), false).is_ok());
        assert!(authorize(
            &Caller::Admin,
            &Method::DELETE,
            &segs("/api/v1/namespaces/x"),
            false
        )
        .is_ok());
    }
}
