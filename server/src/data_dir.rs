//! The data directory and the files Wukong keeps in it. Wukong creates the directory
//! readable by its owner only and every file in it (database, key, simulated-cluster state
//! and kubeconfig, first-run password) readable and writable by its owner only, so another
//! account on the machine reads none of them. An existing directory keeps the mode its owner
//! gave it (it may be shared on purpose); its files are made private all the same.

use simcluster::files::private_options;
pub use simcluster::files::{replace, restrict, write_new};
use std::{io, path::Path};

/// Owner only: `rwx------` for the directory (files: `simcluster::files`).
#[cfg(unix)]
const PRIVATE_DIR: u32 = 0o700;

/// Creates the directory (and missing parents) owner-only. A directory that already exists
/// is left as it is; the log warns when other accounts may enter it.
pub fn create(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR);
    builder.create(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the data directory is open to other accounts on this machine; Wukong's files in it are private, but `chmod 700` it unless it is shared on purpose"
            );
        }
    }
    Ok(())
}

/// Prepares the SQLite database file `path` before SQLite opens it: created owner-only if
/// missing, made owner-only if not. SQLite gives the `-wal` and `-shm` files it creates the
/// database file's mode; leftovers of an earlier run are made owner-only too.
pub fn prepare_sqlite_file(path: &Path) -> io::Result<()> {
    match private_options().open(path) {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        restrict(Path::new(&name))?;
    }
    Ok(())
}
