//! The cluster DNS server (issue 15 item 4), inside the daemon: answers for the cluster's zone
//! from the Services and pods as they are now (`beluga_api::service::dns`), over UDP and TCP,
//! and relays every other question to the node's own resolvers. It listens on the pod
//! network's gateway address (bound with `IP_FREEBIND`, so before the bridge has it); the
//! `kube-dns` Service's address is DNATed there (`proxy`). Messages are hickory-proto's.

use crate::Daemon;
use beluga_api::service::dns::{self as zone, Answer, Data, Kind};
use beluga_api::Pod;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{rdata, Name, RData, Record, RecordType};
use std::net::{SocketAddr, SocketAddrV4};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tracing::{debug, warn};

/// Where the cluster DNS listens and what it serves.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub listen: SocketAddrV4,
    pub domain: String,
    /// The node's resolvers (`nameserver` lines of its `/etc/resolv.conf`).
    pub upstream: Vec<SocketAddr>,
}

/// The `nameserver`s of a resolv.conf, at port 53.
pub fn upstream_of(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// A socket of `kind` bound to `addr` with `IP_FREEBIND` (the address may appear later), closed
/// on exec: the shims the daemon starts must not hold it (one that outlived its daemon kept the
/// next daemon's DNS from answering).
pub(crate) fn bind_free(
    addr: SocketAddrV4,
    kind: rustix::net::SocketType,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::net::{sockopt, AddressFamily, SocketFlags};
    let fd = rustix::net::socket_with(AddressFamily::INET, kind, SocketFlags::CLOEXEC, None)?;
    sockopt::set_ip_freebind(&fd, true)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddr::V4(addr))?;
    Ok(fd)
}

fn kind_of(t: RecordType) -> Kind {
    match t {
        RecordType::A => Kind::A,
        RecordType::AAAA => Kind::Aaaa,
        RecordType::SRV => Kind::Srv,
        RecordType::PTR => Kind::Ptr,
        RecordType::CNAME => Kind::Cname,
        _ => Kind::Other,
    }
}

fn record(r: &zone::Rec) -> Option<Record> {
    let name = Name::from_str(&r.name).ok()?;
    let data = match &r.data {
        Data::A(ip) => RData::A(rdata::A(*ip)),
        Data::Srv {
            weight,
            port,
            target,
        } => RData::SRV(rdata::SRV::new(
            0,
            *weight,
            *port,
            Name::from_str(target).ok()?,
        )),
        Data::Ptr(t) => RData::PTR(rdata::PTR(Name::from_str(t).ok()?)),
        Data::Cname(t) => RData::CNAME(rdata::CNAME(Name::from_str(t).ok()?)),
    };
    Some(Record::from_rdata(name, zone::TTL, data))
}

/// The zone's SOA, in the authority section of empty and NXDOMAIN answers (as CoreDNS).
fn soa(domain: &str) -> Option<Record> {
    let z = Name::from_str(&format!("{}.", domain.trim_end_matches('.'))).ok()?;
    let data = rdata::SOA::new(
        Name::from_str(&format!("ns.dns.{z}")).ok()?,
        Name::from_str(&format!("hostmaster.{z}")).ok()?,
        1,
        7200,
        1800,
        86400,
        zone::TTL,
    );
    Some(Record::from_rdata(z, zone::TTL, RData::SOA(data)))
}

/// Our answer to `query`, or `None` when it is not ours (to be relayed).
fn respond(
    query: &Message,
    domain: &str,
    services: &[beluga_api::Service],
    pods: &[Pod],
) -> Option<Message> {
    let q = query.queries.first()?;
    let z = zone::Zone {
        domain,
        services,
        pods,
    };
    let answer = z.answer(&q.name().to_ascii(), kind_of(q.query_type()));
    let mut r = Message::response(query.metadata.id, query.metadata.op_code);
    r.metadata.recursion_desired = query.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.metadata.authoritative = true;
    r.add_queries(query.queries.clone());
    match answer {
        Answer::NotOurs => return None,
        Answer::NxDomain => {
            r.metadata.response_code = ResponseCode::NXDomain;
            r.authorities.extend(soa(domain));
        }
        Answer::Records(recs) if recs.is_empty() => r.authorities.extend(soa(domain)),
        Answer::Records(recs) => r.answers.extend(recs.iter().filter_map(record)),
    }
    Some(r)
}

