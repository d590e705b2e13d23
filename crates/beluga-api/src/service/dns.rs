//! Cluster DNS answers, per the Kubernetes DNS specification (`kubernetes/dns`
//! `docs/specification.md`) as CoreDNS's `kubernetes` plugin gives them (`pods insecure`,
//! TTL 5): Services' `A` and `SRV` records, headless Services' ready endpoints, pods'
//! `<a-b-c-d>.<ns>.pod` names, `PTR` for Service and endpoint addresses; a name of the zone that
//! exists without records of the type asked is an empty answer, one that does not is NXDOMAIN,
//! and names outside the zone are not ours (the server forwards them).

use super::slices::slices;
use crate::{Pod, Service};
use std::net::Ipv4Addr;

pub const TTL: u32 = 5;

/// The record types answered here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    A,
    Aaaa,
    Srv,
    Ptr,
    Cname,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    A(Ipv4Addr),
    Srv {
        weight: u16,
        port: u16,
        target: String,
    },
    Ptr(String),
    Cname(String),
}

/// One answer record: its owner name (absolute, lower case) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub name: String,
    pub data: Data,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The records (possibly none: the name exists, nothing of that type).
    Records(Vec<Rec>),
    NxDomain,
    /// Outside the cluster's zone (and not a reverse name of its addresses): forward it.
    NotOurs,
}

/// What the answers are computed from.
pub struct Zone<'a> {
    pub domain: &'a str,
    pub services: &'a [Service],
    pub pods: &'a [Pod],
}

fn lower_abs(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n.ends_with('.') {
        n
    } else {
        format!("{n}.")
    }
}

