//! Image reference normalization, as containerd and kubelet see references.

use crate::{ImageError, Result};

/// `busybox` → `docker.io/library/busybox:latest`; `localhost/busybox:1` stays as it is.
pub fn normalize(reference: &str) -> Result<String> {
    let r = reference.trim();
    if r.is_empty()
        || r.chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase() && !r.contains('@'))
    {
        return Err(ImageError::InvalidReference(reference.to_string()));
    }
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let (first, rest) = match name.split_once('/') {
        Some((f, rest)) if f.contains('.') || f.contains(':') || f == "localhost" => {
            (f.to_string(), rest.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")),
    };
    let mut full = format!("{first}/{rest}");
    let last = full.rsplit('/').next().unwrap_or("");
    if digest.is_none() && !last.contains(':') {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    if !grammar_ok(&first, &rest, digest) {
        return Err(ImageError::InvalidReference(reference.to_string()));
    }
    Ok(full)
}

/// The distribution reference grammar (`docker/distribution/reference`): a domain, path
/// components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, a tag `\w[\w.-]{0,127}`, a digest `alg:hex`.
/// So `..` or an empty segment is never a name (attack report 3.12).
fn grammar_ok(domain: &str, path: &str, digest: Option<&str>) -> bool {
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (path, None),
    };
    // host, or host:port; a host is a name or a bracketed IPv6 address.
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (domain, None),
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let domain_ok = host_ok && port_ok;
    let tag_ok = tag.is_none_or(|t| {
        t.len() <= 128
            && t.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    });
    let digest_ok = digest.is_none_or(|d| {
        d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
                && !hex.is_empty()
                && hex.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    });
    domain_ok && tag_ok && digest_ok && path.split('/').all(component_ok)
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    // Separators: one '.', one or two '_', or any run of '-', each between alphanumerics.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// The `REPOSITORY` and `TAG` columns of `image ls`.
pub fn split_repo_tag(normalized: &str) -> (String, String) {
    if let Some((repo, digest)) = normalized.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    match normalized.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (normalized.to_string(), "<none>".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        for (r, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1", "docker.io/library/busybox:1"),
            ("me/app", "docker.io/me/app:latest"),
            ("localhost/busybox:1", "localhost/busybox:1"),
            ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"),
            ("quay.io/a/b:2", "quay.io/a/b:2"),
            ("busybox@sha256:abc", "docker.io/library/busybox@sha256:abc"),
        ] {
            assert_eq!(normalize(r).unwrap(), want, "{r}");
        }
        assert!(normalize("").is_err());
        assert!(normalize("a b").is_err());
        assert!(normalize("Busybox").is_err());
        // Attack report 3.12: the grammar, not just any text.
        for bad in [
            "../../x:1",
            "a/../b",
            "a//b",
            "a/.b",
            "a..b",
            "a_-b",
            "a:ta/g",
            "a:-t",
            "a@sha256:",
            "a@:abc",
            "-a",
            "a-",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
        for good in [
            "a.b/c__d-e--f:t_1.x-y",
            "my-registry.local:5000/team/app:v1.2",
            "a@sha256:0123abc",
        ] {
            assert!(normalize(good).is_ok(), "{good}");
        }
        assert_eq!(
            split_repo_tag("localhost/busybox:1"),
            ("localhost/busybox".into(), "1".into())
        );
        assert_eq!(
            split_repo_tag("127.0.0.1:5000/b:latest"),
            ("127.0.0.1:5000/b".into(), "latest".into())
        );
    }
}
