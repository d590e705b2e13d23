//! The node's keys (issue 16 item 5): the cluster CA whose certificate every namespace's
//! `kube-root-ca.crt` publishes (and that will sign the API's serving certificate, issue 17),
//! and the service-account key that signs pods' tokens. Made once under `<root>/pki` (0700,
//! keys 0600) and kept: a restart keeps tokens and `ca.crt` valid.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// A P-256 public key's SubjectPublicKeyInfo before its 65-byte point (id-ecPublicKey,
/// prime256v1, BIT STRING).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// How long the CA made here is valid (kubeadm's CA: 10 years).
const CA_DAYS: i64 = 3650;

pub struct Pki {
    /// The cluster CA's certificate (PEM).
    pub ca_pem: String,
    /// The CA's private key (PKCS#8 PEM), for the serving certificates it signs.
    pub ca_key_pem: String,
    /// Signs service-account tokens (ES256).
    pub sa_key: EcdsaKeyPair,
    /// The token header's `kid`: as kube-apiserver's, the unpadded base64url SHA-256 of the
    /// public key's DER.
    pub sa_key_id: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("sa_key_id", &self.sa_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Key(String),
}

/// A file's I/O error, naming the file.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Pki {
    /// The keys under `dir`, made there first if missing.
    pub fn load_or_create(dir: &Path) -> Result<Pki, PkiError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let (ca_crt, ca_key, sa_key) = (dir.join("ca.crt"), dir.join("ca.key"), dir.join("sa.key"));
        if !ca_crt.exists() || !ca_key.exists() {
            let (cert, key) = make_ca()?;
            write_private(&ca_key, key.as_bytes())?;
            std::fs::write(&ca_crt, cert).map_err(io(&ca_crt))?;
        }
        if !sa_key.exists() {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| PkiError::Key("generating the service-account key failed".into()))?;
            write_private(&sa_key, pkcs8.as_ref())?;
        }
        let ca_pem = std::fs::read_to_string(&ca_crt).map_err(io(&ca_crt))?;
        let ca_key_pem = std::fs::read_to_string(&ca_key).map_err(io(&ca_key))?;
        let der = std::fs::read(&sa_key).map_err(io(&sa_key))?;
        let sa_key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
                .map_err(|e| PkiError::Key(format!("{}: {e}", dir.join("sa.key").display())))?;
        let sa_key_id = key_id(sa_key.public_key().as_ref());
        Ok(Pki {
            ca_pem,
            ca_key_pem,
            sa_key,
            sa_key_id,
        })
    }
}

impl Pki {
    /// The CA as an issuer of certificates (the API's serving and client certificates): its
    /// key, and its certificate rebuilt from the same name and key — what a signature names
    /// (issuer name, authority key id) is the same as the stored certificate's.
    pub fn issuer(&self) -> Result<(rcgen::Certificate, rcgen::KeyPair), PkiError> {
        let err = |e: rcgen::Error| PkiError::Key(format!("the cluster CA: {e}"));
        let key = rcgen::KeyPair::from_pem(&self.ca_key_pem).map_err(err)?;
        let cert = ca_params().map_err(err)?.self_signed(&key).map_err(err)?;
        Ok((cert, key))
    }
}

/// The cluster CA's certificate fields, as kubeadm's `kubernetes` CA.
fn ca_params() -> Result<rcgen::CertificateParams, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "kubernetes");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    Ok(params)
}

/// A self-signed CA certificate and its key (PEM).
fn make_ca() -> Result<(String, String), PkiError> {
    let err = |e: rcgen::Error| PkiError::Key(format!("making the cluster CA: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = ca_params().map_err(err)?;
    let now = std::time::SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + std::time::Duration::from_secs(CA_DAYS as u64 * 86_400)).into();
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A key file, readable by root only, written whole or not at all.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// kube-apiserver's `keyIDFromPublicKey`: base64url (unpadded) of SHA-256 of the PKIX DER.
fn key_id(point: &[u8]) -> String {
    use base64::Engine;
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(point);
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let a = Pki::load_or_create(&d.path().join("pki")).unwrap();
        assert!(
            a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"),
            "{}",
            a.ca_pem
        );
        let b = Pki::load_or_create(&d.path().join("pki")).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.sa_key_id, b.sa_key_id);
        assert_eq!(a.sa_key_id.len(), 43);
        use std::os::unix::fs::PermissionsExt;
        for f in ["ca.key", "sa.key"] {
            let m = std::fs::metadata(d.path().join("pki").join(f)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        }
        let m = std::fs::metadata(d.path().join("pki")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
    }
}
