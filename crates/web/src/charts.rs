//! Charts as server-rendered SVG (issue 21's dashboard and portfolio): no script, no CDN,
//! no plotting crate to build. A chart is a small picture of a table the page also shows,
//! so each one is an `img` with a title and a text summary for screen readers, and the
//! numbers stay readable in the table beside it.
//!
//! Colours come from classes (`chart-s0` … `chart-s3`, `chart-grid`, `chart-axis`) that the
//! stylesheet sets, with presentation attributes as the fallback when it does not load.

use std::fmt::Write as _;

/// How a chart draws its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Side-by-side bars per label (each series its own bar).
    Bars,
    /// One line per series.
    Lines,
}

/// One named row of values, one value per label of its chart.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Names the series (each series is a group titled with it; the table beside the
    /// chart is the legend).
    pub name: &'a str,
    pub values: &'a [i64],
}

#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// Names the chart for screen readers (the page shows its own heading).
    pub title: &'a str,
    /// What the chart says in a sentence, for screen readers, e.g. "Follows per day,
    /// 1 to 30 November: 1,204 in all, most on 11 November (96)".
    pub summary: &'a str,
    /// The x axis: one label per value (days, hours, stores…).
    pub labels: &'a [String],
    pub series: Vec<Series<'a>>,
    pub kind: Kind,
}

