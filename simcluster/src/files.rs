//! Files only their owner may read: the simulated cluster's state and kubeconfig, and
//! Wukong's own files in its data directory (the `server` crate uses these too).

use std::{
    io::{self, Write as _},
    path::{Path, PathBuf},
};

/// Owner only: `rw-------`.
#[cfg(unix)]
const PRIVATE_FILE: u32 = 0o600;

/// Options that create a new file, owner-only; never an existing one or a link.
pub fn private_options() -> std::fs::OpenOptions {
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
