//! The sandbox the shim holds: new network, IPC and UTS namespaces pinned to files, `lo` up;
//! and their removal.

use crate::layout::PodDir;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(super) fn errno(what: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Brings `lo` up in the current network namespace.
fn loopback_up() -> std::io::Result<()> {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    // SAFETY: plain socket + ioctl on a stack struct laid out as the kernel's `struct ifreq`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(errno("socket"));
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut req = IfReq {
            name: [0; 16],
            flags: 0,
            _pad: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(errno("SIOCGIFFLAGS lo"));
        }
        req.flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(errno("SIOCSIFFLAGS lo"));
        }
    }
    Ok(())
}

/// New network, IPC and UTS namespaces for the calling (single-threaded) process, pinned to files;
/// with `host_network` (a `hostNetwork: true` pod) only IPC, the host's network and hostname
/// being the pod's, as containerd makes such a sandbox.
pub(super) fn create_sandbox(
    dir: &PodDir,
    hostname: &str,
    host_network: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.sandbox())?;
    let (flags, kinds): (libc::c_int, &[&str]) = if host_network {
        (libc::CLONE_NEWIPC, &["ipc"])
    } else {
        (
            libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
            &["net", "ipc", "uts"],
        )
    };
    // SAFETY: called before any thread exists; affects only this process.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(errno("unshare"));
    }
    if !host_network {
        rustix::system::sethostname(hostname.as_bytes())
            .map_err(|e| std::io::Error::other(format!("sethostname: {e}")))?;
        loopback_up()?;
    }
    let pid = std::process::id();
    for kind in kinds {
        let target = dir.ns(kind);
        std::fs::File::create(&target)?;
        let src = format!("/proc/{pid}/ns/{kind}");
        rustix::mount::mount_bind(src.as_str(), &target)
            .map_err(|e| std::io::Error::other(format!("pinning {kind} namespace: {e}")))?;
    }
    Ok(())
}

/// Removes everything the sandbox pinned: namespace bind mounts and the socket.
pub fn teardown_sandbox(dir: &PodDir) {
    for kind in ["net", "ipc", "uts"] {
        let p = dir.ns(kind);
        let _ = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_file(&p);
    }
    let _ = std::fs::remove_file(dir.shim_socket());
}
