//! The player page at `/live/NAME/` and the player libraries it loads from this
//! server (`/player/...`): hls.js and shaka-player, installed from npm at setup
//! time into `http.player_assets` and read once at start. Nothing is loaded from a
//! third-party CDN at run time.

use std::path::Path;

use bytes::Bytes;

const PAGE: &str = include_str!("player.html");

/// The libraries the page loads, by the name it requests them under.
const ASSETS: [(&str, &str); 2] = [
    ("hls.min.js", "hls.js/dist/hls.min.js"),
    (
        "shaka-player.compiled.js",
        "shaka-player/dist/shaka-player.compiled.js",
    ),
];

#[derive(Debug, Default)]
pub struct PlayerAssets {
    files: Vec<(&'static str, Bytes)>,
}

impl PlayerAssets {
    /// Loads what is installed under `dir` (an npm `node_modules`); missing files
    /// are logged once, and the page then says how to install them.
    pub fn load(dir: &Path) -> Self {
        let mut files = Vec::new();
        for (name, relative) in ASSETS {
            let path = dir.join(relative);
            match std::fs::read(&path) {
                Ok(data) => files.push((name, Bytes::from(data))),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "player library missing; run tools/setup-player.sh")
                }
            }
        }
        Self { files }
    }

    pub fn get(&self, name: &str) -> Option<Bytes> {
        self.files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, data)| data.clone())
    }
}

/// The page for `stream` (a valid name: letters, digits, `-_.`, so it needs no
/// escaping in HTML or JavaScript).
pub fn page(stream: &str) -> Bytes {
    Bytes::from(PAGE.replace("{{STREAM}}", stream))
}