impl Zone<'_> {
    fn zone(&self) -> String {
        lower_abs(self.domain)
    }

    fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| {
            s.metadata.name.as_deref() == Some(name)
                && s.metadata.namespace.as_deref().unwrap_or("default") == ns
        })
    }

    fn svc_name(&self, svc: &Service) -> String {
        format!(
            "{}.{}.svc.{}",
            svc.metadata.name.as_deref().unwrap_or(""),
            svc.metadata.namespace.as_deref().unwrap_or("default"),
            self.zone()
        )
    }

    /// A headless Service's ready endpoints: (hostname label, address).
    fn endpoints(&self, svc: &Service) -> Vec<(String, Ipv4Addr)> {
        let mut out = Vec::new();
        for s in slices(svc, self.pods) {
            for e in &s.endpoints {
                let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
                let publish = svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.publish_not_ready_addresses)
                    .unwrap_or(false);
                let Some(ip) = e.addresses.first().and_then(|a| a.parse().ok()) else {
                    continue;
                };
                if ready || publish {
                    let host = e.hostname.clone().unwrap_or_else(|| ip_label(ip));
                    out.push((host, ip));
                }
            }
        }
        out
    }

    /// The answer to `qname` of `kind`.
    pub fn answer(&self, qname: &str, kind: Kind) -> Answer {
        let q = lower_abs(qname);
        if let Some(rev) = q.strip_suffix(".in-addr.arpa.") {
            return self.reverse(rev, &q, kind);
        }
        let zone = self.zone();
        let Some(rel) = q.strip_suffix(&zone) else {
            return Answer::NotOurs;
        };
        let labels: Vec<&str> = rel
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
            .collect();
        match labels.as_slice() {
            [] | ["svc"] | ["pod"] => Answer::Records(vec![]),
            [ns, "svc"] | [ns, "pod"] if self.namespace_exists(ns) => Answer::Records(vec![]),
            [svc, ns, "svc"] => self.service_records(&q, ns, svc, kind),
            [host, svc, ns, "svc"] => self.endpoint_records(&q, ns, svc, host, kind),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                self.srv_records(&q, ns, svc, &port[1..], &proto[1..], kind)
            }
            [ip, _ns, "pod"] => match dashed_ip(ip) {
                Some(a) if kind == Kind::A => Answer::Records(vec![Rec {
                    name: q,
                    data: Data::A(a),
                }]),
                Some(_) => Answer::Records(vec![]),
                None => Answer::NxDomain,
            },
            _ => Answer::NxDomain,
        }
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        ns == "default"
            || self
                .services
                .iter()
                .any(|s| s.metadata.namespace.as_deref() == Some(ns))
            || self
                .pods
                .iter()
                .any(|p| p.metadata.namespace.as_deref() == Some(ns))
    }

    fn service_records(&self, q: &str, ns: &str, name: &str, kind: Kind) -> Answer {
        let Some(svc) = self.service(ns, name) else {
            return Answer::NxDomain;
        };
        let spec = svc.spec.clone().unwrap_or_default();
        if super::spec_type(svc) == "ExternalName" {
            let target = lower_abs(spec.external_name.as_deref().unwrap_or(""));
            return Answer::Records(vec![Rec {
                name: q.into(),
                data: Data::Cname(target),
            }]);
        }
        if kind != Kind::A {
            return Answer::Records(vec![]);
        }
        let ips: Vec<Ipv4Addr> = if super::is_headless(svc) {
            self.endpoints(svc).into_iter().map(|(_, ip)| ip).collect()
        } else {
            spec.cluster_ip
                .and_then(|ip| ip.parse().ok())
                .into_iter()
                .collect()
        };
        Answer::Records(
            ips.into_iter()
                .map(|ip| Rec {
                    name: q.into(),
                    data: Data::A(ip),
                })
                .collect(),
        )
    }

    fn endpoint_records(&self, q: &str, ns: &str, name: &str, host: &str, kind: Kind) -> Answer {
        let Some(svc) = self.service(ns, name).filter(|s| super::is_headless(s)) else {
            return Answer::NxDomain;
        };
        let ips: Vec<Ipv4Addr> = self
            .endpoints(svc)
            .into_iter()
            .filter(|(h, _)| h == host)
            .map(|(_, ip)| ip)
            .collect();
        match (ips.is_empty(), kind) {
            (true, _) => Answer::NxDomain,
            (false, Kind::A) => Answer::Records(
                ips.into_iter()
                    .map(|ip| Rec {
                        name: q.into(),
                        data: Data::A(ip),
                    })
                    .collect(),
            ),
            (false, _) => Answer::Records(vec![]),
        }
    }

    fn srv_records(
        &self,
        q: &str,
        ns: &str,
        name: &str,
        port: &str,
        proto: &str,
        kind: Kind,
    ) -> Answer {
        let Some(svc) = self.service(ns, name) else {
            return Answer::NxDomain;
        };
        let spec = svc.spec.clone().unwrap_or_default();
        let found = spec.ports.iter().flatten().find(|p| {
            p.name.as_deref() == Some(port)
                && p.protocol
                    .as_deref()
                    .unwrap_or("TCP")
                    .eq_ignore_ascii_case(proto)
        });
        let Some(p) = found else {
            return Answer::NxDomain;
        };
        if kind != Kind::Srv {
            return Answer::Records(vec![]);
        }
        let svc_name = self.svc_name(svc);
        let port = u16::try_from(p.port).unwrap_or(0);
        if !super::is_headless(svc) {
            let data = Data::Srv {
                weight: 100,
                port,
                target: svc_name,
            };
            return Answer::Records(vec![Rec {
                name: q.into(),
                data,
            }]);
        }
        let eps = self.endpoints(svc);
        let weight = u16::try_from(100 / eps.len().max(1)).unwrap_or(100);
        // A headless Service's SRV names each endpoint at its own port.
        let records = eps
            .into_iter()
            .map(|(host, _)| Rec {
                name: q.into(),
                data: Data::Srv {
                    weight,
                    port,
                    target: format!("{host}.{svc_name}"),
                },
            })
            .collect();
        Answer::Records(records)
    }

    fn reverse(&self, rev: &str, q: &str, kind: Kind) -> Answer {
        let parts: Vec<u8> = rev.split('.').filter_map(|p| p.parse().ok()).collect();
        let [d, c, b, a] = parts.as_slice() else {
            return Answer::NotOurs;
        };
        let ip = Ipv4Addr::new(*a, *b, *c, *d);
        for svc in self.services {
            let cluster_ip = svc
                .spec
                .as_ref()
                .and_then(|s| s.cluster_ip.as_deref())
                .and_then(|i| i.parse().ok());
            let target = if cluster_ip == Some(ip) {
                Some(self.svc_name(svc))
            } else if super::is_headless(svc) {
                self.endpoints(svc)
                    .into_iter()
                    .find(|(_, e)| *e == ip)
                    .map(|(h, _)| format!("{h}.{}", self.svc_name(svc)))
            } else {
                None
            };
            if let Some(t) = target {
                let recs = if kind == Kind::Ptr {
                    vec![Rec {
                        name: q.into(),
                        data: Data::Ptr(t),
                    }]
                } else {
                    vec![]
                };
                return Answer::Records(recs);
            }
        }
        Answer::NotOurs
    }
}

/// `10-88-0-5` for 10.88.0.5 (an endpoint without a hostname, a pod's DNS label).
pub fn ip_label(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

fn dashed_ip(label: &str) -> Option<Ipv4Addr> {
    label.replace('-', ".").parse().ok()
}

#[cfg(test)]
mod tests;
