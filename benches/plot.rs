//! Draws the bench suite's plots from the CSV files `benches/run.sh` writes.
//!
//! `shriek-benchplot DIR` reads `DIR/dataplane.csv`, `DIR/control.csv` and
//! `DIR/analysis.csv` (each optional) and writes, beside them, one SVG per
//! workload: the cost of a packet against the number of rules, the time to
//! apply against the number of rules, and the analysis time against the
//! number of rules, one line per tool. Both axes are logarithmic, since the
//! rule counts span three orders of magnitude. Measuring is the scripts'
//! job; this only draws.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// One CSV file: its header and its rows, each a map from column to cell.
struct Table {
    rows: Vec<BTreeMap<String, String>>,
}

impl Table {
    /// `None` when the file is absent: that part was not run.
    fn read(path: &Path) -> Result<Option<Table>> {
        let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().ok_or("empty CSV")?.split(',').collect();
        let rows = lines
            .map(|l| {
                header.iter().map(|h| h.to_string()).zip(l.split(',').map(String::from)).collect()
            })
            .collect();
        Ok(Some(Table { rows }))
    }

    /// Distinct values of a column, in first-seen order.
    fn distinct(&self, column: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for row in &self.rows {
            if let Some(v) = row.get(column) {
                if !seen.contains(v) {
                    seen.push(v.clone());
                }
            }
        }
        seen
    }

    /// One line per value of `line_by`: (rules, f(row)) for the rows that pass
    /// `keep` and whose figure is a positive number (failed and timed-out runs
    /// are left out of the plot; the tables keep them).
    fn series(
        &self,
        line_by: &str,
        keep: impl Fn(&BTreeMap<String, String>) -> bool,
        y: impl Fn(&BTreeMap<String, String>) -> Option<f64>,
    ) -> Vec<(String, Vec<(f64, f64)>)> {
        self.distinct(line_by)
            .into_iter()
            .map(|name| {
                let points = self
                    .rows
                    .iter()
                    .filter(|r| r.get(line_by) == Some(&name) && keep(r))
                    .filter_map(|r| Some((cell(r, "rules")?, y(r)?)))
                    .filter(|&(x, y)| x > 0.0 && y > 0.0)
                    .collect();
                (name, points)
            })
            .filter(|(_, points): &(String, Vec<_>)| !points.is_empty())
            .collect()
    }
}

fn cell(row: &BTreeMap<String, String>, column: &str) -> Option<f64> {
    row.get(column)?.parse().ok()
}

/// A log-log line chart with a legend, one coloured line per series.
fn chart(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    let points = series.iter().flat_map(|(_, p)| p);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Ok(());
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d((x0 / 1.3..x1 * 1.3).log_scale(), (y0 / 1.5..y1 * 1.5).log_scale())?;
    c.configure_mesh()
        .x_desc("rules")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        c.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        c.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("{}", path.display());
    Ok(())
}

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: shriek-benchplot DIR")?);
    if let Some(t) = Table::read(&dir.join("dataplane.csv"))? {
        for workload in ["ports", "blended"] {
            // The empty ruleset is the same for every workload.
            let keep =
                |r: &BTreeMap<String, String>| r["workload"] == workload || r["workload"] == "none";
            let s = t.series("config", keep, |r| Some(1e6 / cell(r, "udp_pps")?));
            let title = format!("cost of a 64-byte UDP packet, {workload} rules");
            chart(&dir.join(format!("packet-cost-{workload}.svg")), &title, "µs per packet", &s)?;
        }
    }
    if let Some(t) = Table::read(&dir.join("control.csv"))? {
        for workload in ["ports", "blended"] {
            let s = t.series("tool", |r| r["workload"] == workload, |r| cell(r, "seconds"));
            let title = format!("time to apply, {workload} rules, into an empty namespace");
            chart(&dir.join(format!("apply-time-{workload}.svg")), &title, "seconds", &s)?;
        }
    }
    if let Some(t) = Table::read(&dir.join("analysis.csv"))? {
        let s = t.series("tool", |_| true, |r| cell(r, "seconds"));
        let title = "check of overlapping rules, beside nft -c -f";
        chart(&dir.join("analysis-time.svg"), title, "seconds", &s)?;
    }
    Ok(())
}
