//! The browser bundle (glue JS, WASM, the chunks of lazily loaded pages, stylesheet) under
//! an address that carries a hash of the whole build.
//!
//! A browser may then keep every file for a year without asking again, and a new build is
//! fetched at once because its addresses differ. The hash names a directory rather than
//! each file because the build's own files name each other by relative paths (the glue
//! imports the split loader, which fetches page chunks beside it); they keep working
//! unchanged under one hashed directory. The hash is taken when the server starts, from
//! the files it will serve, so a build tool's naming scheme cannot drift from what the
//! pages ask for. The brotli and gzip copies made at build time (`name.br`, `name.gz`) are
//! served as they are.

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
    /// The split loader the glue imports, when the build was split (`--split`): pages
    /// preload it beside the glue rather than finding it only once the glue arrives.
    pub split_loader: Option<String>,
    /// `/<pkg_dir>/<hash>/`, when the build was found and fingerprinting is on.
    hashed_dir: Option<String>,
    /// The build's files by name, as found at start: only these are served under the
    /// hashed directory.
    files: HashMap<String, PathBuf>,
}

impl Bundle {
    /// The bundle in `<site_root>/<pkg_dir>`, whose entry files are
    /// `<output_name>.{js,wasm,css}`. Unless `fingerprint` is off, a build that is found is
    /// addressed under a directory named by its hash; otherwise (tests without a built
    /// site, `cargo leptos watch`) files keep their plain addresses, served like any other
    /// static file.
    pub fn load(site_root: &Path, pkg_dir: &str, output_name: &str, fingerprint: bool) -> Bundle {
        let files = build_files(&site_root.join(pkg_dir));
        let hashed_dir = (fingerprint && !files.is_empty())
            .then(|| format!("/{pkg_dir}/{}/", build_hash(&files)));
        let address = |name: &str| match &hashed_dir {
            Some(dir) if files.contains_key(name) => format!("{dir}{name}"),
            _ => format!("/{pkg_dir}/{name}"),
        };
        let split_loader = files
            .keys()
            .find(|name| name.starts_with("__wasm_split.") && name.ends_with(".js"))
            .map(|name| address(name));
        Bundle {
            js: address(&format!("{output_name}.js")),
            wasm: address(&format!("{output_name}.wasm")),
            css: address(&format!("{output_name}.css")),
            split_loader,
            hashed_dir,
            files,
        }
    }

    /// The file behind a hashed address (a request path).
    pub fn file(&self, url_path: &str) -> Option<&Path> {
        let name = url_path.strip_prefix(self.hashed_dir.as_deref()?)?;
        self.files.get(name).map(PathBuf::as_path)
    }
}

/// The files of the build in `pkg`, named by their paths below it (`snippets/…` holds the
/// JavaScript the Rust code imports), leaving out the compressed copies (they are found
/// beside each file when it is served).
fn build_files(pkg: &Path) -> HashMap<String, PathBuf> {
    let mut files = HashMap::new();
    collect_files(pkg, "", &mut files);
    files
}

fn collect_files(dir: &Path, prefix: &str, files: &mut HashMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let (Ok(name), Ok(kind)) = (entry.file_name().into_string(), entry.file_type()) else {
            continue;
        };
        let path = format!("{prefix}{name}");
        if kind.is_dir() {
            collect_files(&entry.path(), &format!("{path}/"), files);
        } else if kind.is_file() && !name.ends_with(".br") && !name.ends_with(".gz") {
            files.insert(path, entry.path());
        }
    }
}

/// Sixteen hex digits of a SHA-256 over every file's name and content, in name order:
/// plenty to tell builds apart.
fn build_hash(files: &HashMap<String, PathBuf>) -> String {
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    let mut hasher = Sha256::new();
    for name in names {
        let content = std::fs::read(&files[name]).unwrap_or_default();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_whole_build_and_serve_only_its_files() {
        let site = std::env::temp_dir().join(format!("wukong-bundle-{}", std::process::id()));
        let pkg = site.join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("w.js"), b"one").unwrap();
        std::fs::write(pkg.join("w.wasm"), b"two").unwrap();
        std::fs::write(pkg.join("w.wasm.br"), b"compressed").unwrap();
        std::fs::write(pkg.join("chunk_1.wasm"), b"page").unwrap();
        std::fs::write(pkg.join("__wasm_split.___.js"), b"loader").unwrap();
        std::fs::create_dir_all(pkg.join("snippets/app-1")).unwrap();
        std::fs::write(pkg.join("snippets/app-1/console.js"), b"snippet").unwrap();

        let first = Bundle::load(&site, "pkg", "w", true);
        let dir = first.js.strip_suffix("w.js").unwrap();
        assert!(
            dir.starts_with("/pkg/") && dir.len() == "/pkg/".len() + 17,
            "{dir}"
        );
        assert_eq!(first.wasm, format!("{dir}w.wasm"));
        assert_eq!(first.file(&first.js), Some(pkg.join("w.js").as_path()));
        assert_eq!(
            first.file(&format!("{dir}chunk_1.wasm")),
            Some(pkg.join("chunk_1.wasm").as_path())
        );
        assert_eq!(
            first.file(&format!("{dir}snippets/app-1/console.js")),
            Some(pkg.join("snippets/app-1/console.js").as_path())
        );
        assert_eq!(first.file(&format!("{dir}w.wasm.br")), None);
        assert_eq!(first.file(&format!("{dir}../w.js")), None);
        assert_eq!(first.file("/pkg/w.js"), None);
        assert_eq!(first.css, "/pkg/w.css");
        assert_eq!(
            first.split_loader,
            Some(format!("{dir}__wasm_split.___.js"))
        );

        std::fs::write(pkg.join("chunk_1.wasm"), b"changed page").unwrap();
        let second = Bundle::load(&site, "pkg", "w", true);
        assert_ne!(
            second.js, first.js,
            "a change to any file of the build moves every address"
        );
        assert_eq!(second.file(&first.js), None);

        let plain = Bundle::load(&site, "pkg", "w", false);
        assert_eq!(plain.js, "/pkg/w.js");
        assert_eq!(
            plain.split_loader.as_deref(),
            Some("/pkg/__wasm_split.___.js")
        );
        assert_eq!(plain.file(&second.js), None);
        std::fs::remove_dir_all(&site).unwrap();
    }
}
