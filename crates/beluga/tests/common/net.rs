//! Each test daemon's own pod network (issue 14): a conflist in its root naming a bridge and a
//! /24 of its own (`bt<n>`, `10.251.<n>.0/24`), so that daemons of tests running side by side
//! never share addresses, and the bridge goes with the daemon. The index is held by a lock file
//! in /run/lock for as long as the daemon lives.

use std::path::{Path, PathBuf};

pub struct TestNet {
    pub index: u8,
    lock: PathBuf,
    /// beluga's default network (bridge `beluga0`) on this index's pod CIDR, instead of the
    /// test's own list.
    default_network: bool,
}

impl TestNet {
    /// A free index, and the conflist for it written into `conf_dir`.
    pub fn allocate(conf_dir: &Path) -> TestNet {
        std::fs::create_dir_all(conf_dir).expect("conf dir");
        for index in 1..=254u8 {
            let lock = PathBuf::from(format!("/run/lock/beluga-test-net-{index}"));
            let taken = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
                .is_err();
            if taken || Path::new(&format!("/sys/class/net/bt{index}")).exists() {
                if !taken {
                    let _ = std::fs::remove_file(&lock);
                }
                continue;
            }
            let n = TestNet {
                index,
                lock,
                default_network: false,
            };
            std::fs::write(conf_dir.join("10-test.conflist"), n.conflist()).expect("conflist");
            return n;
        }
        panic!("no free test network index in /run/lock/beluga-test-net-*");
    }

    /// The bridge (and the network's name): `bt<n>`, or the default network's `beluga0`.
    pub fn bridge(&self) -> String {
        if self.default_network {
            "beluga0".into()
        } else {
            format!("bt{}", self.index)
        }
    }

    /// The network's name, which the plugins' rule comments carry.
    fn network_name(&self) -> String {
        if self.default_network {
            "beluga".into()
        } else {
            self.bridge()
        }
    }

    /// Where host-local keeps this network's reservations.
    fn ipam_dir(&self) -> PathBuf {
        if self.default_network {
            PathBuf::from("/var/lib/beluga/net/ipam/beluga")
        } else {
            Path::new("/var/lib/cni/networks").join(self.bridge())
        }
    }

    /// The pod addresses of this daemon's network.
    pub fn subnet(&self) -> String {
        format!("10.251.{}.0/24", self.index)
    }

    /// This daemon's Service addresses (its own, so that the cluster IPs of daemons running
    /// side by side never meet in the kernel's tables).
    pub fn service_cidr(&self) -> String {
        format!("10.252.{}.0/24", self.index)
    }

    /// The nftables table of this daemon's Service rules.
    pub fn nft_table(&self) -> String {
        format!("beluga-t{}", self.index)
    }

    /// The flags that give the daemon this network's Service range and rules table, a
    /// Kubernetes API port the kernel picks, and a cgroup root of its own (so no daemon's removal of an empty root races another's
    /// runtime making a container's cgroup beneath it).
    pub fn daemon_args(&self) -> Vec<String> {
        let mut v = vec![
            "--service-cidr".into(),
            self.service_cidr(),
            "--nft-table".into(),
            self.nft_table(),
            "--cgroup-root".into(),
            self.cgroup_root(),
            // Many daemons at once: each its own port for the Kubernetes API.
            "--api-listen".into(),
            "127.0.0.1:0".into(),
        ];
        if self.default_network {
            v.extend(["--pod-cidr".into(), self.default_pod_cidr()]);
        }
        v
    }

    /// The daemon gets beluga's default network (no list in `conf_dir`) on
    /// [`TestNet::default_pod_cidr`].
    pub fn use_default_network(&mut self, conf_dir: &Path) {
        std::fs::remove_file(conf_dir.join("10-test.conflist")).expect("the test's conflist");
        self.default_network = true;
    }

    /// The default network's pod CIDR for this index.
    pub fn default_pod_cidr(&self) -> String {
        format!("10.250.{}.0/24", self.index)
    }

    /// The cgroup that holds this daemon's pods' cgroups (`--cgroup-root`).
    pub fn cgroup_root(&self) -> String {
        format!("beluga-t{}", self.index)
    }

    /// The bridge's own address, the pods' gateway.
    pub fn gateway(&self) -> String {
        format!("10.251.{}.1", self.index)
    }

    fn conflist(&self) -> String {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": self.bridge(),
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge(),
                    "isGateway": true,
                    "ipMasq": true,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.subnet()}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": true}},
                // As in beluga's default list: per-pod FORWARD accepts.
                {"type": "firewall"},
            ],
        })
        .to_string()
    }
}

