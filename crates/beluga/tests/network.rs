//! Pod networking through CNI (issue 14) with the real plugins: each test daemon's network is a
//! bridge and a /24 of its own (`common::net`). Traffic goes only between the test, its pods and
//! their bridge.

mod common;

use common::net::fetch;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

const SERVER: &str = "apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: localhost/busybox:1
    command: [sh, -c, 'mkdir /www; echo served-by-server > /www/index.html; exec httpd -f -p 8080 -h /www']
";

const CLIENT: &str = "apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: localhost/busybox:1, command: [sleep, '3600']}
";

/// No sandbox made ahead (a spare holds an address of its own).
const NO_SPARE: &[&str] = &["--warm-sandboxes", "0"];

fn pod_ip(d: &Daemon, name: &str) -> String {
    d.pod(name)["status"]["podIP"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Item 2: the pod's address, from the plugin's result, in `podIP`/`podIPs`, inside the pod on
/// eth0, in its /etc/hosts as kubelet writes it, and in `get pods -o wide`.
#[test]
fn a_pod_gets_an_address_of_its_network() {
    let Some(d) = Daemon::start() else { return };
    d.apply(CLIENT);
    d.wait_running("client");
    let net = d.net.as_ref().expect("test network");
    let ip = pod_ip(&d, "client");
    let prefix = format!("10.251.{}.", net.index);
    assert!(
        ip.starts_with(&prefix),
        "podIP {ip:?} not in {}",
        net.subnet()
    );
    let p = d.pod("client");
    assert_eq!(p["status"]["podIPs"], serde_json::json!([{ "ip": ip }]));
    let addr = stdout(&d.exec("client", "c", &["ip", "-4", "-o", "addr", "show", "eth0"]));
    assert!(addr.contains(&format!("inet {ip}/24")), "{addr}");
    let hosts = stdout(&d.exec("client", "c", &["cat", "/etc/hosts"]));
    assert!(hosts.contains(&format!("\n{ip}\tclient\n")), "{hosts}");
    let wide = d.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains(&ip), "{wide}");
}

/// Item 3: pod to pod by IP, and host to pod by IP (through the bridge).
#[test]
fn pods_reach_each_other_and_the_host_reaches_them() {
    let Some(d) = Daemon::start() else { return };
    d.apply(SERVER);
    d.apply(CLIENT);
    d.wait_running("server");
    d.wait_running("client");
    let ip = pod_ip(&d, "server");
    let url = format!("http://{ip}:8080/index.html");
    // Running is not listening yet (the server has no readiness probe): a few tries.
    let mut last = String::new();
    for _ in 0..50 {
        let o = d.exec("client", "c", &["wget", "-qO-", &url]);
        last = format!("{}{}", stdout(&o), stderr(&o));
        if last.trim() == "served-by-server" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(last.trim(), "served-by-server");
    let mut s = std::net::TcpStream::connect_timeout(
        &format!("{ip}:8080").parse().expect("address"),
        Duration::from_secs(5),
    )
    .expect("host to pod");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    assert!(body.contains("served-by-server"), "{body}");
}

/// A network namespace of the test's own standing for "the host's networks": a veth pair,
/// `198.18.<n>.1/30` on the host, `.2` inside, where a busybox httpd answers
/// `/cgi-bin/addr` with the address the request came from. Removed on drop.
struct Outside {
    name: String,
    server: std::process::Child,
    _www: tempfile::TempDir,
}

impl Outside {
    fn new(n: u8) -> Outside {
        let name = format!("beluga-outside-{n}");
        let sh = |cmd: String| {
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .output()
                .expect("sh");
            assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        };
        sh(format!("ip netns add {name}"));
        sh(format!(
            "ip link add bvo{n} type veth peer name eth0 netns {name}"
        ));
        sh(format!(
            "ip addr add 198.18.{n}.1/30 dev bvo{n} && ip link set bvo{n} up"
        ));
        sh(format!("ip -n {name} addr add 198.18.{n}.2/30 dev eth0 && ip -n {name} link set eth0 up && ip -n {name} link set lo up"));
        let www = tempfile::tempdir().expect("www");
        let cgi = www.path().join("cgi-bin");
        std::fs::create_dir(&cgi).expect("cgi-bin");
        let script = cgi.join("addr");
        std::fs::write(
            &script,
            "#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n",
        )
        .expect("script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let server = std::process::Command::new("ip")
            .args([
                "netns", "exec", &name, "busybox", "httpd", "-f", "-p", "8080", "-h",
            ])
            .arg(www.path())
            .spawn()
            .expect("httpd");
        Outside {
            name,
            server,
            _www: www,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        // The namespace's end of the pair goes with it, and the host's end with that.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// What the far end (`Outside`) sees as the source of the client pod's request.
fn far_end_sees(d: &Daemon, n: u8) -> String {
    let url = format!("http://198.18.{n}.2:8080/cgi-bin/addr");
    let mut last = String::new();
    // Each try bounded (busybox's `wget -T` crashes): without masquerade nothing comes back.
    for _ in 0..20 {
        let o = d.exec("client", "c", &["timeout", "2", "wget", "-qO-", &url]);
        last = format!("{}{}", stdout(&o), stderr(&o));
        if o.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // busybox httpd listens on IPv6 and names IPv4 peers `[::ffff:a.b.c.d]`.
    last.trim()
        .trim_start_matches("[::ffff:")
        .trim_end_matches(']')
        .to_string()
}

/// Item 3: a pod reaches a host beyond the node through the bridge plugin's masquerade: the far
/// end sees the node's address, not the pod's (it has no route to the pod network at all).
#[test]
fn pods_reach_the_hosts_networks_through_masquerade() {
    let Some(d) = Daemon::start() else { return };
    let n = d.net.as_ref().map_or(0, |net| net.index);
    let outside = Outside::new(n);
    d.apply(CLIENT);
    d.wait_running("client");
    assert_eq!(
        far_end_sees(&d, n),
        format!("198.18.{n}.1"),
        "the far end saw another source"
    );
    drop(outside);
}

/// Issue 13 item 5 (1,000 pods): beluga's default network masquerades its pods with one rule of
/// the daemon's nftables table, so a pod's ADD writes no iptables rule (the bridge plugin's
/// `ipMasq` chain per pod, and `firewall`'s accepts where the host's FORWARD accepts anyway,
/// made each ADD read and rewrite tables that grew with the pods). The pod still reaches a
/// host beyond the node as the node (issue 14 item 3).
#[test]
fn the_default_network_masquerades_with_one_rule() {
    // A bridge of that name is some other daemon's (a benchmark's, a user's): not the test's
    // to take over or remove.
    if std::path::Path::new("/sys/class/net/beluga0").exists() {
        eprintln!("skipped: beluga0 exists (another daemon's default network)");
        return;
    }
    let Some(mut d) = Daemon::start_on_default_network(&[]) else {
        return;
    };
    let net = d.net.as_ref().expect("a test network");
    let (n, cidr, table) = (net.index, net.default_pod_cidr(), net.nft_table());
    let outside = Outside::new(n);
    d.apply(CLIENT);
    d.wait_running("client");
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    assert!(log.contains("masqueraded by one nftables rule"), "{log}");
    let ip = pod_ip(&d, "client");
    assert!(ip.starts_with(&format!("10.250.{n}.")), "{ip}");
    assert_eq!(far_end_sees(&d, n), format!("198.18.{n}.1"));
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &table])
        .output()
        .expect("nft");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains(&format!("ip saddr {cidr} ip daddr != {cidr}")),
        "{rules}"
    );
    let network_comment = r#"name: \"beluga\""#;
    for table in ["nat", "filter"] {
        let saved = std::process::Command::new("iptables-save")
            .args(["-t", table])
            .output()
            .expect("iptables-save");
        let saved = String::from_utf8_lossy(&saved.stdout);
        let per_pod: Vec<&str> = saved
            .lines()
            .filter(|l| l.contains(&ip) || l.contains(network_comment))
            .collect();
        assert!(per_pod.is_empty(), "{table}: {per_pod:?}");
    }
    drop(outside);
    d.ok(&["delete", "pod", "client", "--grace-period=0", "--force"]);
    d.stop_gracefully();
}

/// Item 6: deleting the pod DELs its attachment: the address reservation and the pod's side of
/// the bridge go.
#[test]
fn deleting_a_pod_releases_its_address() {
    let Some(d) = Daemon::start_with(NO_SPARE) else {
        return;
    };
    d.apply(CLIENT);
    d.wait_running("client");
    let net = d.net.as_ref().expect("test network");
    let ip = pod_ip(&d, "client");
    let reservation = std::path::Path::new("/var/lib/cni/networks")
        .join(net.bridge())
        .join(&ip);
    assert!(reservation.exists(), "no reservation for {ip}");
    let ports = format!("/sys/class/net/{}/brif", net.bridge());
    assert_eq!(std::fs::read_dir(&ports).map_or(0, |r| r.count()), 1);
    d.ok(&["delete", "pod", "client"]);
    assert!(
        !reservation.exists(),
        "{ip} still reserved after the delete"
    );
    assert_eq!(std::fs::read_dir(&ports).map_or(0, |r| r.count()), 0);
}

/// Item 2: a failed ADD is kubelet's FailedCreatePodSandBox with the plugin's words; the pod
/// stays Pending, nothing half-made stays behind, and it is retried.
#[test]
fn a_failed_add_is_failed_create_pod_sandbox() {
    let Some(mut d) = Daemon::start() else { return };
    let bad = r#"{"cniVersion":"1.0.0","name":"bad","plugins":[{"type":"no-such-plugin"}]}"#;
    std::fs::write(d.root.path().join("net.d/00-bad.conflist"), bad).expect("conflist");
    d.restart();
    d.apply(CLIENT);
    let msgs = d.wait_pod("client", Duration::from_secs(20), "the event", |_| {
        !d.event_fields("FailedCreatePodSandBox", "/message")
            .is_empty()
    });
    assert_eq!(msgs["status"]["phase"], "Pending");
    let m = d.event_fields("FailedCreatePodSandBox", "/message");
    assert!(
        m[0].starts_with("Failed to create pod sandbox: failed to setup network for sandbox")
            && m[0].contains(r#"failed to find plugin "no-such-plugin""#),
        "{m:?}"
    );
    assert!(!d.pod_dir("client").join(".sandbox/shim.sock").exists());
    assert!(d.pod("client")["status"]["podIP"].is_null());
}

/// The addresses host-local holds for this daemon's network.
fn reservations(net: &common::net::TestNet) -> Vec<String> {
    net.leftovers()
        .into_iter()
        .filter(|l| l.starts_with("reservation "))
        .collect()
}

/// Item 6: a daemon restart re-adopts the pod with the address it had: no second ADD (one
/// reservation, the same interface inside the pod).
#[test]
fn a_restarted_daemon_keeps_the_pods_address() {
    // No spare: the one reservation is the pod's.
    let Some(mut d) = Daemon::start_with(NO_SPARE) else {
        return;
    };
    d.apply(CLIENT);
    d.wait_running("client");
    let ip = pod_ip(&d, "client");
    let link = stdout(&d.exec("client", "c", &["cat", "/sys/class/net/eth0/ifindex"]));
    d.stop(); // SIGKILL
    d.restart_with(NO_SPARE);
    d.wait_running("client");
    assert_eq!(pod_ip(&d, "client"), ip);
    assert_eq!(
        stdout(&d.exec("client", "c", &["cat", "/sys/class/net/eth0/ifindex"])),
        link
    );
    let net = d.net.as_ref().expect("test network");
    assert_eq!(reservations(net).len(), 1, "{:?}", reservations(net));
}

/// Item 6: a daemon killed in the middle of an ADD: the plugin dies with it, and the next daemon
/// undoes the cut-short attachment (DEL) and makes the sandbox again, so the pod runs with one
/// address and nothing stays reserved once it is deleted (the test network's drop checks).
#[test]
fn a_daemon_killed_during_an_add_leaves_one_address() {
    let plugins = tempfile::tempdir().expect("tempdir");
    let started = plugins.path().join("add-started");
    let survived = plugins.path().join("add-survived");
    // A bridge plugin whose first ADD waits before it works, found ahead of the real one.
    let wrapper = format!(
        "#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ] && [ ! -e {s} ]; then : > {s}; sleep 2; : > {v}; fi\nexec /usr/lib/cni/bridge\n",
        s = started.display(),
        v = survived.display()
    );
    let Some(mut d) = with_bridge_wrapper(&plugins, &wrapper) else {
        return;
    };
    d.apply(CLIENT);
    wait_for_file(&started, Duration::from_secs(20), "the ADD never began");
    d.stop(); // SIGKILL, in the middle of the ADD
    d.restart_with(NO_SPARE); // with the real plugins
    d.wait_running("client");
    let ip = pod_ip(&d, "client");
    assert!(!ip.is_empty());
    let addr = stdout(&d.exec("client", "c", &["ip", "-4", "-o", "addr", "show", "eth0"]));
    assert!(addr.contains(&format!("inet {ip}/")), "{addr}");
    // Past the first ADD's wait: it died with its daemon, and never raced the second one.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !survived.exists(),
        "the plugin outlived the daemon that ran it"
    );
    let net = d.net.as_ref().expect("test network");
    assert_eq!(
        reservations(net),
        vec![format!(
            "reservation /var/lib/cni/networks/{}/{ip}",
            net.bridge()
        )]
    );
    assert!(d
        .daemon_log()
        .contains("while the pod's network was being set up"));
}

/// Item 8 (speed) with issue 13's spare: a sandbox made ahead comes attached, so the pod that
/// takes it starts without an ADD — its address is the spare's, in its status, on eth0 and in its
/// /etc/hosts — while a pod with a hostPort makes its own (its ADD carries the mapping).
#[test]
fn a_spare_sandbox_comes_with_its_address() {
    let Some(d) = Daemon::start() else { return };
    let spare = ready_spare(&d, &[]);
    let spare_shim = pid_in(&spare.join(".sandbox/shim.pid"));
    d.apply(CLIENT);
    d.wait_running("client");
    assert_eq!(
        d.shim_pid("client"),
        spare_shim,
        "the pod did not take the spare"
    );
    let ip = pod_ip(&d, "client");
    let addr = stdout(&d.exec("client", "c", &["ip", "-4", "-o", "addr", "show", "eth0"]));
    assert!(addr.contains(&format!("inet {ip}/")), "{addr}");
    let hosts = stdout(&d.exec("client", "c", &["cat", "/etc/hosts"]));
    assert!(hosts.contains(&format!("\n{ip}\tclient\n")), "{hosts}");
    let next = ready_spare(&d, &[spare]);
    let next_shim = pid_in(&next.join(".sandbox/shim.pid"));
    d.apply(&CLIENT.replace("name: client", "name: ported").replace(
        "command: [sleep, '3600']}",
        "command: [sleep, '3600'], ports: [{containerPort: 80, hostPort: 18080}]}",
    ));
    d.wait_running("ported");
    assert_ne!(
        d.shim_pid("ported"),
        next_shim,
        "a pod with a hostPort took a spare"
    );
    assert!(!pod_ip(&d, "ported").is_empty());
    let net = d.net.as_ref().expect("test network");
    // The two pods and the spare still waiting.
    assert_eq!(reservations(net).len(), 3, "{:?}", reservations(net));
}

/// Item 3: a probe without `host` connects to the pod's IP from the node, as kubelet's prober
/// does: an app listening on 127.0.0.1 only is never ready, the same app on every address is.
#[test]
fn probes_connect_to_the_pods_address() {
    let Some(d) = Daemon::start() else { return };
    let pod = |name: &str, listen: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: {IMAGE}\n    command: [sh, -c, 'mkdir /www; echo ok > /www/index.html; exec httpd -f -p {listen} -h /www']\n    readinessProbe:\n      httpGet: {{path: /index.html, port: 8080}}\n      periodSeconds: 1\n"
        )
    };
    d.apply(&pod("inside", "127.0.0.1:8080"));
    d.apply(&pod("everywhere", "8080"));
    d.wait_pod("everywhere", Duration::from_secs(30), "ready", |p| {
        p["status"]["containerStatuses"][0]["ready"] == true
    });
    d.wait_pod(
        "inside",
        Duration::from_secs(30),
        "the probe's failure",
        |_| {
            d.event_fields("Unhealthy", "/message")
                .iter()
                .any(|m| m.starts_with("Readiness probe failed:"))
        },
    );
    let ip = pod_ip(&d, "inside");
    let m = d.event_fields("Unhealthy", "/message");
    assert!(
        m.iter().any(|m| m.contains(&format!("{ip}:8080"))),
        "the probe did not dial the pod's address: {m:?}"
    );
    assert_eq!(
        d.pod("inside")["status"]["containerStatuses"][0]["ready"],
        false
    );
}

/// Item 4: a hostPort is reachable at 127.0.0.1 and at the node's address; a second pod asking
/// for the same port is not started — Pending, PodScheduled=False, Unschedulable, the
/// scheduler's FailedScheduling event — and starts once the first pod is gone.
#[test]
fn host_ports_are_reachable_and_a_taken_one_is_unschedulable() {
    let Some(d) = Daemon::start() else { return };
    let pod = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: {IMAGE}\n    ports: [{{containerPort: 8080, hostPort: 18091}}]\n    command: [sh, -c, 'mkdir /www; echo served-by-{name} > /www/index.html; exec httpd -f -p 8080 -h /www']\n"
        )
    };
    d.apply(&pod("first"));
    d.wait_running("first");
    d.apply(&pod("second"));
    let p = d.wait_pod("second", Duration::from_secs(20), "unschedulable", |p| {
        p["status"]["conditions"][0]["reason"] == "Unschedulable"
    });
    let want =
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.";
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["conditions"][0]["type"], "PodScheduled");
    assert_eq!(p["status"]["conditions"][0]["status"], "False");
    assert_eq!(p["status"]["conditions"][0]["message"], want);
    assert!(p["spec"]["nodeName"].is_null(), "{}", p["spec"]);
    assert_eq!(
        d.event_fields("FailedScheduling", "/message"),
        vec![want.to_string()]
    );
    assert_eq!(&d.row("second")[1..3], ["0/1", "Pending"]);
    assert!(!d.pod_dir("second").join(".sandbox/shim.sock").exists());
    let host_ip = d.pod("first")["status"]["hostIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    for addr in ["127.0.0.1".to_string(), host_ip] {
        assert_eq!(
            fetch(&format!("{addr}:18091")),
            "served-by-first",
            "at {addr}"
        );
    }
    d.ok(&["delete", "pod", "first"]);
    d.wait_running("second");
    assert_eq!(fetch("127.0.0.1:18091"), "served-by-second");
}