/// The fallback colours of series 0..3 (the stylesheet's `chart-s<n>` wins): chosen
/// for at least 3:1 against white, the contrast WCAG asks of graphics.
const FALLBACK: [&str; 4] = ["#1f6feb", "#b35900", "#2f7d32", "#8250df"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 28.0;
/// At most this many x labels are written; the others are skipped evenly.
const MAX_X_LABELS: usize = 8;

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A "nice" step for about `ticks` intervals over `span` (1, 2 or 5 times a power of
/// ten), so the grid reads 0, 50, 100 rather than 0, 47, 94.
fn nice_step(span: i64, ticks: i64) -> i64 {
    let raw = (span.max(1) as f64 / ticks as f64).max(1.0);
    let mag = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    step as i64
}

/// The y range a chart draws: from a multiple of the step at or below the lowest value
/// (0 when none is negative) to one at or above the highest.
fn y_range(series: &[Series<'_>]) -> (i64, i64, i64) {
    let all = series.iter().flat_map(|s| s.values.iter().copied());
    let (lo, hi) = all.fold((0i64, 0i64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let step = nice_step(hi - lo, 4);
    let lo = lo.div_euclid(step) * step;
    let hi = if hi % step == 0 && hi > lo {
        hi
    } else {
        (hi.div_euclid(step) + 1) * step
    };
    (lo, hi, step)
}

/// The chart as an inline `<svg>`, scaled to its container's width.
pub fn svg(chart: &Chart<'_>) -> String {
    let n = chart.labels.len();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{}"><title>{}</title><desc>{}</desc>"#,
        esc(chart.title),
        esc(chart.title),
        esc(chart.summary)
    );
    if n == 0 || chart.series.iter().all(|s| s.values.is_empty()) {
        let _ = write!(
            out,
            r##"<text class="chart-axis" x="{}" y="{}" text-anchor="middle" fill="#57606a">–</text></svg>"##,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return out;
    }
    let (lo, hi, step) = y_range(&chart.series);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: i64| TOP + plot_h * (hi - v) as f64 / (hi - lo).max(1) as f64;
    // The grid and its labels.
    let mut tick = lo;
    while tick <= hi {
        let ty = y(tick);
        let _ = write!(
            out,
            r##"<line class="chart-grid" x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#d0d7de" stroke-width="{}"/><text class="chart-axis" x="{}" y="{:.1}" text-anchor="end" font-size="11" fill="#57606a">{}</text>"##,
            WIDTH - RIGHT,
            if tick == 0 { 1.5 } else { 0.5 },
            LEFT - 6.0,
            ty + 4.0,
            crate::format::grouped(tick)
        );
        tick += step;
    }
    // The x labels, thinned evenly.
    let band = plot_w / n as f64;
    let every = n.div_ceil(MAX_X_LABELS);
    for (i, label) in chart.labels.iter().enumerate() {
        if i % every == 0 {
            let _ = write!(
                out,
                r##"<text class="chart-axis" x="{:.1}" y="{}" text-anchor="middle" font-size="11" fill="#57606a">{}</text>"##,
                LEFT + band * (i as f64 + 0.5),
                HEIGHT - 8.0,
                esc(label)
            );
        }
    }
    match chart.kind {
        Kind::Bars => {
            let k = chart.series.len().max(1) as f64;
            let bar = (band * 0.8 / k).max(1.0);
            for (s, series) in chart.series.iter().enumerate() {
                let colour = FALLBACK[s % FALLBACK.len()];
                let _ = write!(out, "<g><title>{}</title>", esc(series.name));
                for (i, v) in series.values.iter().enumerate().take(n) {
                    let (top, bottom) = (y((*v).max(0)), y((*v).min(0)));
                    let _ = write!(
                        out,
                        r#"<rect class="chart-s{}" x="{:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}" fill="{colour}"/>"#,
                        s % FALLBACK.len(),
                        LEFT + band * i as f64 + band * 0.1 + bar * s as f64,
                        (bottom - top).max(0.0),
                    );
                }
                out.push_str("</g>");
            }
        }
        Kind::Lines => {
            for (s, series) in chart.series.iter().enumerate() {
                let colour = FALLBACK[s % FALLBACK.len()];
                let points: Vec<String> = series
                    .values
                    .iter()
                    .enumerate()
                    .take(n)
                    .map(|(i, v)| format!("{:.1},{:.1}", LEFT + band * (i as f64 + 0.5), y(*v)))
                    .collect();
                let _ = write!(
                    out,
                    r#"<g><title>{}</title><polyline class="chart-s{}" points="{}" fill="none" stroke="{colour}" stroke-width="2"/></g>"#,
                    esc(series.name),
                    s % FALLBACK.len(),
                    points.join(" ")
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// A word-sized line of `values` for a table cell (the portfolio's rows), labelled for
/// screen readers by `label` (what it shows and its first and last value, say).
pub fn sparkline(values: &[i64], label: &str) -> String {
    const W: f64 = 80.0;
    const H: f64 = 20.0;
    let mut out = format!(
        r#"<svg class="sparkline" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}">"#,
        esc(label)
    );
    if values.len() >= 2 {
        let (lo, hi) = values
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let span = (hi - lo).max(1) as f64;
        let dx = W / (values.len() - 1) as f64;
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{:.1},{:.1}",
                    dx * i as f64,
                    1.0 + (H - 2.0) * (hi - v) as f64 / span
                )
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="chart-s0" points="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            points.join(" "),
            FALLBACK[0]
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("{d}")).collect()
    }

    /// The rectangles' (y, height) in drawing order.
    fn bars(svg: &str) -> Vec<(f64, f64)> {
        svg.split("<rect ")
            .skip(1)
            .map(|r| {
                let attr = |name: &str| -> f64 {
                    let at = r.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                    r[at..r[at..].find('"').unwrap() + at].parse().unwrap()
                };
                (attr("y"), attr("height"))
            })
            .collect()
    }

    #[test]
    fn bars_are_proportional_to_their_values_on_a_zero_baseline() {
        let l = labels(3);
        let values = [10, 20, 40];
        let svg = svg(&Chart {
            title: "Follows",
            summary: "70 in all",
            labels: &l,
            series: vec![Series {
                name: "follows",
                values: &values,
            }],
            kind: Kind::Bars,
        });
        let b = bars(&svg);
        assert_eq!(b.len(), 3);
        // All stand on the same baseline, and 40 is twice 20 is twice 10.
        let base: Vec<f64> = b.iter().map(|(y, h)| y + h).collect();
        assert!(base.iter().all(|y| (y - base[0]).abs() < 0.2), "{base:?}");
        assert!((b[1].1 / b[0].1 - 2.0).abs() < 0.05, "{b:?}");
        assert!((b[2].1 / b[1].1 - 2.0).abs() < 0.05, "{b:?}");
        assert!(svg.contains(r#"role="img""#) && svg.contains("<title>Follows</title>"));
        assert!(svg.contains("<desc>70 in all</desc>"));
        assert!(svg.contains("<g><title>follows</title><rect"));
    }

    #[test]
    fn negative_values_hang_below_the_baseline() {
        let l = labels(2);
        let values = [30, -10];
        let svg = svg(&Chart {
            title: "Net growth",
            summary: "",
            labels: &l,
            series: vec![Series {
                name: "net",
                values: &values,
            }],
            kind: Kind::Bars,
        });
        let b = bars(&svg);
        // The positive bar ends where the negative one starts: the zero line.
        assert!((b[0].0 + b[0].1 - b[1].0).abs() < 0.2, "{b:?}");
        assert!(b[1].1 > 0.0 && b[0].1 > 2.5 * b[1].1, "{b:?}");
        assert!(
            svg.contains(">-10<") || svg.contains(">-20<"),
            "a negative grid label"
        );
    }

    #[test]
    fn text_is_escaped_and_an_empty_chart_still_has_its_words() {
        let l = vec!["<b>&".to_string()];
        let values = [1];
        let svg = svg(&Chart {
            title: "Scene \"A\" <script>",
            summary: "x & y",
            labels: &l,
            series: vec![Series {
                name: "n",
                values: &values,
            }],
            kind: Kind::Lines,
        });
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("Scene &quot;A&quot; &lt;script&gt;"));
        assert!(svg.contains("&lt;b&gt;&amp;") && svg.contains("x &amp; y"));
        let empty = super::svg(&Chart {
            title: "Nothing yet",
            summary: "No follows in this period",
            labels: &[],
            series: vec![],
            kind: Kind::Bars,
        });
        assert!(empty.contains("<desc>No follows in this period</desc>"));
        assert!(!empty.contains("<rect"));
    }

    #[test]
    fn grid_steps_are_round_and_cover_the_values() {
        assert_eq!(nice_step(94, 4), 50);
        assert_eq!(nice_step(1_000, 4), 500);
        assert_eq!(nice_step(0, 4), 1);
        assert_eq!(crate::format::grouped(1_234_567), "1,234,567");
        assert_eq!(crate::format::grouped(-1_000), "-1,000");
        assert_eq!(crate::format::grouped(999), "999");
        let values = [3, 97];
        let s = [Series {
            name: "",
            values: &values,
        }];
        let (lo, hi, step) = y_range(&s);
        assert_eq!((lo, hi, step), (0, 100, 50));
        let values = [-7, 12];
        let s = [Series {
            name: "",
            values: &values,
        }];
        let (lo, hi, step) = y_range(&s);
        assert!(lo <= -7 && hi >= 12 && lo % step == 0 && hi % step == 0);
    }

    #[test]
    fn thirty_labels_are_thinned_to_a_readable_few() {
        let l = labels(30);
        let values = [1; 30];
        let svg = svg(&Chart {
            title: "t",
            summary: "s",
            labels: &l,
            series: vec![Series {
                name: "n",
                values: &values,
            }],
            kind: Kind::Lines,
        });
        let x_labels = svg.matches(r#"text-anchor="middle""#).count();
        assert!((4..=MAX_X_LABELS).contains(&x_labels), "{x_labels}");
    }

    #[test]
    fn a_sparkline_draws_every_point_inside_its_box() {
        let s = sparkline(&[5, 1, 9, 9], "Followers, 5 to 9");
        let pts = s
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let xy: Vec<(f64, f64)> = pts
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(xy.len(), 4);
        assert!(xy
            .iter()
            .all(|(x, y)| (0.0..=80.0).contains(x) && (0.0..=20.0).contains(y)));
        // The highest value is drawn highest (smallest y).
        assert!(xy[2].1 < xy[0].1 && xy[0].1 < xy[1].1);
        assert!(s.contains(r#"aria-label="Followers, 5 to 9""#));
        assert!(!sparkline(&[3], "one").contains("polyline"));
    }
}