impl TestNet {
    /// What of this network is still on the machine: host-local's reservations and the bridge
    /// plugin's masquerade rules (their comments name the network).
    pub fn leftovers(&self) -> Vec<String> {
        let ipam = self.ipam_dir();
        let mut left: Vec<String> = std::fs::read_dir(&ipam)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
            .map(|n| format!("reservation {}", ipam.join(n).display()))
            .collect();
        for table in TABLES {
            left.extend(
                saved(table)
                    .lines()
                    .filter(|l| self.names_it(l))
                    .map(|l| format!("{table} rule {l}")),
            );
        }
        left
    }
}

impl TestNet {
    /// What a reboot takes of the network: the bridge and the packet-filter rules (kernel
    /// state).
    pub fn lose_at_reboot(&self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .stderr(std::process::Stdio::null())
            .status();
        for table in TABLES {
            remove_rules(table, |l| self.names_it(l));
        }
    }

    /// Whether a saved iptables rule is this network's: the plugins' comment names it (bridge's
    /// masquerade, portmap's jumps), or it matches its addresses (portmap's per-pod DNAT chain,
    /// whose rules carry no comment).
    fn names_it(&self, rule: &str) -> bool {
        let addrs = if self.default_network {
            format!("10.250.{}.", self.index)
        } else {
            format!("10.251.{}.", self.index)
        };
        rule.starts_with("-A ")
            && (rule.contains(&format!("name: \\\"{}\\\"", self.network_name()))
                || rule.contains(&addrs))
    }
}

impl Drop for TestNet {
    /// The bridge, and host-local's bookkeeping files. A reservation or rule the daemon left
    /// fails the test that left it (issue 14 item 6), and is removed so the next test starts
    /// clean.
    fn drop(&mut self) {
        let left = self.leftovers();
        self.lose_at_reboot();
        // The Service rules stay when a daemon stops (as kube-proxy's do); they are the test's.
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table()])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(self.ipam_dir());
        // A daemon killed rather than stopped leaves its (empty) cgroup root.
        let root: Result<beluga_runtime::cgroups::Root, _> = self.cgroup_root().parse();
        if let Ok(root) = root {
            root.remove_if_empty();
        }
        let _ = std::fs::remove_file(&self.lock);
        if !left.is_empty() && !std::thread::panicking() {
            panic!(
                "the daemon left its pod network behind (issue 14 item 6):\n{}",
                left.join("\n")
            );
        }
    }
}

/// The tables the plugins write: nat (bridge's masquerade, portmap), filter (firewall).
const TABLES: [&str; 2] = ["nat", "filter"];

/// `iptables-save` of one table.
fn saved(table: &str) -> String {
    std::process::Command::new("iptables-save")
        .args(["-t", table])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A chain the plugins share between pods (portmap's CNI-HOSTPORT-*, firewall's CNI-FORWARD and
/// CNI-ADMIN): never removed whole.
fn shared_chain(c: &str) -> bool {
    c.starts_with("CNI-HOSTPORT-") || c == "CNI-FORWARD" || c == "CNI-ADMIN"
}

/// The rules and chains the plugins made for a network in `table` (`ours` picks its rules; a
/// leak already reported: removed so that it is reported once). iptables-save quotes as the
/// shell does.
fn remove_rules(table: &str, ours: impl Fn(&str) -> bool) {
    let rules = saved(table);
    let mut chains = Vec::new();
    for l in rules.lines().filter(|l| ours(l)) {
        let Some(rest) = l.strip_prefix("-A ") else {
            continue;
        };
        // A per-pod chain goes whole; a rule in a shared chain (POSTROUTING, the plugins'
        // shared ones) alone, with the per-pod chain it jumps to.
        let per_pod = |c: &&str| c.starts_with("CNI-") && !shared_chain(c);
        match rest.split_whitespace().next() {
            Some(c) if per_pod(&c) => chains.push(c.to_string()),
            _ => {
                let mut words = rest.split_whitespace().skip_while(|w| *w != "-j");
                if let Some(t) = words.nth(1).filter(per_pod) {
                    chains.push(t.to_string());
                }
                let _ = std::process::Command::new("sh")
                    .args(["-c", &format!("iptables -t {table} -D {rest}")])
                    .status();
            }
        }
    }
    chains.sort();
    chains.dedup();
    for c in chains {
        for op in ["-F", "-X"] {
            let _ = std::process::Command::new("iptables")
                .args(["-t", table, op, &c])
                .status();
        }
    }
}

/// The body of `GET /index.html` at `addr`, retried while the server comes up.
pub fn fetch(addr: &str) -> String {
    use std::io::{Read, Write};
    use std::time::Duration;
    let mut last = String::new();
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(
            &addr.parse().expect("address"),
            Duration::from_secs(2),
        ) {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if let Some((_, b)) = body.split_once("\r\n\r\n") {
                return b.trim().to_string();
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    last
}