/// Item 4: a UDP hostPort reaches the pod (counted by the pod's own UDP statistics: busybox has
/// no UDP server, and a datagram to a port nobody listens on is `NoPorts` in the receiving
/// namespace only), and a hostPort bound to `hostIP: 127.0.0.1` is reachable there and not at
/// the node's address.
#[test]
fn udp_host_ports_arrive_and_a_host_ip_is_honoured() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: ports}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: {IMAGE}\n    ports:\n    - {{containerPort: 5353, hostPort: 18093, protocol: UDP}}\n    - {{containerPort: 8080, hostPort: 18094, hostIP: 127.0.0.1}}\n    command: [sh, -c, 'mkdir /www; echo local-only > /www/index.html; exec httpd -f -p 8080 -h /www']\n"
    ));
    d.wait_running("ports");
    let host_ip = d.pod("ports")["status"]["hostIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    for addr in ["127.0.0.1", host_ip.as_str()] {
        let before = udp_no_ports(&d, "ports");
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
        let mut arrived = false;
        for _ in 0..50 {
            let _ = sock.send_to(b"hello", format!("{addr}:18093"));
            std::thread::sleep(Duration::from_millis(100));
            if udp_no_ports(&d, "ports") > before {
                arrived = true;
                break;
            }
        }
        assert!(arrived, "no datagram sent to {addr}:18093 reached the pod");
    }
    assert_eq!(fetch("127.0.0.1:18094"), "local-only");
    let refused = std::net::TcpStream::connect_timeout(
        &format!("{host_ip}:18094").parse().expect("address"),
        Duration::from_secs(2),
    );
    assert!(
        refused.is_err(),
        "hostIP 127.0.0.1 was reachable at {host_ip}"
    );
}

