//! Content digests (`sha256:<64 lowercase hex>`), checked before any of them names a file.
//!
//! A digest or diff ID read from an archive, an image config, a registry or `images.json` is
//! untrusted text; the store joins digests into paths (`blobs/sha256/<hex>`,
//! `layers/<hex>`), so only a value that parses here may reach it (attack report 3.4, 3.5, 3.13).

use crate::ImageError;
use serde::{Deserialize, Serialize};

/// A parsed `sha256:` digest. The only algorithm the store hashes with, so the only one it takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex digits>`; `what` names the value in the error.
    pub fn parse(what: &str, s: &str) -> Result<Digest, ImageError> {
        let ok = s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Digest(s.to_string()))
        } else {
            Err(ImageError::InvalidDigest {
                what: what.to_string(),
                value: s.chars().take(120).collect(),
            })
        }
    }

    /// The digest of bytes already hashed here.
    pub(crate) fn from_sha256(hash: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(hash)))
    }

    /// The 64 hex digits: a file name that can never leave its directory.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Digest {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = ImageError;
    fn try_from(s: String) -> Result<Digest, ImageError> {
        Digest::parse("digest", &s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// `rootfs.diff_ids` of an image config, bottom layer first; one that is not a digest refuses
/// the whole image.
pub fn diff_ids(config: &serde_json::Value) -> Result<Vec<Digest>, ImageError> {
    match &config["rootfs"]["diff_ids"] {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|d| Digest::parse("diff ID", d.as_str().unwrap_or_default()))
            .collect(),
        _ => Err(ImageError::InvalidDigest {
            what: "rootfs.diff_ids".into(),
            value: config["rootfs"]["diff_ids"].to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Attack report 3.4/3.5/3.13: only a real digest may become a path.
    #[test]
    fn only_sha256_hex_parses() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(Digest::parse("diff ID", &good).unwrap().hex().len(), 64);
        for bad in [
            "sha256:../../../../etc".to_string(),
            format!("sha256:{}/..", "a".repeat(61)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "a".repeat(65)),
            format!("sha512:{}", "a".repeat(64)),
            "a".repeat(64),
            String::new(),
            "sha256:".to_string(),
            format!("sha256:{}\n", "a".repeat(63)),
        ] {
            let e = Digest::parse("diff ID", &bad).unwrap_err();
            assert!(
                e.to_string().starts_with("invalid diff ID "),
                "{bad:?}: {e}"
            );
        }
        // images.json goes through the same check.
        let rec: Result<Vec<Digest>, _> = serde_json::from_str(r#"["sha256:../../etc"]"#);
        assert!(rec.is_err());
    }
}
