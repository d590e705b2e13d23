//! The CNI layer against the real plugins (Debian's containernetworking-plugins), in a network
//! namespace and on a bridge this test makes and removes itself (issue 14 item 1). Root only.

use beluga_net::conf::ConfList;
use beluga_net::invoke::{Attachment, Plugins};
use beluga_net::routes;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/cni";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A network namespace pinned to a file, unpinned on drop.
struct Netns(PathBuf);

impl Netns {
    fn new(dir: &Path) -> Netns {
        let f = dir.join("netns");
        std::fs::File::create(&f).unwrap();
        let ok = Command::new("unshare")
            .arg(format!("--net={}", f.display()))
            .arg("true")
            .status()
            .unwrap()
            .success();
        assert!(ok, "unshare --net");
        Netns(f)
    }

    /// `ip` inside the namespace.
    fn ip(&self, args: &[&str]) -> String {
        let o = Command::new("nsenter")
            .arg(format!("--net={}", self.0.display()))
            .arg("ip")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// A bridge name and a /24 no host route overlaps, both this process's own.
fn free_network() -> (String, String) {
    let bridge = format!("bnt{}", std::process::id() % 100_000);
    let host = routes::host_routes();
    let subnet = (1..250)
        .map(|k| format!("10.250.{k}.0/24"))
        .find(|s| routes::overlapping(&s.parse().unwrap(), &host, &bridge).is_none())
        .expect("a free /24 in 10.250.0.0/16");
    (bridge, subnet)
}

struct Bridge(String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn list(bridge: &str, subnet: &str, data: &Path) -> ConfList {
    ConfList::parse(
        &serde_json::json!({
            "cniVersion": "1.0.0", "name": "beluga-test",
            "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": true,
                         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                                  "dataDir": data}}]
        })
        .to_string(),
    )
    .unwrap()
}

// Issue 14 item 1: ADD gives the namespace an address on the bridge's subnet (reachable from
// the host), CHECK agrees, DEL takes the interface and the reservation back.
#[tokio::test]
async fn add_check_del_with_the_real_plugins() {
    if !is_root() || !Path::new(BIN).join("bridge").exists() {
        eprintln!("skipped: needs root and {BIN}/bridge");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new(dir.path());
    let (bridge, subnet) = free_network();
    let _bridge = Bridge(bridge.clone());
    let data = dir.path().join("ipam");
    let l = list(&bridge, &subnet, &data);
    let plugins = Plugins {
        dirs: vec![PathBuf::from(BIN)],
    };
    let at = Attachment {
        container_id: "sandbox-1".into(),
        netns: ns.0.clone(),
        ifname: "eth0".into(),
        args: vec![("K8S_POD_NAME".into(), "web".into())],
        ..Default::default()
    };
    let r = plugins.add(&l, &at).await.expect("ADD");
    let ips = r.pod_ips();
    assert_eq!(ips.len(), 1, "{r:?}");
    let net: ipnet::IpNet = subnet.parse().unwrap();
    assert!(net.contains(&ips[0]), "{} not in {subnet}", ips[0]);
    assert!(ns
        .ip(&["-4", "addr", "show", "eth0"])
        .contains(&ips[0].to_string()));
    let ping = Command::new("busybox")
        .args(["ping", "-c", "1", "-W", "5", &ips[0].to_string()])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "host → pod: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    plugins.check(&l, &at, &r).await.expect("CHECK");
    let reserved = data.join("beluga-test").join(ips[0].to_string());
    assert!(reserved.exists(), "host-local keeps {}", reserved.display());
    plugins.del(&l, &at, Some(&r)).await.expect("DEL");
    assert!(!ns.ip(&["link"]).contains("eth0"), "eth0 outlived DEL");
    assert!(!reserved.exists(), "the address stayed reserved");
    // A second DEL is not an error (CNI: DEL of what is gone succeeds).
    plugins.del(&l, &at, Some(&r)).await.expect("DEL again");
}

// A failing plugin's own words come back, naming the plugin and the command.
#[tokio::test]
async fn a_failing_add_says_why() {
    if !is_root() || !Path::new(BIN).join("bridge").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new(dir.path());
    let (bridge, _) = free_network();
    let _bridge = Bridge(bridge.clone());
    let l = list(&bridge, "not-a-subnet", &dir.path().join("ipam"));
    let plugins = Plugins {
        dirs: vec![PathBuf::from(BIN)],
    };
    let at = Attachment {
        container_id: "sandbox-2".into(),
        netns: ns.0.clone(),
        ifname: "eth0".into(),
        ..Default::default()
    };
    let e = plugins.add(&l, &at).await.unwrap_err().to_string();
    assert!(e.contains("type=\"bridge\"") && e.contains("ADD"), "{e}");
    assert!(e.contains("not-a-subnet") || e.contains("invalid"), "{e}");
    let missing = Plugins {
        dirs: vec![dir.path().to_path_buf()],
    };
    let e = missing.add(&l, &at).await.unwrap_err().to_string();
    assert!(e.contains("failed to find plugin \"bridge\""), "{e}");
}
