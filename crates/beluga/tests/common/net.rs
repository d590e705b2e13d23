//! Each test daemon's own pod network (issue 14): a conflist in its root naming a bridge and a
//! /24 of its own (`bt<n>`, `10.251.<n>.0/24`), so that daemons of tests running side by side
//! never share addresses, and the bridge goes with the daemon. The index is held by a lock file
//! in /run/lock for as long as the daemon lives.

use std::path::{Path, PathBuf};

pub struct TestNet {
    pub index: u8,
    lock: PathBuf,
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
            let n = TestNet { index, lock };
            std::fs::write(conf_dir.join("10-test.conflist"), n.conflist()).expect("conflist");
            return n;
        }
        panic!("no free test network index in /run/lock/beluga-test-net-*");
    }

    pub fn bridge(&self) -> String {
        format!("bt{}", self.index)
    }

    /// The pod addresses of this daemon's network.
    pub fn subnet(&self) -> String {
        format!("10.251.{}.0/24", self.index)
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
                    // No masquerade: the tests' pods talk only to each other and the host, and a
                    // DEL made after the netns is gone leaves the plugin's per-pod nat chain
                    // behind (issue 14 note), which the leak check would report for the suite.
                    "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.subnet()}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": true}},
            ],
        })
        .to_string()
    }
}

impl Drop for TestNet {
    /// The bridge, and host-local's bookkeeping files; any address still reserved stays, for the
    /// leak check to report.
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .stderr(std::process::Stdio::null())
            .status();
        let ipam = Path::new("/var/lib/cni/networks").join(self.bridge());
        for f in ["lock", "last_reserved_ip.0", "last_reserved_ip.1"] {
            let _ = std::fs::remove_file(ipam.join(f));
        }
        let _ = std::fs::remove_dir(&ipam);
        let _ = std::fs::remove_file(&self.lock);
    }
}
