//! Opening `file://` attachments beneath a root directory without ever leaving it: the
//! root is opened once, and each file is opened relative to it with no symbolic link
//! followed (`openat2` with `RESOLVE_BENEATH`, or a walk with `O_NOFOLLOW` where the kernel
//! lacks it), so neither a link nor a rename inside the root can lead an open outside.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use vigil_core::ReasonCode;

/// A directory `file://` URIs may point into, opened once.
#[derive(Debug, Clone)]
pub(super) struct Root {
    /// Its canonical path and, when it differs, its path as configured: a URI may use either.
    pub(super) prefixes: Vec<PathBuf>,
    pub(super) dir: Arc<OwnedFd>,
}

impl Root {
    pub(super) fn open(path: &Path) -> std::io::Result<Root> {
        let canonical = path.canonicalize()?;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(&canonical, flags, Mode::empty())?;
        let mut prefixes = vec![canonical];
        if path.is_absolute() && prefixes[0] != path {
            prefixes.push(path.to_path_buf());
        }
        Ok(Root {
            prefixes,
            dir: Arc::new(dir),
        })
    }
}

/// Flags of every attachment open: read only, no symlink as the last component, and no
/// blocking on a FIFO or device (refused as not a regular file once opened).
const FILE_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOCTTY)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOFOLLOW);

/// Why a path beneath a root could not be opened.
#[derive(Debug)]
pub(super) enum OpenError {
    /// A component is a symbolic link; none is followed beneath a root.
    Link,
    /// A component does not exist, or is not a directory where one is needed.
    NotFound,
    /// Any other error: permissions, I/O.
    Io(std::io::Error),
}

impl OpenError {
    fn of(errno: Errno) -> OpenError {
        match errno {
            // ELOOP: a symlink (RESOLVE_NO_SYMLINKS, O_NOFOLLOW); EXDEV: an escape from the
            // root, which RESOLVE_BENEATH refuses.
            Errno::LOOP | Errno::XDEV => OpenError::Link,
            Errno::NOENT | Errno::NOTDIR => OpenError::NotFound,
            other => OpenError::Io(other.into()),
        }
    }
}

impl From<OpenError> for (ReasonCode, String) {
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::Link => (
                ReasonCode::UriNotAllowed,
                "the path goes through a symbolic link, which is not followed beneath \
                 attachments.file_roots"
                    .into(),
            ),
            OpenError::NotFound => (
                ReasonCode::AttachmentNotFound,
                "the file does not exist".into(),
            ),
            OpenError::Io(e) => (
                ReasonCode::AttachmentUnreadable,
                format!("cannot open the file: {}", e.kind()),
            ),
        }
    }
}

/// Opens `relative` beneath the directory `root` without following any symbolic link, so a
/// link or a rename inside the root cannot lead the open outside it (there is no window
/// between a check and the open).
pub(super) fn open_beneath(root: BorrowedFd<'_>, relative: &Path) -> Result<OwnedFd, OpenError> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(root, relative, FILE_FLAGS, Mode::empty(), resolve) {
            // ENOSYS: a kernel before 5.6; EPERM: a seccomp profile that predates openat2.
            Err(Errno::NOSYS | Errno::PERM) => {}
            result => return result.map_err(OpenError::of),
        }
    }
    open_walking(root, relative)
}

/// [`open_beneath`] one component at a time: each directory opened relative to the last
/// with `O_NOFOLLOW`, the file too.
pub(super) fn open_walking(root: BorrowedFd<'_>, relative: &Path) -> Result<OwnedFd, OpenError> {
    let mut names = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            // `beneath` passes relative paths without `..`; refuse rather than trust it.
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(OpenError::Link);
            }
        }
    }
    let (file, dirs) = names.split_last().ok_or(OpenError::NotFound)?;
    let mut dir: Option<OwnedFd> = None;
    for name in dirs {
        let at = dir.as_ref().map_or(root, |d| d.as_fd());
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let next = rustix::fs::openat(at, *name, flags, Mode::empty())
            .map_err(|e| walk_error(at, name, e))?;
        dir = Some(next);
    }
    let at = dir.as_ref().map_or(root, |d| d.as_fd());
    rustix::fs::openat(at, *file, FILE_FLAGS, Mode::empty()).map_err(|e| walk_error(at, file, e))
}

/// What `openat2` would have reported: a directory opened with `O_NOFOLLOW` that turns out
/// to be a symlink fails with ENOTDIR, which `openat2` reports as ELOOP.
fn walk_error(at: BorrowedFd<'_>, name: &OsStr, errno: Errno) -> OpenError {
    let is_link = || {
        rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink)
    };
    match errno {
        Errno::NOTDIR if is_link() => OpenError::Link,
        other => OpenError::of(other),
    }
}
