//! Service-account tokens (issue 16 item 5): what kube-apiserver's TokenRequest issues for a
//! pod's `serviceAccountToken` projection — a JWT signed with the node's service-account key
//! (ES256), bound to the pod, with the claims of pkg/serviceaccount/claims.go — and kubelet's
//! token manager's rule for when to ask for a new one (pkg/kubelet/token).

use crate::pki::Pki;
use base64::Engine;
use beluga_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

/// `ExpirationExtensionSeconds`: what a token requested for exactly 3607 s (the admission's)
/// lives, with a `warnafter` at the requested time (`--service-account-extend-token-expiration`).
const EXTENDED_SECONDS: i64 = 24 * 365 * 60 * 60;

/// kubelet's `maxTTL`: a token is renewed at least daily.
const MAX_TTL: SignedDuration = SignedDuration::from_hours(24);

/// Who a token is for.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub namespace: &'a str,
    pub account: &'a str,
    pub account_uid: &'a str,
    pub pod: &'a str,
    pub pod_uid: &'a str,
    pub node: &'a str,
}

/// A token and when it lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub expires: Timestamp,
    /// What was asked for (`expirationSeconds`), which kubelet's refresh rule counts with.
    pub requested: i64,
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The issuer (and default audience) of this node's tokens: the in-cluster API's name.
pub fn issuer(cluster_domain: &str) -> String {
    format!("https://kubernetes.default.svc.{cluster_domain}")
}

/// A token for `who`, for `audiences` (the issuer when empty), valid `seconds` from `now`.
pub fn issue(
    pki: &Pki,
    who: &Subject,
    issuer: &str,
    audiences: &[String],
    seconds: i64,
    now: Timestamp,
) -> Result<Issued, String> {
    let iat = now.as_second();
    let lifetime = if seconds == beluga_api::serviceaccount::WARN_ONLY_EXPIRATION_SECONDS {
        EXTENDED_SECONDS
    } else {
        seconds
    };
    let aud = if audiences.is_empty() {
        vec![issuer.to_string()]
    } else {
        audiences.to_vec()
    };
    let mut k8s = json!({
        "namespace": who.namespace,
        "node": {"name": who.node},
        "pod": {"name": who.pod, "uid": who.pod_uid},
        "serviceaccount": {"name": who.account, "uid": who.account_uid},
    });
    if lifetime != seconds {
        k8s["warnafter"] = json!(iat + seconds);
    }
    let claims = json!({
        "aud": aud,
        "exp": iat + lifetime,
        "iat": iat,
        "iss": issuer,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": k8s,
        "nbf": iat,
        "sub": format!("system:serviceaccount:{}:{}", who.namespace, who.account),
    });
    let header = json!({"alg": "ES256", "kid": pki.sa_key_id});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = pki
        .sa_key
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .map_err(|_| "signing the token failed".to_string())?;
    let expires = Timestamp::from_second(iat + lifetime).map_err(|e| e.to_string())?;
    Ok(Issued {
        token: format!("{signing_input}.{}", b64(sig.as_ref())),
        expires,
        requested: seconds,
    })
}

/// Whom a token this node signed speaks for, as kube-apiserver's service-account
/// authenticator reads it (pkg/serviceaccount/jwt.go): the signature checked against the
/// node's key, the issuer and an audience the issuer, the time inside `nbf`..`exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub namespace: String,
    pub account: String,
    /// The pod the token is bound to (checked to exist by the caller).
    pub pod_uid: Option<String>,
}

/// The token's subject, or why it is refused.
pub fn verify(pki: &Pki, token: &str, issuer: &str, now: Timestamp) -> Result<Verified, String> {
    let dec = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "malformed token".to_string())
    };
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT".into());
    };
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        ring::signature::KeyPair::public_key(&pki.sa_key).as_ref(),
    );
    key.verify(format!("{h}.{c}").as_bytes(), &dec(sig)?)
        .map_err(|_| "invalid signature".to_string())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&dec(c)?).map_err(|_| "malformed claims".to_string())?;
    if claims["iss"] != issuer {
        return Err("wrong issuer".into());
    }
    let aud = claims["aud"].as_array().into_iter().flatten();
    if !aud.clone().any(|a| a == issuer) {
        return Err("token audiences is invalid for the target audiences".into());
    }
    let t = now.as_second();
    let (nbf, exp) = (claims["nbf"].as_i64(), claims["exp"].as_i64());
    if nbf.is_some_and(|n| t < n) || exp.is_none_or(|e| t >= e) {
        return Err("token has expired".into());
    }
    let k8s = &claims["kubernetes.io"];
    let (Some(namespace), Some(account)) = (
        k8s["namespace"].as_str(),
        k8s["serviceaccount"]["name"].as_str(),
    ) else {
        return Err("not a service-account token".into());
    };
    Ok(Verified {
        namespace: namespace.to_string(),
        account: account.to_string(),
        pod_uid: k8s["pod"]["uid"].as_str().map(String::from),
    })
}

