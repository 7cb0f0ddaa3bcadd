//! PNG figures of the CLI (plotters): certified accuracy against radius, gain sweeps.
//!
//! Text is drawn with plotters' pure-Rust `ab_glyph` renderer, so building needs no system font
//! library; the font file is read at run time from the usual system places (DejaVu Sans from
//! `fonts-dejavu-core`, installed by `scripts/setup.sh`, or Liberation Sans), or from
//! `$SOUNDPROOF_FONT`.

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn font() -> Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<String> =
            std::env::var("SOUNDPROOF_FONT").ok().into_iter().chain(FONT_PATHS.iter().map(|s| s.to_string())).collect();
        let path = candidates.iter().find(|p| Path::new(p).exists()).ok_or_else(|| {
            format!("no font for the figure text: install fonts-dejavu-core (scripts/setup.sh does) or set SOUNDPROOF_FONT to a .ttf (looked in {FONT_PATHS:?})")
        })?;
        let bytes = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
        register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice())).map_err(|_| format!("{path} is not a usable font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

const COLORS: [RGBColor; 6] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(255, 127, 14), RGBColor(148, 103, 189), RGBColor(140, 86, 75)];

type Series = [(String, Vec<(f64, f64)>)];

/// Line chart of `series` (non-finite points left out) over the given ranges, with a legend;
/// `markers` draws each point too.
#[allow(clippy::too_many_arguments)]
fn chart(series: &Series, title: &str, x_desc: &str, y_desc: &str, x: std::ops::Range<f64>, y: std::ops::Range<f64>, markers: bool, path: &Path) -> Result<()> {
    font()?;
    let plot = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x, y)?;
        c.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = pts.iter().cloned().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            if markers {
                c.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
        }
        c.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    plot().map_err(|e| anyhow!("{e}")).with_context(|| format!("drawing {}", path.display()))
}

/// Certified accuracy (y) against radius (x), one step curve per series.
pub fn certified_accuracy(series: &Series, title: &str, x_desc: &str, path: &Path) -> Result<()> {
    let xmax = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)).fold(0.0f64, f64::max).max(1e-9) * 1.05;
    chart(series, title, x_desc, "certified accuracy", 0.0..xmax, 0.0..1.02, false, path)
}

/// Lines of `y` against `x`, one per series, points marked.
pub fn lines(series: &Series, title: &str, x_desc: &str, y_desc: &str, path: &Path) -> Result<()> {
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let (xmin, xmax) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).filter(|y| y.is_finite());
    let (ymin, ymax) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    if !(xmin <= xmax && ymin <= ymax) {
        anyhow::bail!("nothing to draw in {}: no finite points", path.display());
    }
    let pad = ((ymax - ymin).abs() * 0.08).max(1e-3);
    chart(series, title, x_desc, y_desc, xmin - 0.5..xmax + 0.5, ymin - pad..ymax + pad, true, path)
}
