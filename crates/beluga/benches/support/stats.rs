//! Order statistics over repeated runs, and the start-time chart (SVG, no dependencies).

use std::fmt::Write;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Milliseconds, one per run.
    pub ms: Vec<f64>,
}

impl Series {
    pub fn push(&mut self, d: Duration) {
        self.ms.push(d.as_secs_f64() * 1000.0);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The q-quantile (nearest rank); NaN when empty.
    pub fn q(&self, q: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    }

    pub fn median(&self) -> f64 {
        self.q(0.5)
    }

    /// "median (p10–p90)" in ms.
    pub fn cell(&self) -> String {
        if self.ms.is_empty() {
            return "—".into();
        }
        format!(
            "{} ({}–{})",
            fmt_ms(self.median()),
            fmt_ms(self.q(0.1)),
            fmt_ms(self.q(0.9))
        )
    }
}

pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// One row group of the chart: a scenario and its series (label, colour, values).
pub struct Group<'a> {
    pub title: &'a str,
    pub series: Vec<(&'a str, &'a str, &'a Series)>,
}

/// A strip chart on a log time axis: one dot per run, a bar at the median.
pub fn svg(title: &str, groups: &[Group]) -> String {
    let (left, right, row, top) = (250.0, 40.0, 18.0, 50.0);
    let width = 960.0;
    let rows: usize = groups.iter().map(|g| g.series.len() + 1).sum();
    let height = top + rows as f64 * row + 50.0;
    let all: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.series.iter().flat_map(|s| s.2.ms.iter().copied()))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(0.1);
    let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let (l0, l1) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let x = |v: f64| {
        left + (v.max(l0).log10() - l0.log10()) / (l1.log10() - l0.log10()) * (width - left - right)
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        width / 2.0,
        esc(title)
    );
    // Decades and their halves as grid lines.
    let mut d = l0;
    while d <= l1 * 1.001 {
        for m in [1.0, 2.0, 5.0] {
            let v = d * m;
            if v > l1 * 1.001 {
                break;
            }
            let _ = writeln!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#ddd\"/>\
                 <text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\" fill=\"#555\">{4}</text>",
                x(v),
                top - 10.0,
                height - 40.0,
                height - 25.0,
                tick(v)
            );
        }
        d *= 10.0;
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">time to every container running (log scale)</text>",
        (left + width - right) / 2.0,
        height - 8.0
    );
    let mut y = top;
    for g in groups {
        let _ = writeln!(
            s,
            "<text x=\"8\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            y + 4.0,
            esc(g.title)
        );
        y += row;
        for (label, colour, series) in &g.series {
            let _ = writeln!(
                s,
                "<text x=\"24\" y=\"{:.1}\" fill=\"{colour}\">{} — median {}</text>",
                y + 4.0,
                esc(label),
                if series.ms.is_empty() {
                    "—".to_string()
                } else {
                    fmt_ms(series.median())
                }
            );
            for v in &series.ms {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\" fill-opacity=\"0.5\"/>",
                    x(*v)
                );
            }
            if !series.ms.is_empty() {
                let m = x(series.median());
                let _ = writeln!(
                    s,
                    "<line x1=\"{m:.1}\" x2=\"{m:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/>",
                    y - 7.0,
                    y + 7.0
                );
            }
            y += row;
        }
    }
    s.push_str("</svg>\n");
    s
}

/// An axis label: whole numbers, `ms` below a second.
fn tick(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
