//! Seccomp profiles (spec §10.5; attack report 5.6, 5.7): `RuntimeDefault` is containerd's
//! default profile (`contrib/seccomp/seccomp_default.go`: an allow list, argument rules for
//! `socket`, `personality` and `clone`, and more syscalls per capability held), `Localhost`
//! a profile file under the daemon's profile root, `Unconfined` (and no profile: Kubernetes'
//! default) none. Privileged containers get none, as with containerd.

use beluga_api::Container;
use beluga_api::Pod;
use serde_json::{json, Value};
use std::path::Path;

/// What a container's `seccompProfile` asks for (container level over pod level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    Unconfined,
    RuntimeDefault,
    /// `localhostProfile`, relative to the profile root.
    Localhost(String),
}

/// The profile in force for `c`: its own `securityContext.seccompProfile`, else the pod's, else
/// `default` (Unconfined, or RuntimeDefault under kubelet's `--seccomp-default`).
pub fn profile_of(pod: &Pod, c: &Container, default: Profile) -> Profile {
    let own = c
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref());
    let pod_level = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.seccomp_profile.as_ref());
    match own.or(pod_level) {
        None => default,
        Some(p) if p.type_ == "RuntimeDefault" => Profile::RuntimeDefault,
        Some(p) if p.type_ == "Localhost" => {
            Profile::Localhost(p.localhost_profile.clone().unwrap_or_default())
        }
        Some(_) => Profile::Unconfined,
    }
}

/// The OCI `linux.seccomp` for `profile`, given the container's bounding capabilities; `None`
/// for no filter. A Localhost profile that cannot be read is containerd's error.
pub fn linux_seccomp(
    profile: &Profile,
    caps: &[String],
    privileged: bool,
    root: &Path,
) -> Result<Option<Value>, String> {
    if privileged {
        return Ok(None);
    }
    match profile {
        Profile::Unconfined => Ok(None),
        Profile::RuntimeDefault => Ok(Some(runtime_default(caps))),
        Profile::Localhost(name) => {
            let path = root.join(name);
            let text = std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot load seccomp profile {:?}: open {}: {}",
                    path.display().to_string(),
                    path.display(),
                    os_message(&e)
                )
            })?;
            serde_json::from_slice(&text).map(Some).map_err(|e| {
                format!(
                    "decoding seccomp profile failed {:?}: {e}",
                    path.display().to_string()
                )
            })
        }
    }
}

/// Go's rendering of an errno (`no such file or directory`).
fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// Syscalls every container may make (containerd's list).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lsm_get_self_attr",
    "lsm_list_modules",
    "lsm_set_self_attr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "map_shadow_stack",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Syscalls a capability in the bounding set adds (containerd's table).
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;
const ENOSYS: u64 = 38;
/// CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP.
const CLONE_NAMESPACES: u64 =
    0x0002_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x0200_0000;

fn arches() -> Vec<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "aarch64" => vec!["SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"],
        "riscv64" => vec!["SCMP_ARCH_RISCV64"],
        "s390x" => vec!["SCMP_ARCH_S390", "SCMP_ARCH_S390X"],
        _ => vec![],
    }
}

fn arch_syscalls() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["arch_prctl", "modify_ldt"],
        "aarch64" => &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        "riscv64" => &["riscv_flush_icache", "riscv_hwprobe"],
        "s390x" => &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        _ => &[],
    }
}

fn allow_if(name: &str, index: u32, op: &str, value: u64) -> Value {
    json!({"names": [name], "action": "SCMP_ACT_ALLOW", "args": [{"index": index, "value": value, "op": op}]})
}

