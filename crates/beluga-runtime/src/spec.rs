//! The OCI runtime `config.json` for one container: what containerd would give it (spec §10.5,
//! §11), joined to the pod's network/IPC/UTS namespaces.

use crate::process::Process;
use serde_json::{json, Value};
use std::path::Path;

/// containerd/Docker's default capability set (spec §10.5).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability the kernel knows (for `privileged` and `add: [ALL]`).
pub const ALL_CAPS: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// containerd's capability arithmetic (spec §10.5): ALL add, ALL drop, adds, drops.
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Vec<String> {
    if privileged {
        return ALL_CAPS.iter().map(|c| format!("CAP_{c}")).collect();
    }
    let norm = |c: &String| c.trim_start_matches("CAP_").to_ascii_uppercase();
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    if add.iter().any(|c| norm(c) == "ALL") {
        caps = ALL_CAPS.iter().map(|c| c.to_string()).collect();
    }
    if drop.iter().any(|c| norm(c) == "ALL") {
        caps.clear();
    }
    for c in add.iter().map(norm).filter(|c| c != "ALL") {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    let drops: Vec<String> = drop.iter().map(norm).collect();
    caps.retain(|c| !drops.contains(c));
    caps.into_iter().map(|c| format!("CAP_{c}")).collect()
}

/// One bind mount into the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub readonly: bool,
}

#[derive(Debug, Clone)]
pub struct ContainerSpec<'a> {
    pub process: &'a Process,
    pub rootfs: &'a Path,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub caps: Vec<String>,
    pub no_new_privileges: bool,
    pub binds: Vec<Bind>,
    /// `<podDir>/.sandbox`, holding the `net`, `ipc`, `uts` namespace files.
    pub sandbox: &'a Path,
    /// `hostNetwork: true`: no network or UTS namespace entry (the host's are joined).
    pub host_network: bool,
    pub cgroups_path: String,
    /// `resources.limits.memory` in bytes.
    pub memory_limit: Option<u64>,
    /// `resources.limits.cpu` in millicores (CFS quota over a 100 ms period).
    pub cpu_limit_millis: Option<u64>,
    /// `linux.seccomp`, from [`crate::seccomp`]; `None` is no filter.
    pub seccomp: Option<Value>,
}

pub fn config_json(s: &ContainerSpec) -> Value {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if s.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if s.privileged { "rw" } else { "ro" }]}),
    ];
    for b in &s.binds {
        let mut opts = vec!["rbind", "rprivate"];
        opts.push(if b.readonly { "ro" } else { "rw" });
        mounts.push(json!({"destination": b.destination, "type": "bind", "source": b.source, "options": opts}));
    }
    let ns = |kind: &str, file: &str| json!({"type": kind, "path": s.sandbox.join(file)});
    let mut linux = json!({
        "namespaces": if s.host_network {
            json!([{"type": "pid"}, {"type": "mount"}, ns("ipc", "ipc")])
        } else {
            json!([{"type": "pid"}, {"type": "mount"}, ns("network", "net"), ns("ipc", "ipc"), ns("uts", "uts")])
        },
        "cgroupsPath": s.cgroups_path,
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    });
    if let Some(m) = s.memory_limit {
        linux["resources"]["memory"] = json!({"limit": m});
    }
    if let Some(c) = s.cpu_limit_millis {
        linux["resources"]["cpu"] = json!({"quota": c * 100, "period": 100_000u64});
    }
    if let Some(sc) = &s.seccomp {
        linux["seccomp"] = sc.clone();
    }
    if !s.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": s.process.uid, "gid": s.process.gid, "additionalGids": s.process.additional_gids},
            "args": s.process.args,
            "env": s.process.env,
            "cwd": s.process.cwd,
            "capabilities": {"bounding": s.caps, "effective": s.caps, "permitted": s.caps},
            "noNewPrivileges": s.no_new_privileges,
        },
        "root": {"path": s.rootfs, "readonly": s.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    // spec §10.5: ALL add, ALL drop, each add, each drop; drop beats add; privileged gets all.
    #[test]
    fn capability_arithmetic() {
        assert_eq!(capabilities(&[], &[], false).len(), 14);
        assert_eq!(capabilities(&v(&["ALL"]), &[], false).len(), ALL_CAPS.len());
        assert_eq!(
            capabilities(&v(&["NET_ADMIN"]), &v(&["ALL"]), false),
            vec!["CAP_NET_ADMIN"]
        );
        assert!(!capabilities(&v(&["NET_ADMIN"]), &v(&["NET_ADMIN"]), false)
            .contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!capabilities(&[], &v(&["CAP_KILL"]), false).contains(&"CAP_KILL".to_string()));
        assert_eq!(capabilities(&[], &v(&["ALL"]), true).len(), ALL_CAPS.len());
    }

    #[test]
    fn config_shape() {
        let p = Process {
            args: v(&["sh"]),
            env: v(&["A=1"]),
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        };
        let s = ContainerSpec {
            process: &p,
            rootfs: Path::new("/b/rootfs"),
            readonly_rootfs: true,
            privileged: false,
            caps: capabilities(&[], &[], false),
            no_new_privileges: false,
            binds: vec![Bind {
                source: "/v".into(),
                destination: "/data".into(),
                readonly: true,
            }],
            sandbox: Path::new("/pod/.sandbox"),
            host_network: false,
            cgroups_path: "/beluga/x".into(),
            memory_limit: Some(64 << 20),
            cpu_limit_millis: Some(500),
            seccomp: Some(json!({"defaultAction": "SCMP_ACT_ERRNO"})),
        };
        let c = config_json(&s);
        assert_eq!(c["root"]["readonly"], true);
        assert_eq!(c["linux"]["namespaces"][2]["path"], "/pod/.sandbox/net");
        assert_eq!(c["linux"]["maskedPaths"][2], "/proc/kcore");
        let last = c["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(c["mounts"][5]["options"][3], "ro");
        assert_eq!(c["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(c["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(c["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        // Issue 14 item 5: on the host's network, only the pod's IPC namespace is joined.
        let host = config_json(&ContainerSpec {
            host_network: true,
            ..s.clone()
        });
        assert_eq!(
            host["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc", "path": "/pod/.sandbox/ipc"}])
        );
    }
}
