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
    if full.split('/').any(|seg| seg.is_empty()) {
        return Err(ImageError::InvalidReference(reference.to_string()));
    }
    Ok(full)
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
