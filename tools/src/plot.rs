//! Figures (plotters, PNG): the training curve (loss; train and validation accuracy per epoch),
//! the confusion matrix of an evaluation, and an attack's triptych (original / adversarial /
//! perturbation, as 000 Fig. 6). Text needs a system font through fontconfig
//! (`fonts-dejavu-core`, installed by `scripts/setup.sh`).

use crate::error::{Result, ToolsError};
use plotters::prelude::*;
use std::path::Path;

fn err(path: &Path, e: impl std::fmt::Display) -> ToolsError {
    ToolsError::Plot { path: path.to_path_buf(), what: format!("{e} (are fonts installed? run scripts/setup.sh)") }
}

/// One epoch of a training curve (what the trainer logs of it that the figure shows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub epoch: usize,
    /// Mean training loss (cross-entropy).
    pub loss: f64,
    /// Training accuracy (augmented inputs), 0..1.
    pub train_accuracy: f64,
    /// Validation accuracy, 0..1.
    pub val_accuracy: f64,
}

/// Loss (left) and accuracies (right) per epoch.
pub fn training_curve(log: &[CurvePoint], title: &str, path: &Path) -> Result<()> {
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(path, e))?;
    let (left, right) = root.split_horizontally(600);
    let n = log.len().max(1) as f64;
    let max_loss = log.iter().map(|e| e.loss).fold(1e-3, f64::max) * 1.05;

    let mut c = ChartBuilder::on(&left)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .caption("training loss", ("sans-serif", 18))
        .build_cartesian_2d(0.5..n + 0.5, 0.0..max_loss)
        .map_err(|e| err(path, e))?;
    c.configure_mesh().x_desc("epoch").y_desc("cross-entropy").draw().map_err(|e| err(path, e))?;
    c.draw_series(LineSeries::new(log.iter().map(|e| (e.epoch as f64, e.loss)), RED.stroke_width(2)))
        .map_err(|e| err(path, e))?;

    let lo = log.iter().flat_map(|e| [e.train_accuracy, e.val_accuracy]).fold(1.0, f64::min);
    let lo = (lo * 100.0 - 5.0).clamp(0.0, 95.0);
    let mut c = ChartBuilder::on(&right)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .caption("accuracy", ("sans-serif", 18))
        .build_cartesian_2d(0.5..n + 0.5, lo..100.0)
        .map_err(|e| err(path, e))?;
    c.configure_mesh().x_desc("epoch").y_desc("%").draw().map_err(|e| err(path, e))?;
    c.draw_series(LineSeries::new(log.iter().map(|e| (e.epoch as f64, 100.0 * e.train_accuracy)), BLUE.stroke_width(2)))
        .map_err(|e| err(path, e))?
        .label("train (augmented)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    c.draw_series(LineSeries::new(log.iter().map(|e| (e.epoch as f64, 100.0 * e.val_accuracy)), GREEN.stroke_width(2)))
        .map_err(|e| err(path, e))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(path, e))?;
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}

