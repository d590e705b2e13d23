//! Benchmark (not a test): time from the start of `beluga apply` until every container of a pod
//! runs and is ready, and from `beluga delete` until the pod is gone. Needs root.
//!
//!   cargo bench -p beluga --bench pod_start [-- RUNS]
//!
//! Prints median, min, max and p90 over the runs, for 1-, 3- and 10-container pods.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

fn pod(name: &str, n: usize) -> String {
    let mut y = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n");
    for i in 0..n {
        y.push_str(&format!("  - {{name: c{i}, image: localhost/busybox:1, command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]}}\n"));
    }
    y
}

fn stats(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label:<40} median {:7.1} ms   min {:7.1}   p90 {:7.1}   max {:7.1}   (n={})",
        ms(p(0.5)),
        ms(v[0]),
        ms(p(0.9)),
        ms(v[v.len() - 1]),
        v.len()
    );
}

fn main() {
    let Some(d) = support::start("pod_start", &[]) else {
        return;
    };
    let runs = support::count_arg(20);
    println!(
        "beluga pod start/teardown, {} runs each, runtime chosen by the daemon",
        runs
    );
    for n in [1usize, 3, 10] {
        let (mut start, mut stop) = (Vec::new(), Vec::new());
        for i in 0..runs {
            let name = format!("bench-{n}-{i}");
            let t = Instant::now();
            d.apply(&pod(&name, n));
            let o = d.beluga(&[
                "wait",
                &format!("pod/{name}"),
                "--for=condition=Ready",
                "--timeout=60s",
            ]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            start.push(t.elapsed());
            let t = Instant::now();
            assert!(d.beluga(&["delete", "pod", &name]).status.success());
            stop.push(t.elapsed());
        }
        stats(&format!("apply → all {n} container(s) ready"), start);
        stats(&format!("delete → gone ({n} container(s), SIGTERM)"), stop);
    }
}
