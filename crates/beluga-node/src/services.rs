//! Services (issue 15): the objects — defaulted and validated as the apiserver does
//! (`beluga_api::service`), persisted one file each under `<root>/services` — and what they hold:
//! cluster IPs from `--service-cidr`, node ports from 30000–32767, each given once. The
//! `kubernetes` Service of `default` exists as on a cluster (the range's first address).

use crate::ApiError;
use beluga_api::k8s_openapi::api::core::v1::ServicePort;
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use beluga_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::service::{self, alloc, validation};
use beluga_api::{Service, ServiceSpec};
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tracing::warn;

type Key = (String, String);

pub struct Services {
    dir: PathBuf,
    cidr: Ipv4Net,
    objects: Mutex<BTreeMap<Key, Service>>,
}

fn key_of(svc: &Service) -> Key {
    (
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

fn file_name(ns: &str, name: &str) -> String {
    // Both are DNS labels (validated), so `_` cannot occur in either.
    format!("{ns}_{name}.json")
}

impl Services {
    /// The Services kept under `dir` (made 0700 if missing); a file that does not parse is
    /// logged and left where it is.
    pub fn open(dir: &Path, cidr: Ipv4Net) -> std::io::Result<Services> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut objects = BTreeMap::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path).map(|b| serde_json::from_slice::<Service>(&b)) {
                Ok(Ok(svc)) => {
                    objects.insert(key_of(&svc), svc);
                }
                Ok(Err(e)) => warn!(path = %path.display(), "a damaged Service record: {e}"),
                Err(e) => warn!(path = %path.display(), "an unreadable Service record: {e}"),
            }
        }
        Ok(Services {
            dir: dir.to_path_buf(),
            cidr,
            objects: Mutex::new(objects),
        })
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<Key, Service>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    /// The highest resourceVersion kept (so the daemon never issues one again).
    pub fn max_resource_version(&self) -> Option<u64> {
        self.objects()
            .values()
            .filter_map(|s| s.metadata.resource_version.as_deref()?.parse().ok())
            .max()
    }

    pub fn list(&self, ns: Option<&str>) -> Vec<Service> {
        self.objects()
            .iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, s)| s.clone())
            .collect()
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<Service> {
        self.objects()
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    fn persist(&self, svc: &Service) -> Result<(), ApiError> {
        let (ns, name) = key_of(svc);
        let bytes = serde_json::to_vec(svc).map_err(internal)?;
        beluga_fsutil::write_atomic(&self.dir.join(file_name(&ns, &name)), &bytes)
            .map_err(|e| internal(format!("persisting service: {e}")))
    }

    /// `POST`: defaults, validation, the cluster IP and node ports, then the record. Nothing
    /// is kept on error.
    pub fn create(
        &self,
        mut svc: Service,
        ns: &str,
        rv: String,
        now: Timestamp,
    ) -> Result<Service, ApiError> {
        check_namespace(&svc, ns)?;
        svc.metadata.namespace = Some(ns.to_string());
        service::apply_defaults(&mut svc);
        let name = svc.metadata.name.clone().unwrap_or_default();
        let errs = validation::validate(&svc);
        if !errs.is_empty() {
            return Err(ApiError::invalid_kind("Service", &name, errs));
        }
        let mut objects = self.objects();
        let key = (ns.to_string(), name.clone());
        if objects.contains_key(&key) {
            return Err(ApiError::already_exists("services", &name));
        }
        allocate(&mut svc, self.cidr, &objects, None)?;
        svc.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        svc.metadata.creation_timestamp = Some(Time(now));
        // A dry run shows the addresses it would get, none of them taken.
        if crate::dry_run::active() {
            return Ok(svc);
        }
        svc.metadata.resource_version = Some(rv);
        self.persist(&svc)?;
        objects.insert(key, svc.clone());
        Ok(svc)
    }

    /// `PUT`: what was allocated is kept when left out; the addresses may not change.
    pub fn update(
        &self,
        mut svc: Service,
        ns: &str,
        name: &str,
        rv: String,
    ) -> Result<Service, ApiError> {
        check_namespace(&svc, ns)?;
        let mut objects = self.objects();
        let key = (ns.to_string(), name.to_string());
        let old = objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found_in("services", name))?;
        ApiError::check_version(
            "services",
            name,
            svc.metadata.resource_version.as_deref(),
            old.metadata.resource_version.as_deref(),
        )?;
        svc.metadata.namespace = Some(ns.to_string());
        service::apply_defaults(&mut svc);
        service::patch_allocated_values(&mut svc, &old);
        let errs = validation::validate_update(&svc, &old);
        if !errs.is_empty() {
            return Err(ApiError::invalid_kind("Service", name, errs));
        }
        allocate(&mut svc, self.cidr, &objects, Some(&key))?;
        svc.metadata.uid = old.metadata.uid.clone();
        svc.metadata.creation_timestamp = old.metadata.creation_timestamp.clone();
        if crate::dry_run::active() {
            svc.metadata.resource_version = old.metadata.resource_version.clone();
            return Ok(svc);
        }
        svc.metadata.resource_version = Some(rv);
        self.persist(&svc)?;
        objects.insert(key, svc.clone());
        Ok(svc)
    }

    /// `DELETE`: the record goes, and with it the addresses and ports.
    pub fn delete(&self, ns: &str, name: &str) -> Result<Service, ApiError> {
        let mut objects = self.objects();
        let key = (ns.to_string(), name.to_string());
        if !objects.contains_key(&key) {
            return Err(ApiError::not_found_in("services", name));
        }
        if crate::dry_run::active() {
            return Ok(objects.get(&key).cloned().unwrap_or_default());
        }
        match std::fs::remove_file(self.dir.join(file_name(ns, name))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal(format!("removing service: {e}"))),
        }
        Ok(objects.remove(&key).unwrap_or_default())
    }

    /// The `kubernetes` Service of `default`, made when missing: the range's first address,
    /// `https` 443 → the API's 6443, no selector (its endpoints are the API server's).
    pub fn ensure_kubernetes(&self, rv: String, now: Timestamp) -> Result<(), ApiError> {
        if self.get(KUBERNETES.0, KUBERNETES.1).is_some() {
            return Ok(());
        }
        let ip = alloc::first_ip(self.cidr).map(|ip| ip.to_string());
        let svc = Service {
            metadata: beluga_api::ObjectMeta {
                name: Some("kubernetes".into()),
                labels: Some(BTreeMap::from([
                    ("component".to_string(), "apiserver".to_string()),
                    ("provider".to_string(), "kubernetes".to_string()),
                ])),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: ip,
                ports: Some(vec![ServicePort {
                    name: Some("https".into()),
                    port: 443,
                    target_port: Some(IntOrString::Int(6443)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create(svc, "default", rv, now).map(|_| ())
    }
}

impl Services {
    /// The cluster DNS Service, `kube-dns` of `kube-system` as kubeadm names it, at the range's
    /// tenth address (`10.96.0.10`), made when missing; its endpoint is the daemon's own DNS
    /// server (`proxy`).
    pub fn ensure_kube_dns(&self, rv: String, now: Timestamp) -> Result<(), ApiError> {
        if self.get(KUBE_DNS.0, KUBE_DNS.1).is_some() {
            return Ok(());
        }
        let Some(ip) = alloc::dns_ip(self.cidr) else {
            return Ok(());
        };
        let port = |name: &str, protocol: &str| ServicePort {
            name: Some(name.into()),
            port: 53,
            protocol: Some(protocol.into()),
            target_port: Some(IntOrString::Int(53)),
            ..Default::default()
        };
        let svc = Service {
            metadata: beluga_api::ObjectMeta {
                name: Some(KUBE_DNS.1.into()),
                labels: Some(BTreeMap::from([
                    ("k8s-app".to_string(), "kube-dns".to_string()),
                    ("kubernetes.io/name".to_string(), "CoreDNS".to_string()),
                ])),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.to_string()),
                ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.create(svc, KUBE_DNS.0, rv, now).map(|_| ())
    }
}

/// The API's Service's namespace and name.
pub const KUBERNETES: (&str, &str) = ("default", "kubernetes");

/// The cluster DNS Service's namespace and name.
pub const KUBE_DNS: (&str, &str) = ("kube-system", "kube-dns");

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "InternalError", e.to_string())
}

fn check_namespace(svc: &Service, ns: &str) -> Result<(), ApiError> {
    match svc.metadata.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(n) if n != ns => Err(ApiError::new(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// What the other Services hold (all but `except`, the one being updated).
fn taken(
    objects: &BTreeMap<Key, Service>,
    except: Option<&Key>,
) -> (HashSet<Ipv4Addr>, HashSet<u16>) {
    let (mut ips, mut ports) = (HashSet::new(), HashSet::new());
    for (k, s) in objects {
        if Some(k) == except {
            continue;
        }
        let spec = s.spec.clone().unwrap_or_default();
        ips.extend(
            spec.cluster_ips
                .iter()
                .flatten()
                .filter_map(|ip| ip.parse::<Ipv4Addr>().ok()),
        );
        ports.extend(
            spec.ports
                .iter()
                .flatten()
                .filter_map(|p| u16::try_from(p.node_port?).ok()),
        );
    }
    (ips, ports)
}

/// `allocateCreate` for one IPv4 family: the IP family fields, the cluster IP (asked for or
/// chosen), the node ports (asked for or chosen, one per port number).
fn allocate(
    svc: &mut Service,
    cidr: Ipv4Net,
    objects: &BTreeMap<Key, Service>,
    except: Option<&Key>,
) -> Result<(), ApiError> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let (ips, ports) = taken(objects, except);
    let kind = service::spec_type(svc).to_string();
    let has_selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    let headless = service::is_headless(svc);
    let spec = svc.spec.get_or_insert_with(Default::default);
    if kind == "ExternalName" {
        return Ok(());
    }
    init_ip_families(spec, headless, has_selector);
    if !headless {
        allocate_cluster_ip(spec, cidr, &ips, &name)?;
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        allocate_node_ports(spec, &ports, &name)?;
    }
    Ok(())
}

/// `initIPFamilyFields` on a single-stack IPv4 cluster: SingleStack and IPv4, except a
/// headless Service without a selector, which asks for both families.
fn init_ip_families(spec: &mut ServiceSpec, headless: bool, has_selector: bool) {
    let both = headless && !has_selector && spec.ip_family_policy.is_none();
    let policy = spec
        .ip_family_policy
        .get_or_insert_with(|| {
            if both {
                "RequireDualStack"
            } else {
                "SingleStack"
            }
            .into()
        })
        .clone();
    let families = spec.ip_families.get_or_insert_with(Vec::new);
    if families.is_empty() {
        families.push("IPv4".into());
    }
    if headless && !has_selector && policy != "SingleStack" && families.len() < 2 {
        let other = if families[0] == "IPv4" {
            "IPv6"
        } else {
            "IPv4"
        };
        families.push(other.into());
    }
}

fn allocate_cluster_ip(
    spec: &mut ServiceSpec,
    cidr: Ipv4Net,
    taken: &HashSet<Ipv4Addr>,
    name: &str,
) -> Result<(), ApiError> {
    let asked = spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
    let ip = match asked {
        Some(ip) => {
            let v4 = ip.parse::<Ipv4Addr>().map_err(|_| {
                let e = beluga_api::field::FieldError::invalid(
                    "spec.ipFamilies[0]",
                    "IPv6",
                    "not configured on this cluster",
                );
                ApiError::invalid_kind("Service", name, vec![e])
            })?;
            if let Err(msg) = alloc::check_ip(cidr, v4, taken) {
                let detail = format!("failed to allocate IP {ip}: {msg}");
                let e = beluga_api::field::FieldError::invalid(
                    "spec.clusterIPs",
                    beluga_api::field::Value::strings(std::slice::from_ref(&ip)),
                    detail,
                );
                return Err(ApiError::invalid_kind("Service", name, vec![e]));
            }
            v4
        }
        None => alloc::next_ip(cidr, taken, rand_seed())
            .ok_or_else(|| internal("failed to allocate a serviceIP: range is full"))?,
    };
    spec.cluster_ip = Some(ip.to_string());
    spec.cluster_ips = Some(vec![ip.to_string()]);
    Ok(())
}

/// `initNodePorts`: a port asked for is checked; others get one chosen, the same for every
/// entry of one port number (TCP and UDP 53 share a node port).
fn allocate_node_ports(
    spec: &mut ServiceSpec,
    taken: &HashSet<u16>,
    name: &str,
) -> Result<(), ApiError> {
    let mut taken = taken.clone();
    let mut by_port: BTreeMap<i32, i32> = BTreeMap::new();
    for (i, p) in spec.ports.iter_mut().flatten().enumerate() {
        let asked = p.node_port.unwrap_or(0);
        let chosen = if asked != 0 {
            if by_port.get(&p.port) != Some(&asked) {
                let port = alloc::check_node_port(asked, &taken).map_err(|msg| {
                    let e = beluga_api::field::FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        asked,
                        msg,
                    );
                    ApiError::invalid_kind("Service", name, vec![e])
                })?;
                taken.insert(port);
            }
            asked
        } else if let Some(n) = by_port.get(&p.port) {
            *n
        } else {
            let port = alloc::next_node_port(&taken, rand_seed())
                .ok_or_else(|| internal("failed to allocate a nodePort: range is full"))?;
            taken.insert(port);
            i32::from(port)
        };
        by_port.insert(p.port, chosen);
        p.node_port = Some(chosen);
    }
    Ok(())
}

fn rand_seed() -> u64 {
    let b = *uuid::Uuid::new_v4().as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}
