//! Benchmark (not a test): how long after a liveness probe's failure threshold is reached the
//! container has been killed (its exit seen), for a container that handles SIGTERM. Needs root.
//!
//!   cargo bench -p beluga --bench probe_kill [-- CYCLES]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

fn main() {
    let Some(d) = support::start(
        "probe_kill",
        &[
            "--crash-loop-backoff-initial",
            "100ms",
            "--crash-loop-backoff-max",
            "100ms",
        ],
    ) else {
        return;
    };
    let cycles = support::count_arg(10);
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: live}\nspec:\n  containers:\n  - name: c\n    image: localhost/busybox:1\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {exec: {command: ['false']}, periodSeconds: 1, failureThreshold: 1}\n";
    d.apply(yaml);
    // Each cycle: start, first probe fails (threshold 1) → kill → exit → restart.
    let deadline = std::time::Instant::now() + Duration::from_secs(30 + 3 * cycles as u64);
    let mut samples = Vec::new();
    while samples.len() < cycles && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        samples = measure(&std::fs::read_to_string(&d.log).unwrap_or_default());
    }
    let _ = d.beluga(&["delete", "pod", "live", "--grace-period=1"]);
    drop(d);
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        println!("no samples");
        return;
    }
    let ms = |d: f64| d * 1000.0;
    println!(
        "liveness failure recorded → container exit (SIGTERM handled): median {:.1} ms, min {:.1}, max {:.1} (n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

fn ts(line: &str) -> Option<f64> {
    let t: beluga_api::k8s_openapi::jiff::Timestamp =
        line.split_whitespace().next()?.parse().ok()?;
    Some(t.as_nanosecond() as f64 / 1e9)
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key))
}

/// Pairs "probe result recorded … result=Failure" with the exit of the same container id.
fn measure(log: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let lines: Vec<&str> = log.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if !(l.contains("probe result recorded") && l.contains("result=Failure")) {
            continue;
        }
        let (Some(t0), Some(id)) = (ts(l), field(l, "id=")) else {
            continue;
        };
        if let Some(t1) = lines[i..]
            .iter()
            .find(|x| x.contains("container exited") && field(x, "id=") == Some(id))
            .and_then(|x| ts(x))
        {
            out.push(t1 - t0);
        }
    }
    out
}