/// The `Udp: … NoPorts` counter of the pod's network namespace (`/proc/net/snmp`).
fn udp_no_ports(d: &Daemon, pod: &str) -> u64 {
    let snmp = stdout(&d.exec(pod, "web", &["cat", "/proc/net/snmp"]));
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap_or(""), udp.next().unwrap_or(""));
    let at = names.split_whitespace().position(|n| n == "NoPorts");
    at.and_then(|i| values.split_whitespace().nth(i))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Udp NoPorts in {snmp}"))
}

/// Item 5: `hostNetwork: true` — the host's network namespace and hostname, podIP the node's
/// address, the node's /etc/hosts under kubelet's header, no address taken from the network, and
/// a server in the pod is a server on the host.
#[test]
fn a_host_network_pod_is_on_the_hosts_network() {
    let Some(d) = Daemon::start_with(NO_SPARE) else {
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: onhost}}\nspec:\n  hostNetwork: true\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: {IMAGE}\n    ports: [{{containerPort: 18093}}]\n    command: [sh, -c, 'mkdir /www; echo on-the-host > /www/index.html; exec httpd -f -p 18093 -h /www']\n"
    ));
    let p = d.wait_running("onhost");
    let host_ip = p["status"]["hostIP"].as_str().unwrap_or("").to_string();
    assert!(!host_ip.is_empty());
    assert_eq!(p["status"]["podIP"], host_ip.as_str());
    assert_eq!(
        p["status"]["podIPs"],
        serde_json::json!([{ "ip": host_ip }])
    );
    // defaultHostNetworkPorts: the port is a host port.
    assert_eq!(p["spec"]["containers"][0]["ports"][0]["hostPort"], 18093);
    let ours = std::fs::read_link("/proc/self/ns/net").expect("our netns");
    let theirs = stdout(&d.exec("onhost", "web", &["readlink", "/proc/self/ns/net"]));
    assert_eq!(theirs.trim(), ours.to_string_lossy());
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(stdout(&d.exec("onhost", "web", &["hostname"])), node);
    let hosts = stdout(&d.exec("onhost", "web", &["cat", "/etc/hosts"]));
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file (host network).\n"),
        "{hosts}"
    );
    assert_eq!(fetch("127.0.0.1:18093"), "on-the-host");
    // Item 5: ClusterFirst on the host's network is the node's resolver (getPodDNSType), not
    // the cluster DNS an ordinary pod is given.
    let conf = stdout(&d.exec("onhost", "web", &["cat", "/etc/resolv.conf"]));
    let node = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("nameserver"))
            .map(String::from)
            .collect()
    };
    assert_eq!(servers(&conf), servers(&node), "{conf}");
    assert!(!conf.contains("svc.cluster.local"), "{conf}");
    let net = d.net.as_ref().expect("test network");
    assert!(reservations(net).is_empty(), "{:?}", reservations(net));
    d.ok(&["delete", "pod", "onhost"]);
}

