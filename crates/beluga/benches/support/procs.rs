//! What processes cost: PSS (shared pages split between their users, so a binary mapped by 500
//! shims counts once in all) and CPU ticks, for the runtime's processes and for the containers'.

use std::collections::HashMap;

pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// The executable's file name, as the process's own mount namespace names it.
    pub exe: String,
}

pub fn all() -> Vec<Proc> {
    let mut v = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        v.push(Proc { pid, ppid, exe });
    }
    v
}

/// (runtime processes, container processes): the runtime's are those whose executable is one of
/// `runtime_exes`; the containers' are every other descendant of them.
pub fn split(runtime_exes: &[&str]) -> (Vec<u32>, Vec<u32>) {
    let procs = all();
    let by_pid: HashMap<u32, &Proc> = procs.iter().map(|p| (p.pid, p)).collect();
    let is_runtime = |p: &Proc| runtime_exes.contains(&p.exe.as_str());
    let (mut rt, mut ctr) = (Vec::new(), Vec::new());
    for p in &procs {
        if is_runtime(p) {
            rt.push(p.pid);
            continue;
        }
        let mut up = p.ppid;
        while let Some(q) = by_pid.get(&up) {
            if is_runtime(q) {
                ctr.push(p.pid);
                break;
            }
            up = q.ppid;
        }
    }
    (rt, ctr)
}

/// Σ PSS in KiB.
pub fn pss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

/// Σ user+system CPU ticks (USER_HZ) of the processes.
pub fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            // After ')': state ppid … utime is field 14 of stat, index 11 here.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// MemAvailable in KiB.
pub fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The idle CPU of the processes over `secs` seconds, in percent of one core.
pub fn idle_cpu_percent(pids: &[u32], secs: u64) -> f64 {
    // SAFETY: sysconf with a constant name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let a = cpu_ticks(pids);
    std::thread::sleep(std::time::Duration::from_secs(secs));
    let b = cpu_ticks(pids);
    (b.saturating_sub(a)) as f64 / hz / secs as f64 * 100.0
}