/// containerd's `DefaultProfile` for a container holding `caps` (its bounding set).
pub fn runtime_default(caps: &[String]) -> Value {
    let mut syscalls = vec![json!({"names": ALLOWED, "action": "SCMP_ACT_ALLOW"})];
    // socket(2) for every family but AF_ALG and AF_VSOCK: three single-condition rules, since
    // runc ORs repeated conditions on one argument.
    syscalls.push(allow_if("socket", 0, "SCMP_CMP_LT", AF_ALG));
    syscalls.push(allow_if("socket", 0, "SCMP_CMP_EQ", AF_ALG + 1));
    syscalls.push(allow_if("socket", 0, "SCMP_CMP_GT", AF_VSOCK));
    for persona in [0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(allow_if("personality", 0, "SCMP_CMP_EQ", persona));
    }
    // Kernels since 4.8 (every one beluga runs on) check ptrace against seccomp correctly.
    syscalls.push(json!({"names": ["process_vm_readv", "process_vm_writev", "ptrace"], "action": "SCMP_ACT_ALLOW"}));
    syscalls.push(json!({"names": arch_syscalls(), "action": "SCMP_ACT_ALLOW"}));
    for (cap, names) in BY_CAPABILITY {
        if caps.iter().any(|c| c == cap) {
            syscalls.push(json!({"names": names, "action": "SCMP_ACT_ALLOW"}));
        }
    }
    if !caps.iter().any(|c| c == "CAP_SYS_ADMIN") {
        // clone without namespace flags only; clone3 (whose flags seccomp cannot see) answers
        // ENOSYS so that libc falls back to clone.
        let index = if std::env::consts::ARCH == "s390x" {
            1
        } else {
            0
        };
        syscalls.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": index, "value": CLONE_NAMESPACES, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
        syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}));
    }
    json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches(), "syscalls": syscalls})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    fn allowed(p: &Value) -> Vec<String> {
        p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
            })
            .collect()
    }

    // Attack report 5.7: RuntimeDefault is containerd's profile, capability rules included.
    #[test]
    fn runtime_default_follows_capabilities() {
        let p = runtime_default(&caps(&["CAP_CHOWN", "CAP_SYS_CHROOT"]));
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        let a = allowed(&p);
        for name in ["read", "write", "execve", "chroot", "ptrace"] {
            assert!(a.contains(&name.to_string()), "{name}");
        }
        for name in [
            "mount",
            "unshare",
            "setns",
            "reboot",
            "init_module",
            "bpf",
            "clone",
        ] {
            assert!(
                !a.contains(&name.to_string()),
                "{name} allowed without its capability"
            );
        }
        let rules = p["syscalls"].as_array().unwrap();
        let clone = rules.iter().find(|r| r["names"][0] == "clone").unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 0x7e02_0000u64);
        let clone3 = rules.iter().find(|r| r["names"][0] == "clone3").unwrap();
        assert_eq!(
            (clone3["action"].as_str(), clone3["errnoRet"].as_u64()),
            (Some("SCMP_ACT_ERRNO"), Some(38))
        );
        let admin = allowed(&runtime_default(&caps(&["CAP_SYS_ADMIN"])));
        for name in ["mount", "unshare", "clone", "clone3"] {
            assert!(admin.contains(&name.to_string()), "{name}");
        }
    }

    #[test]
    fn profiles_in_force() {
        let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}}},
                           {"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}]}})).unwrap();
        let cs = &pod.spec.as_ref().unwrap().containers;
        let unconfined = || Profile::Unconfined;
        assert_eq!(
            profile_of(&pod, &cs[0], unconfined()),
            Profile::RuntimeDefault
        );
        assert_eq!(
            profile_of(&pod, &cs[1], unconfined()),
            Profile::Localhost("x.json".into())
        );
        assert_eq!(
            profile_of(&pod, &cs[2], Profile::RuntimeDefault),
            Profile::Unconfined
        );
        // With nothing set, the node's default (kubelet's --seccomp-default).
        let bare: Pod = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}]}}),
        )
        .unwrap();
        let c = &bare.spec.as_ref().unwrap().containers[0];
        assert_eq!(profile_of(&bare, c, unconfined()), Profile::Unconfined);
        assert_eq!(
            profile_of(&bare, c, Profile::RuntimeDefault),
            Profile::RuntimeDefault
        );
        let dir = tempfile::tempdir().unwrap();
        let e = linux_seccomp(&Profile::Localhost("x.json".into()), &[], false, dir.path())
            .unwrap_err();
        let path = dir.path().join("x.json").display().to_string();
        assert_eq!(
            e,
            format!("cannot load seccomp profile {path:?}: open {path}: no such file or directory")
        );
        std::fs::write(
            dir.path().join("x.json"),
            br#"{"defaultAction": "SCMP_ACT_LOG"}"#,
        )
        .unwrap();
        let got =
            linux_seccomp(&Profile::Localhost("x.json".into()), &[], false, dir.path()).unwrap();
        assert_eq!(got.unwrap()["defaultAction"], "SCMP_ACT_LOG");
        assert_eq!(
            linux_seccomp(&Profile::RuntimeDefault, &[], true, dir.path()).unwrap(),
            None
        );
        assert_eq!(
            linux_seccomp(&Profile::Unconfined, &[], false, dir.path()).unwrap(),
            None
        );
    }
}
