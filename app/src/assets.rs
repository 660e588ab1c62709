//! The browser bundle (glue JS, WASM, stylesheet) under names that carry a hash of each
//! file's content.
//!
//! A browser may then keep them for a year without asking again, and a new build is
//! fetched at once because its names differ. The hashes are taken when the server starts,
//! from the files it will serve, so a build tool's naming scheme cannot drift from what
//! the pages ask for. The brotli and gzip copies made at build time (`name.br`,
//! `name.gz`) are served as they are.

use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

/// The addresses a page loads the bundle from, and the files behind the hashed ones.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    pub js: String,
    pub wasm: String,
    pub css: String,
    files: HashMap<String, PathBuf>,
}

impl Bundle {
    /// The bundle in `<site_root>/<pkg_dir>`, as `<output_name>.{js,wasm,css}`. Unless
    /// `fingerprint` is off, each file found gets a hashed address; a missing file (tests
    /// without a built site) keeps its plain one, served like any other static file.
    pub fn load(site_root: &Path, pkg_dir: &str, output_name: &str, fingerprint: bool) -> Bundle {
        let mut bundle = Bundle::default();
        let mut address = |extension: &str| {
            let plain = format!("{output_name}.{extension}");
            let path = site_root.join(pkg_dir).join(&plain);
            let hashed = fingerprint
                .then(|| std::fs::read(&path).ok())
                .flatten()
                .map(|content| format!("{output_name}.{}.{extension}", content_hash(&content)));
            match hashed {
                Some(hashed) => {
                    let url = format!("/{pkg_dir}/{hashed}");
                    bundle.files.insert(url.clone(), path);
                    url
                }
                None => format!("/{pkg_dir}/{plain}"),
            }
        };
        let (js, wasm, css) = (address("js"), address("wasm"), address("css"));
        bundle.js = js;
        bundle.wasm = wasm;
        bundle.css = css;
        bundle
    }

    /// The file behind a hashed address (a request path).
    pub fn file(&self, url_path: &str) -> Option<&Path> {
        self.files.get(url_path).map(PathBuf::as_path)
    }
}

/// Sixteen hex digits of the SHA-256 of `content`: plenty to tell builds apart.
fn content_hash(content: &[u8]) -> String {
    Sha256::digest(content)[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_content_and_missing_files_keep_plain_names() {
        let site = std::env::temp_dir().join(format!("wukong-bundle-{}", std::process::id()));
        let pkg = site.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("w.js"), b"one").unwrap();
        std::fs::write(pkg.join("w.wasm"), b"two").unwrap();

        let first = Bundle::load(&site, "pkg", "w", true);
        assert!(first.js.starts_with("/pkg/w.") && first.js.ends_with(".js"));
        assert_ne!(first.js, "/pkg/w.js");
        assert_eq!(first.file(&first.js), Some(pkg.join("w.js").as_path()));
        assert_eq!(first.css, "/pkg/w.css");
        assert_eq!(first.file("/pkg/w.css"), None);

        std::fs::write(pkg.join("w.js"), b"changed").unwrap();
        let second = Bundle::load(&site, "pkg", "w", true);
        assert_ne!(second.js, first.js);
        assert_eq!(second.wasm, first.wasm);

        let plain = Bundle::load(&site, "pkg", "w", false);
        assert_eq!(plain.js, "/pkg/w.js");
        assert_eq!(plain.file(&first.js), None);
        std::fs::remove_dir_all(&site).unwrap();
    }
}