/// Asks the node's resolvers (UDP, 2 s each) and gives back their answer as it is.
async fn relay(bytes: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for server in upstream {
        let local: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .ok()?;
        let Ok(sock) = UdpSocket::bind(local).await else {
            continue;
        };
        // Connected: only the server's own replies are taken.
        if sock.connect(server).await.is_err() || sock.send(bytes).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf)).await {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// One question's answer bytes (ours, or relayed); `None` to stay silent (unparsable).
async fn handle(d: &Arc<Daemon>, cfg: &DnsConfig, bytes: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    let services = d.services().list(None);
    let pods = d.views(None);
    match respond(&query, &cfg.domain, &services, &pods) {
        Some(r) => r.to_vec().ok(),
        None => match relay(bytes, &cfg.upstream).await {
            Some(b) => Some(b),
            None => {
                let mut r = Message::response(query.metadata.id, query.metadata.op_code);
                r.add_queries(query.queries.clone());
                r.metadata.response_code = ResponseCode::ServFail;
                r.to_vec().ok()
            }
        },
    }
}

async fn serve_udp(d: Arc<Daemon>, cfg: Arc<DnsConfig>, sock: UdpSocket) {
    let sock = Arc::new(sock);
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let (d, cfg, sock, q) = (d.clone(), cfg.clone(), sock.clone(), buf[..n].to_vec());
        tokio::spawn(async move {
            if let Some(out) = handle(&d, &cfg, &q).await {
                let _ = sock.send_to(&out, from).await;
            }
        });
    }
}

async fn serve_tcp_conn(d: Arc<Daemon>, cfg: Arc<DnsConfig>, mut s: tokio::net::TcpStream) {
    loop {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut len)).await;
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut q).await.is_err() {
            return;
        }
        let Some(out) = handle(&d, &cfg, &q).await else {
            return;
        };
        let Ok(n) = u16::try_from(out.len()) else {
            return;
        };
        if s.write_all(&n.to_be_bytes()).await.is_err() || s.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Serves until the daemon goes; a failure to bind is logged and DNS stays off.
pub async fn run(d: Arc<Daemon>, cfg: DnsConfig) {
    use rustix::net::SocketType;
    let udp = bind_free(cfg.listen, SocketType::DGRAM)
        .map(std::net::UdpSocket::from)
        .and_then(|s| {
            s.set_nonblocking(true)?;
            UdpSocket::from_std(s)
        });
    let tcp = bind_free(cfg.listen, SocketType::STREAM).and_then(|fd| {
        rustix::net::listen(&fd, 128)?;
        let l = std::net::TcpListener::from(fd);
        l.set_nonblocking(true)?;
        TcpListener::from_std(l)
    });
    let (udp, tcp) = match (udp, tcp) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => {
            warn!(listen = %cfg.listen, "cluster DNS off: {e}");
            return;
        }
    };
    debug!(listen = %cfg.listen, "cluster DNS serving {}", cfg.domain);
    let cfg = Arc::new(cfg);
    tokio::spawn(serve_udp(d.clone(), cfg.clone(), udp));
    loop {
        let Ok((s, _)) = tcp.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_conn(d.clone(), cfg.clone(), s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn ask(name: &str, t: RecordType) -> Message {
        let mut q = Message::query();
        q.metadata.id = 7;
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(Name::from_str(name).unwrap(), t));
        // Through the wire format, as a query arrives.
        Message::from_vec(&q.to_vec().unwrap()).unwrap()
    }

    // Item 4: an answer, an empty answer (NOERROR + SOA) and NXDOMAIN (+ SOA) as messages;
    // names outside the zone are left to the node's resolvers.
    #[test]
    fn messages() {
        let svc: beluga_api::Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.5", "ports": [{"port": 80, "protocol": "TCP"}]}
        }))
        .unwrap();
        let services = [svc];
        let r = respond(
            &ask("web.default.svc.cluster.local.", RecordType::A),
            "cluster.local",
            &services,
            &[],
        )
        .unwrap();
        let r = Message::from_vec(&r.to_vec().unwrap()).unwrap();
        assert_eq!(
            (
                r.metadata.id,
                r.metadata.response_code,
                r.metadata.authoritative
            ),
            (7, ResponseCode::NoError, true)
        );
        assert!(r.metadata.recursion_desired && r.metadata.recursion_available);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(
            r.answers[0].data,
            RData::A(rdata::A("10.96.0.5".parse().unwrap()))
        );
        assert_eq!(r.answers[0].ttl, 5);
        let empty = respond(
            &ask("web.default.svc.cluster.local.", RecordType::AAAA),
            "cluster.local",
            &services,
            &[],
        )
        .unwrap();
        assert_eq!(
            (
                empty.metadata.response_code,
                empty.answers.len(),
                empty.authorities.len()
            ),
            (ResponseCode::NoError, 0, 1)
        );
        let nx = respond(
            &ask("nope.default.svc.cluster.local.", RecordType::A),
            "cluster.local",
            &services,
            &[],
        )
        .unwrap();
        assert_eq!(
            (nx.metadata.response_code, nx.authorities.len()),
            (ResponseCode::NXDomain, 1)
        );
        assert!(respond(
            &ask("example.com.", RecordType::A),
            "cluster.local",
            &services,
            &[]
        )
        .is_none());
        assert_eq!(
            upstream_of("# x\nnameserver 192.0.2.53\nnameserver ::1\nsearch a\n").len(),
            2
        );
    }
}
