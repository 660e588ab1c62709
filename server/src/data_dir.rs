//! The data directory and the files Wukong keeps in it. Wukong creates the directory
//! readable by its owner only and every file in it (database, key, simulated-cluster state
//! and kubeconfig, first-run password) readable and writable by its owner only, so another
//! account on the machine reads none of them. An existing directory keeps the mode its owner
//! gave it (it may be shared on purpose); its files are made private all the same.

use std::{
    io::{self, Write as _},
    path::{Path, PathBuf},
};

/// Owner only: `rwx------` for the directory, `rw-------` for files.
#[cfg(unix)]
const PRIVATE_DIR: u32 = 0o700;
#[cfg(unix)]
const PRIVATE_FILE: u32 = 0o600;

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

fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE);
    options
}

/// Creates `path` owner-only with `contents`; fails if it exists (or is a link), so nothing
/// planted there is followed.
pub fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = private_options().open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Replaces `path` with an owner-only file holding `contents`: written to `<path>.tmp`
/// (created afresh, so a looser leftover's mode is not inherited) and renamed over `path`, so
/// a crash leaves either the old or the new file.
pub fn replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temporary = temporary_of(path);
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    write_new(&temporary, contents)?;
    std::fs::rename(&temporary, path)
}

fn temporary_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Makes an existing file owner-only (files older versions created with the default mode);
/// a missing one is fine.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match std::fs::symlink_metadata(path) {
            Ok(metadata) if metadata.is_file() => metadata.permissions().mode() & 0o777,
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        if mode != PRIVATE_FILE {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
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