/// Confusion matrix (rows: true class, columns: predicted), cells shaded by row fraction and
/// labelled with counts.
pub fn confusion(matrix: &[Vec<usize>], labels: &[String], title: &str, path: &Path) -> Result<()> {
    let k = labels.len();
    let side = (160 + 56 * k as u32).clamp(400, 1400);
    let root = BitMapBackend::new(path, (side + 60, side)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let lab = |v: &f64| -> String {
        let i = v.floor();
        if (v - i - 0.5).abs() < 1e-6 && i >= 0.0 && (i as usize) < k {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut c = ChartBuilder::on(&root)
        .margin(16)
        .x_label_area_size(90)
        .y_label_area_size(110)
        .caption(title, ("sans-serif", 20))
        .build_cartesian_2d(0.0..k as f64, k as f64..0.0)
        .map_err(|e| err(path, e))?;
    c.configure_mesh()
        .disable_mesh()
        .x_labels(2 * k + 1)
        .y_labels(2 * k + 1)
        .x_label_formatter(&lab)
        .y_label_formatter(&lab)
        .x_desc("predicted")
        .y_desc("true")
        .x_label_style(("sans-serif", 14).into_font().transform(FontTransform::Rotate90))
        .draw()
        .map_err(|e| err(path, e))?;
    for (i, row) in matrix.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (j, &n) in row.iter().enumerate() {
            let f = n as f64 / total;
            let color = if i == j { RGBColor(40, 110, 200).mix(0.15 + 0.85 * f) } else { RGBColor(210, 60, 40).mix(0.1 + 0.9 * f) };
            c.draw_series(std::iter::once(Rectangle::new(
                [(j as f64, i as f64), (j as f64 + 1.0, i as f64 + 1.0)],
                if n == 0 { WHITE.filled() } else { color.filled() },
            )))
            .map_err(|e| err(path, e))?;
            if n > 0 {
                c.draw_series(std::iter::once(Text::new(
                    n.to_string(),
                    (j as f64 + 0.35, i as f64 + 0.35),
                    ("sans-serif", 14).into_font(),
                )))
                .map_err(|e| err(path, e))?;
            }
        }
    }
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}

/// One panel of a [`triptych`]: a `frames × bins` map (frame-major) and its caption.
pub struct Panel<'a> {
    pub map: &'a [f32],
    pub caption: String,
}

/// Three maps side by side (time left to right, frequency bottom to top), as 000 Fig. 6: the
/// original and adversarial maps on one shared colour scale (so a change of level shows), the
/// perturbation on its own scale (symmetric about 0 when it has both signs, so the sign shows),
/// each with its range printed under it.
pub fn triptych(panels: [Panel<'_>; 3], frames: usize, bins: usize, title: &str, path: &Path) -> Result<()> {
    use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
    if frames == 0 || bins == 0 || panels.iter().any(|p| p.map.len() != frames * bins) {
        return Err(ToolsError::Plot { path: path.to_path_buf(), what: format!("triptych maps must each hold {frames} × {bins} values") });
    }
    let range = |m: &[f32]| m.iter().filter(|v| v.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (a, b) = (range(panels[0].map), range(panels[1].map));
    let shared = (a.0.min(b.0), a.1.max(b.1));
    let (dlo, dhi) = range(panels[2].map);
    let diff = if dlo < 0.0 && dhi > 0.0 {
        let m = dlo.abs().max(dhi);
        (-m, m)
    } else {
        (dlo, dhi)
    };
    let (pw, ph) = (420u32, 360u32);
    let root = BitMapBackend::new(path, (3 * pw, ph + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| err(path, e))?;
    for (k, (area, panel)) in root.split_evenly((1, 3)).iter().zip(&panels).enumerate() {
        let (lo, hi) = if k < 2 { shared } else { diff };
        let span = if hi > lo { hi - lo } else { 1.0 };
        let mut c = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(44)
            .caption(&panel.caption, ("sans-serif", 16))
            .build_cartesian_2d(0.0..frames as f64, 0.0..bins as f64)
            .map_err(|e| err(path, e))?;
        c.configure_mesh()
            .disable_mesh()
            .x_desc(format!("frame   [{lo:.3}, {hi:.3}]"))
            .y_desc("band")
            .draw()
            .map_err(|e| err(path, e))?;
        let cells = (0..frames).flat_map(|t| (0..bins).map(move |f| (t, f))).map(|(t, f)| {
            let v = panel.map[t * bins + f];
            let u = if v.is_finite() { ((v - lo) / span).clamp(0.0, 1.0) } else { 0.0 };
            Rectangle::new([(t as f64, f as f64), (t as f64 + 1.0, f as f64 + 1.0)], ViridisRGB.get_color_normalized(u, 0.0, 1.0).filled())
        });
        c.draw_series(cells).map_err(|e| err(path, e))?;
    }
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}

/// The representation study's figure: one panel per attack, the fooling rate against the budget
/// (scaled to [0, 1] by the ladder's largest budget, as the AUC is), one line per
/// representation.
pub fn fooling_curves(rows: &[(&str, &[crate::study::AttackScore])], title: &str, path: &Path) -> Result<()> {
    let attacks = rows.first().map(|r| r.1.len()).unwrap_or(0);
    let cols = attacks.clamp(1, 3);
    let lines = attacks.div_ceil(cols).max(1);
    let root = BitMapBackend::new(path, (420 * cols as u32, 340 * lines as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(path, e))?;
    let panels = root.split_evenly((lines, cols));
    for (k, panel) in panels.iter().enumerate().take(attacks) {
        let a0 = &rows[0].1[k];
        let top = a0.budgets.iter().cloned().fold(0.0, f64::max);
        let mut c = ChartBuilder::on(panel)
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .caption(format!("{} (max budget {top})", crate::study::name(a0.attack)), ("sans-serif", 16))
            .build_cartesian_2d(0.0..1.0, 0.0..100.0)
            .map_err(|e| err(path, e))?;
        c.configure_mesh().x_desc("budget / max").y_desc("fooling rate %").draw().map_err(|e| err(path, e))?;
        for (i, (label, scores)) in rows.iter().enumerate() {
            let a = &scores[k];
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = std::iter::once((0.0, 0.0)).chain(a.budgets.iter().zip(&a.rates).map(|(b, r)| (b / top, 100.0 * r))).collect();
            c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| err(path, e))?
                .label(format!("{label} (AUC {:.3})", a.auc))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| err(path, e))?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(path, e))?;
    }
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}