/// kubelet's `requiresRefresh` without its jitter: when the token is a day old (counted from
/// its expiry less what was asked for), or within the last 20% of what was asked for.
pub fn refresh_at(t: &Issued) -> Timestamp {
    let asked = SignedDuration::from_secs(t.requested);
    let iat = t.expires - asked;
    let daily = iat + MAX_TTL;
    let late = t.expires - SignedDuration::from_secs(t.requested * 20 / 100);
    daily.min(late)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 17 item 4: a token this node signed is its account; a changed, foreign-audience
    // or expired one is not.
    #[test]
    fn tokens_verify_as_their_account() {
        let d = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(d.path()).unwrap();
        let who = Subject {
            namespace: "ns",
            account: "sa",
            account_uid: "u1",
            pod: "p",
            pod_uid: "u2",
            node: "n",
        };
        let iss = issuer("cluster.local");
        let now = Timestamp::from_second(1_000_000).unwrap();
        let t = issue(&pki, &who, &iss, &[], 600, now).unwrap().token;
        let v = verify(&pki, &t, &iss, now).unwrap();
        assert_eq!((v.namespace.as_str(), v.account.as_str()), ("ns", "sa"));
        assert_eq!(v.pod_uid.as_deref(), Some("u2"));
        let later = Timestamp::from_second(1_000_600).unwrap();
        assert_eq!(
            verify(&pki, &t, &iss, later).unwrap_err(),
            "token has expired"
        );
        let mut forged: Vec<char> = t.chars().collect();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        assert!(verify(&pki, &forged, &iss, now).is_err());
        let vault = issue(&pki, &who, &iss, &["vault".into()], 600, now)
            .unwrap()
            .token;
        assert!(verify(&pki, &vault, &iss, now).is_err());
        assert!(verify(&pki, "a.b", &iss, now).is_err());
        let other = Pki::load_or_create(&d.path().join("other")).unwrap();
        assert_eq!(
            verify(&other, &t, &iss, now).unwrap_err(),
            "invalid signature"
        );
    }

    fn claims_of(token: &str, pki: &Pki) -> serde_json::Value {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let dec = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let header: serde_json::Value = serde_json::from_slice(&dec(parts[0])).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": pki.sa_key_id}));
        use ring::signature::KeyPair;
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            pki.sa_key.public_key().as_ref(),
        );
        let input = format!("{}.{}", parts[0], parts[1]);
        key.verify(input.as_bytes(), &dec(parts[2]))
            .expect("signature");
        serde_json::from_slice(&dec(parts[1])).unwrap()
    }

    #[test]
    fn tokens_are_bound_signed_and_renewed_as_kubelet_renews_them() {
        let d = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(d.path()).unwrap();
        let who = Subject {
            namespace: "elastic-stack",
            account: "default",
            account_uid: "sa-uid",
            pod: "app",
            pod_uid: "pod-uid",
            node: "vm",
        };
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let iss = issuer("cluster.local");
        // The admission's 3607 s: a year, with a warning after 3607 s.
        let t = issue(&pki, &who, &iss, &[], 3607, now).unwrap();
        let c = claims_of(&t.token, &pki);
        let iat = now.as_second();
        assert_eq!(c["iss"], "https://kubernetes.default.svc.cluster.local");
        assert_eq!(
            c["aud"],
            json!(["https://kubernetes.default.svc.cluster.local"])
        );
        assert_eq!(c["sub"], "system:serviceaccount:elastic-stack:default");
        assert_eq!(c["iat"], iat);
        assert_eq!(c["nbf"], iat);
        assert_eq!(c["exp"], iat + EXTENDED_SECONDS);
        assert_eq!(c["kubernetes.io"]["warnafter"], iat + 3607);
        assert_eq!(
            c["kubernetes.io"]["pod"],
            json!({"name": "app", "uid": "pod-uid"})
        );
        assert_eq!(
            c["kubernetes.io"]["serviceaccount"],
            json!({"name": "default", "uid": "sa-uid"})
        );
        assert_eq!(c["kubernetes.io"]["namespace"], "elastic-stack");
        // kubelet renews it near the end of the year (its "iat" is the expiry less 3607 s).
        let at = refresh_at(&t);
        assert_eq!(at, t.expires - SignedDuration::from_secs(721));
        // Another lifetime is as asked, for the audiences asked; renewed at 80%.
        let t = issue(&pki, &who, &iss, &["vault".into()], 7200, now).unwrap();
        let c = claims_of(&t.token, &pki);
        assert_eq!(c["exp"], iat + 7200);
        assert_eq!(c["aud"], json!(["vault"]));
        assert!(c["kubernetes.io"].get("warnafter").is_none());
        assert_eq!(refresh_at(&t), now + SignedDuration::from_secs(5760));
        // A two-day token: renewed after a day.
        let t = issue(&pki, &who, &iss, &[], 172_800, now).unwrap();
        assert_eq!(refresh_at(&t), now + MAX_TTL);
    }
}