/// Item 6: a DEL outlives a daemon killed during it (an ADD does not, above): cut short after
/// the pod's interface went, the bridge plugin's next DEL could no longer find the masquerade
/// rules it made; finished, nothing stays (the test network's drop checks).
#[test]
fn a_del_finishes_when_its_daemon_is_killed() {
    let plugins = tempfile::tempdir().expect("tempdir");
    let (started, finished) = (
        plugins.path().join("del-started"),
        plugins.path().join("del-finished"),
    );
    let wrapper = format!(
        "#!/bin/sh\nif [ \"$CNI_COMMAND\" = DEL ] && [ ! -e {s} ]; then : > {s}; sleep 1; /usr/lib/cni/bridge; rc=$?; : > {f}; exit $rc; fi\nexec /usr/lib/cni/bridge\n",
        s = started.display(),
        f = finished.display()
    );
    let Some(mut d) = with_bridge_wrapper(&plugins, &wrapper) else {
        return;
    };
    d.apply(CLIENT);
    d.wait_running("client");
    d.ok(&["delete", "pod", "client", "--wait=false"]);
    wait_for_file(&started, Duration::from_secs(20), "the DEL never began");
    d.stop(); // SIGKILL, in the middle of the DEL
    wait_for_file(
        &finished,
        Duration::from_secs(10),
        "the DEL died with its daemon",
    );
    d.restart_with(NO_SPARE);
    let o = d.run(&["wait", "pod/client", "--for=delete", "--timeout=30s"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A daemon (no spare) whose `bridge` plugin is the script `wrapper`, found in `plugins` ahead of
/// the real one.
fn with_bridge_wrapper(plugins: &tempfile::TempDir, wrapper: &str) -> Option<Daemon> {
    with_plugin_wrapper(plugins, "bridge", wrapper)
}

/// A daemon (no spare) whose plugin `kind` is the script `wrapper`.
fn with_plugin_wrapper(plugins: &tempfile::TempDir, kind: &str, wrapper: &str) -> Option<Daemon> {
    let exe = plugins.path().join(kind);
    std::fs::write(&exe, wrapper).expect("wrapper");
    let mut perms = std::fs::metadata(&exe).expect("wrapper").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&exe, perms).expect("chmod");
    let bins = format!("{}:/usr/lib/cni", plugins.path().display());
    Daemon::start_with(&["--cni-bin-dir", &bins, "--warm-sandboxes", "0"])
}

/// Items 1–2, dual stack: a list whose `host-local` has an IPv4 and an IPv6 range gives the pod
/// both; `podIP` is the IPv4 one, `podIPs` both (IPv4 first, as kubelet orders them), and
/// `/etc/hosts` has a line for each. The list has no gateway, so that the host's IPv6
/// forwarding (which would end its router advertisements) is never turned on.
#[test]
fn a_dual_stack_list_gives_both_addresses() {
    let Some(mut d) = Daemon::start_with(NO_SPARE) else {
        return;
    };
    let n = d.net.as_ref().expect("test network").index;
    let list = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": format!("bt{n}"),
        "plugins": [{
            "type": "bridge",
            "bridge": format!("bt{n}"),
            "isGateway": false,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "ranges": [
                    [{"subnet": format!("10.251.{n}.0/24")}],
                    [{"subnet": format!("fd99:251:{n}::/64")}],
                ],
            },
        }],
    });
    std::fs::write(
        d.root.path().join("net.d/05-dual.conflist"),
        list.to_string(),
    )
    .expect("list");
    d.restart_with(NO_SPARE);
    d.apply(CLIENT);
    let p = d.wait_running("client");
    let ips: Vec<String> = p["status"]["podIPs"]
        .as_array()
        .expect("podIPs")
        .iter()
        .map(|i| i["ip"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert!(ips[0].starts_with(&format!("10.251.{n}.")), "{ips:?}");
    assert!(ips[1].starts_with(&format!("fd99:251:{n}:")), "{ips:?}");
    assert_eq!(p["status"]["podIP"], ips[0].as_str());
    let hosts = stdout(&d.exec("client", "c", &["cat", "/etc/hosts"]));
    for ip in &ips {
        assert!(hosts.contains(&format!("\n{ip}\tclient\n")), "{hosts}");
    }
    let addr = stdout(&d.exec("client", "c", &["ip", "-o", "addr", "show", "eth0"]));
    assert!(addr.contains(&format!("inet6 {}/64", ips[1])), "{addr}");
    d.ok(&["delete", "pod", "client"]);
}

/// Item 6: a daemon killed after the last plugin of an ADD did its work but before the result
/// came back: no result is kept, so the next daemon's DEL is given what host-local reserved for
/// the sandbox as the previous result, and the firewall plugin removes its rules by it (the test
/// network's drop checks the filter table).
#[test]
fn a_del_without_a_result_still_removes_the_firewall_rules() {
    let plugins = tempfile::tempdir().expect("tempdir");
    let (started, out) = (
        plugins.path().join("fw-started"),
        plugins.path().join("fw-out"),
    );
    let wrapper = format!(
        "#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ] && [ ! -e {s} ]; then /usr/lib/cni/firewall > {o}; rc=$?; : > {s}; sleep 2; cat {o}; exit $rc; fi\nexec /usr/lib/cni/firewall\n",
        s = started.display(),
        o = out.display()
    );
    let Some(mut d) = with_plugin_wrapper(&plugins, "firewall", &wrapper) else {
        return;
    };
    d.apply(CLIENT);
    wait_for_file(
        &started,
        Duration::from_secs(20),
        "the ADD never reached the firewall",
    );
    let net = d.net.as_ref().expect("test network");
    assert!(
        net.leftovers().iter().any(|l| l.starts_with("filter rule")),
        "the firewall made no rule: {:?}",
        net.leftovers()
    );
    d.stop(); // SIGKILL: the result never comes back
    d.restart_with(NO_SPARE);
    d.wait_running("client");
    d.ok(&["delete", "pod", "client"]);
}

/// Waits up to `limit` for a wrapper plugin's marker file; `what` says what never happened.
fn wait_for_file(path: &std::path::Path, limit: Duration, what: &str) {
    let t = std::time::Instant::now();
    while !path.exists() {
        assert!(t.elapsed() < limit, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Item 1 of issues 14 and 15: a pod CIDR or a Service CIDR over a network the host routes to
/// stops the daemon at start, in words naming the flag, before it makes anything.
#[test]
fn ranges_over_the_hosts_routes_are_refused() {
    if !is_root() {
        return;
    }
    // An index of the test networks' own, for the far end's addresses.
    let conf = tempfile::tempdir().unwrap();
    let lock = common::net::TestNet::allocate(conf.path());
    let n = lock.index;
    let outside = Outside::new(n);
    let taken = format!("198.18.{n}.0/24");
    let table = format!("beluga-refused-{n}");
    for (flag, words) in [
        ("--pod-cidr", "(--pod-cidr) overlaps the host's route to"),
        (
            "--service-cidr",
            "(--service-cidr) overlaps the host's route to",
        ),
    ] {
        let root = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(bin())
            .args(["daemon", "--root"])
            .arg(root.path().join("state"))
            .arg("--socket")
            .arg(root.path().join("api.sock"))
            .arg("--cni-conf-dir")
            .arg(root.path().join("net.d"))
            .args(["--nft-table", &table, flag, &taken])
            .output()
            .expect("the daemon");
        let err = stderr(&out);
        assert!(!out.status.success(), "{flag}: started");
        assert!(
            err.contains(words) && err.contains(&format!("bvo{n}")),
            "{err}"
        );
        let made = std::process::Command::new("nft")
            .args(["list", "table", "ip", &table])
            .output()
            .expect("nft");
        assert!(
            !made.status.success(),
            "{flag}: the Services' table was made"
        );
    }
    drop(outside);
}
