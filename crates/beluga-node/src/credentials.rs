//! The Kubernetes API's credentials (issue 17 item 1), all from the cluster CA (`pki`): a
//! serving certificate made at every start for the names a client dials (127.0.0.1, ::1,
//! localhost, the host's name, the listen address, the `kubernetes` Service), and the admin's
//! credentials made once under `<root>/pki` (0600): a client certificate (CN `beluga-admin`,
//! O `system:masters`, as kubeadm's admin.conf) and a random 256-bit bearer token.

use crate::pki::{io, write_private, Pki, PkiError};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use ring::rand::SecureRandom;
use std::net::IpAddr;
use std::path::Path;

/// How long an admin client certificate is valid (kubeadm's: one year; this one is remade
/// only with the root, so ten, as the CA).
const ADMIN_DAYS: u64 = 3650;
/// A serving certificate is made at every start; a year is long enough for any daemon.
const SERVING_DAYS: u64 = 365;

/// The admin's credentials: what `beluga kubeconfig` hands kubectl.
#[derive(Clone)]
pub struct Admin {
    pub cert_pem: String,
    pub key_pem: String,
    pub token: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

fn err(what: &'static str) -> impl Fn(rcgen::Error) -> PkiError {
    move |e| PkiError::Key(format!("{what}: {e}"))
}

/// A certificate for `params` with a new P-256 key, signed by the cluster CA (PEM both).
fn signed(
    pki: &Pki,
    mut params: CertificateParams,
    days: u64,
) -> Result<(String, String), PkiError> {
    let (issuer, issuer_key) = pki.issuer()?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err("a key"))?;
    let now = std::time::SystemTime::now();
    // A minute back: a client whose clock is a little behind still accepts it.
    params.not_before = (now - std::time::Duration::from_secs(60)).into();
    params.not_after = (now + std::time::Duration::from_secs(days * 86_400)).into();
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params
        .signed_by(&key, &issuer, &issuer_key)
        .map_err(err("signing a certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The names a serving certificate carries: the loopback ones, the host's name, `extra`
/// (the listen address, the `kubernetes` Service's cluster IP) and the Service's DNS names.
pub fn serving_names(extra: &[IpAddr], cluster_domain: &str) -> Vec<String> {
    let mut names: Vec<String> = ["127.0.0.1", "::1", "localhost"].map(String::from).to_vec();
    if let Ok(host) = rustix::system::uname().nodename().to_str() {
        names.push(host.to_string());
    }
    for svc in ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] {
        names.push(svc.to_string());
    }
    names.push(format!("kubernetes.default.svc.{cluster_domain}"));
    names.extend(
        extra
            .iter()
            .filter(|ip| !ip.is_unspecified())
            .map(IpAddr::to_string),
    );
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// A serving certificate for `names` (PEM certificate, PEM key).
pub fn serving(pki: &Pki, names: Vec<String>) -> Result<(String, String), PkiError> {
    let mut params = CertificateParams::new(names).map_err(err("the serving names"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    signed(pki, params, SERVING_DAYS)
}

/// The admin's credentials under `dir`, made there first if missing.
pub fn admin(pki: &Pki, dir: &Path) -> Result<Admin, PkiError> {
    let (crt, key, token) = (
        dir.join("admin.crt"),
        dir.join("admin.key"),
        dir.join("admin.token"),
    );
    if !crt.exists() || !key.exists() {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err("admin"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        params
            .distinguished_name
            .push(DnType::CommonName, "beluga-admin");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let (cert_pem, key_pem) = signed(pki, params, ADMIN_DAYS)?;
        write_private(&key, key_pem.as_bytes())?;
        write_private(&crt, cert_pem.as_bytes())?;
    }
    if !token.exists() {
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PkiError::Key("no random bytes for the admin token".into()))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&token, hex.as_bytes())?;
    }
    Ok(Admin {
        cert_pem: std::fs::read_to_string(&crt).map_err(io(&crt))?,
        key_pem: std::fs::read_to_string(&key).map_err(io(&key))?,
        token: std::fs::read_to_string(&token)
            .map_err(io(&token))?
            .trim()
            .to_string(),
    })
}

/// Whether `given` is `expected`, in time that does not depend on where they differ.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_credentials_are_made_once_and_kept_private() {
        let d = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(&d.path().join("pki")).unwrap();
        let a = admin(&pki, &d.path().join("pki")).unwrap();
        let b = admin(&pki, &d.path().join("pki")).unwrap();
        assert_eq!(a.token, b.token);
        assert_eq!(a.cert_pem, b.cert_pem);
        assert_eq!(a.token.len(), 64);
        use std::os::unix::fs::PermissionsExt;
        for f in ["admin.crt", "admin.key", "admin.token"] {
            let m = std::fs::metadata(d.path().join("pki").join(f)).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f}");
        }
    }

    #[test]
    fn serving_names_cover_loopback_the_host_and_the_service() {
        let names = serving_names(
            &["10.96.0.1".parse().unwrap(), "0.0.0.0".parse().unwrap()],
            "cluster.local",
        );
        for n in [
            "127.0.0.1",
            "::1",
            "localhost",
            "10.96.0.1",
            "kubernetes.default.svc.cluster.local",
        ] {
            assert!(names.contains(&n.to_string()), "{n} in {names:?}");
        }
        assert!(!names.contains(&"0.0.0.0".to_string()));
        let d = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(d.path()).unwrap();
        let (cert, key) = serving(&pki, names).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.contains("PRIVATE KEY"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }
}
