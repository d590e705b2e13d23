//! Benchmark (not a test): how soon a Service change routes (`beluga apply` of a Service started
//! → its cluster IP answers from the node: the event → ruleset → one nft transaction path every endpoint change
//! takes too), and the cluster DNS's answer time for a Service name (UDP through the kube-dns
//! address: from the node one at a time, and from inside a pod's network namespace with
//! several clients asking at once). Needs root.
//!
//!   cargo bench -p beluga --bench services [-- RUNS]

#[path = "support/mod.rs"]
mod support;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use support::stats::Series;

const SERVER: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: localhost/busybox:1\n    command: [sh, -c, 'mkdir /www; echo hi > /www/index.html; exec httpd -f -p 8080 -h /www']\n    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}\n";

/// A DNS query for `name` (type A, recursion desired), by hand: the benchmark needs no DNS
/// library of its own.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

fn routed_after_create(d: &support::BenchDaemon, runs: usize) -> Series {
    let mut s = Series::default();
    for i in 0..runs {
        let ip = format!("10.96.1.{}", i + 1);
        // From before the request: the CLI's own start and the create are inside the figure.
        let t = Instant::now();
        d.apply(&format!("apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec:\n  clusterIP: {ip}\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"));
        let addr: SocketAddr = format!("{ip}:80").parse().expect("address");
        while TcpStream::connect_timeout(&addr, Duration::from_millis(20)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "s{i} never routed");
        }
        s.push(t.elapsed());
    }
    s
}

fn dns_answers(runs: usize) -> Series {
    let sock = UdpSocket::bind("0.0.0.0:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let mut s = Series::default();
    let mut buf = [0u8; 512];
    for i in 0..runs {
        let q = query(i as u16, "s0.default.svc.cluster.local");
        let t = Instant::now();
        sock.send_to(&q, "10.96.0.10:53").expect("send");
        let n = sock.recv(&mut buf).expect("a DNS answer");
        s.push(t.elapsed());
        assert!(
            n > q.len() && buf[3] & 0x0f == 0,
            "not an answer: {:?}",
            &buf[..n]
        );
    }
    s
}

/// The network namespace of the pod's `httpd` (the only one outside ours).
fn pod_netns() -> std::fs::File {
    let own = std::fs::read_link("/proc/self/ns/net").expect("our netns");
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let ns = std::fs::read_link(e.path().join("ns/net")).ok();
        if cmdline.starts_with(b"httpd\0-f\0-p\08080") && ns.is_some_and(|n| n != own) {
            return std::fs::File::open(e.path().join("ns/net")).expect("the pod's netns");
        }
    }
    panic!("the pod's httpd was not found");
}

/// `clients` threads in the pod's network namespace, each asking `per_client` questions one
/// after the other, all at once: each answer's latency.
fn dns_under_load(clients: usize, per_client: usize) -> (Series, Duration) {
    use std::os::fd::AsRawFd;
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let ns = pod_netns();
            std::thread::spawn(move || {
                // SAFETY: setns on this thread only, with a namespace file we hold open.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                let sock = UdpSocket::bind("0.0.0.0:0").expect("udp in the pod");
                sock.set_read_timeout(Some(Duration::from_secs(2))).ok();
                sock.connect("10.96.0.10:53").expect("connect");
                let mut buf = [0u8; 512];
                let mut lat = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let q = query((c * per_client + i) as u16, "s0.default.svc.cluster.local");
                    let t = Instant::now();
                    sock.send(&q).expect("send");
                    let n = sock.recv(&mut buf).expect("a DNS answer under load");
                    lat.push(t.elapsed());
                    assert!(n > q.len() && buf[3] & 0x0f == 0, "not an answer");
                }
                lat
            })
        })
        .collect();
    let mut s = Series::default();
    for t in threads {
        for l in t.join().expect("a client") {
            s.push(l);
        }
    }
    (s, started.elapsed())
}

fn main() {
    let Some(d) = support::start("services", &[]) else {
        return;
    };
    let runs = support::count_arg(20);
    d.apply(SERVER);
    let ready = d.beluga(&["wait", "pod/web", "--for=condition=Ready", "--timeout=60s"]);
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let routed = routed_after_create(&d, runs);
    println!(
        "apply of a Service → its cluster IP answers: {}",
        routed.cell()
    );
    let dns = dns_answers(runs * 10);
    println!(
        "cluster DNS, A of a Service (UDP from the node): {}",
        dns.cell()
    );
    let (clients, per_client) = (8, runs * 50);
    let (loaded, took) = dns_under_load(clients, per_client);
    println!(
        "cluster DNS under load from inside a pod ({clients} clients at once, {} answers, {:.0}/s): {}",
        clients * per_client,
        (clients * per_client) as f64 / took.as_secs_f64(),
        loaded.cell()
    );
    // Pods outlive their daemon: this one goes first.
    let out = d.beluga(&["delete", "pod", "web", "--now"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
