//! A progress bar per layer while pulling, like `docker pull`.

use std::collections::HashMap;
use std::sync::Mutex;

use drover_driver::image::{ImageRef, LayerRecord, PullProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct LayerBars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl LayerBars {
    /// Bars on stderr; hidden when stderr is not a terminal (CI logs stay readable).
    pub fn new() -> Self {
        LayerBars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn short(blob: &str) -> &str {
        let hex = blob.trim_start_matches("sha256:");
        &hex[..hex.len().min(12)]
    }
}

impl PullProgress for LayerBars {
    fn resolved(&self, _image: &ImageRef, _digest: &str, layers: &[LayerRecord]) {
        let style = ProgressStyle::with_template(
            "{prefix}: {msg:<11} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        let mut bars = self.bars.lock().unwrap();
        for layer in layers {
            let bar = self.multi.add(ProgressBar::new(layer.size));
            bar.set_style(style.clone());
            bar.set_prefix(Self::short(&layer.blob).to_string());
            bar.set_message("Waiting");
            bars.insert(layer.blob.clone(), bar);
        }
    }

    fn layer_bytes(&self, blob: &str, received: u64) {
        if let Some(bar) = self.bars.lock().unwrap().get(blob) {
            if bar.position() == 0 {
                bar.set_message("Pulling");
            }
            bar.set_position(received);
        }
    }

    fn layer_done(&self, blob: &str, cached: bool) {
        if let Some(bar) = self.bars.lock().unwrap().get(blob) {
            let msg = if cached {
                "Already exists"
            } else {
                "Pull complete"
            };
            bar.set_position(bar.length().unwrap_or(0));
            bar.finish_with_message(msg);
        }
    }
}
