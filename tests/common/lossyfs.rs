//! A FUSE file system for tests that behaves like a disk whose write cache
//! loses power: data written to a file is kept in memory until that file
//! is fsynced, and `power_cut` throws away everything not yet synced and
//! fails every later operation (EIO), as a machine whose power went out.
//! Only an fsync (or fdatasync) of the file moves its data to the backing
//! directory; `sync_file_range`, a close or a flush do not, as on a real
//! disk with a volatile cache. Namespace changes (create, mkdir, rename,
//! unlink) go to the backing directory at once, as in LazyFS's default, so
//! the test looks at lost data, not lost directory entries.
//!
//! It can also be full: with a quota, a write that would grow the files
//! past it fails with ENOSPC until the quota is raised. And read-only:
//! every change fails with EROFS until it is writable again.
//!
//! One mount per `LossyFs::mount`; unmounted when the handle is dropped.
//! Needs `/dev/fuse` and `fusermount3` (Debian: fuse3).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

const BLOCK: u64 = 4096;
/// No attribute caching: sizes change under the kernel's feet when a
/// cut throws writes away.
const TTL: Duration = Duration::ZERO;

/// The unsynced state of one file: modified blocks over the backing file.
#[derive(Default)]
struct Pending {
    blocks: BTreeMap<u64, Vec<u8>>,
    /// The file's size as the writer sees it.
    size: u64,
    /// Backing bytes at or past this offset read as zeros (a shrink that
    /// is not synced yet).
    zero_from: u64,
}

#[derive(Default)]
struct State {
    backing: PathBuf,
    /// inode → path relative to `backing` ("" is the root).
    paths: HashMap<u64, PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    next_ino: u64,
    pending: HashMap<u64, Pending>,
    cut: bool,
    /// Every change fails with EROFS, as on a file system remounted
    /// read-only after an error.
    read_only: bool,
    quota: Option<u64>,
    /// Bytes in all files, as writers see them.
    used: u64,
    /// Counters for the test's report.
    synced_bytes: u64,
    dropped_bytes: u64,
}

/// The handle a test keeps: cut the power, set the quota, read counters.
#[derive(Clone)]
pub struct Control(Arc<Mutex<State>>);

impl Control {
    /// Drops every unsynced write and fails everything after it.
    pub fn power_cut(&self) -> u64 {
        let mut s = self.0.lock().unwrap();
        s.cut = true;
        let dropped: u64 = s
            .pending
            .values()
            .map(|p| p.blocks.len() as u64 * BLOCK)
            .sum();
        s.pending.clear();
        s.dropped_bytes += dropped;
        dropped
    }

    pub fn set_read_only(&self, on: bool) {
        self.0.lock().unwrap().read_only = on;
    }

    pub fn set_quota(&self, bytes: Option<u64>) {
        self.0.lock().unwrap().quota = bytes;
    }

    pub fn used(&self) -> u64 {
        self.0.lock().unwrap().used
    }

    pub fn synced_bytes(&self) -> u64 {
        self.0.lock().unwrap().synced_bytes
    }
}

pub struct Mount {
    pub control: Control,
    pub path: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Dropping the session unmounts.
        self.session.take();
    }
}

/// Whether this machine can mount FUSE file systems at all.
pub fn available() -> Result<(), String> {
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_err()
    {
        return Err("/dev/fuse cannot be opened".into());
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").exists()))
        .unwrap_or(false);
    if !found {
        return Err("fusermount3 is not installed (apt-get install fuse3)".into());
    }
    Ok(())
}

/// True when FUSE can be used; otherwise says SKIPPED on the terminal
/// (past cargo's capture), or fails under `HIVELOG_REQUIRE_FUSE=1`.
pub fn available_or_skip(test: &str) -> bool {
    match available() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var("HIVELOG_REQUIRE_FUSE").as_deref() != Ok("1"),
                "HIVELOG_REQUIRE_FUSE=1 but FUSE is not usable: {why}"
            );
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("\nSKIPPED {test}: {why} (apt-get install fuse3)\n").as_bytes(),
            );
            false
        }
    }
}

/// Mounts a lossy view of `backing` at `mountpoint`.
pub fn mount(backing: &Path, mountpoint: &Path) -> std::io::Result<Mount> {
    let mut state = State {
        backing: backing.to_path_buf(),
        next_ino: 2,
        ..State::default()
    };
    state.paths.insert(1, PathBuf::new());
    state.inodes.insert(PathBuf::new(), 1);
    state.used = disk_usage(backing);
    let shared = Arc::new(Mutex::new(state));
    let fs = LossyFs(shared.clone());
    let mut config = fuser::Config::default();
    config.mount_options = vec![fuser::MountOption::FSName("hivelog-lossyfs".into())];
    let session = fuser::spawn_mount(fs, mountpoint, &config)?;
    Ok(Mount {
        control: Control(shared),
        path: mountpoint.to_path_buf(),
        session: Some(session),
    })
}

fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

struct LossyFs(Arc<Mutex<State>>);

fn errno(e: std::io::Error) -> Errno {
    Errno::from(e)
}

impl State {
    fn full(&self, rel: &Path) -> PathBuf {
        self.backing.join(rel)
    }

    fn path_of(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn ino_for(&mut self, rel: &Path) -> u64 {
        if let Some(i) = self.inodes.get(rel) {
            return *i;
        }
        let i = self.next_ino;
        self.next_ino += 1;
        self.paths.insert(i, rel.to_path_buf());
        self.inodes.insert(rel.to_path_buf(), i);
        i
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(i) = self.inodes.remove(rel) {
            self.paths.remove(&i);
            self.pending.remove(&i);
        }
    }

    fn live(&self) -> Result<(), Errno> {
        if self.cut {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    fn writable(&self) -> Result<(), Errno> {
        self.live()?;
        if self.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    fn attr(&mut self, ino: u64) -> Result<FileAttr, Errno> {
        let rel = self.path_of(INodeNo(ino))?;
        let meta = fs::symlink_metadata(self.full(&rel)).map_err(errno)?;
        let kind = if meta.is_dir() {
            FileType::Directory
        } else if meta.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        let size = self.pending.get(&ino).map_or(meta.len(), |p| p.size);
        let time = |secs: i64, nanos: i64| {
            UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: 0,
            blksize: BLOCK as u32,
            flags: 0,
        })
    }

    fn backing_file(&self, ino: u64) -> Result<File, Errno> {
        let rel = self.path_of(INodeNo(ino))?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.full(&rel))
            .map_err(errno)
    }

    /// The pending state of `ino`, started from the backing file if new.
    fn pending_mut(&mut self, ino: u64) -> Result<&mut Pending, Errno> {
        if !self.pending.contains_key(&ino) {
            let size = self.backing_file(ino)?.metadata().map_err(errno)?.len();
            self.pending.insert(
                ino,
                Pending {
                    blocks: BTreeMap::new(),
                    size,
                    zero_from: size,
                },
            );
        }
        Ok(self.pending.get_mut(&ino).expect("inserted above"))
    }

    /// One block as the writer sees it.
    fn block(&mut self, ino: u64, index: u64) -> Result<Vec<u8>, Errno> {
        if let Some(b) = self.pending.get(&ino).and_then(|p| p.blocks.get(&index)) {
            return Ok(b.clone());
        }
        let zero_from = self.pending.get(&ino).map_or(u64::MAX, |p| p.zero_from);
        let mut buf = vec![0u8; BLOCK as usize];
        let start = index * BLOCK;
        if start < zero_from {
            let file = self.backing_file(ino)?;
            let want = (zero_from - start).min(BLOCK) as usize;
            let mut got = 0;
            while got < want {
                match file.read_at(&mut buf[got..want], start + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) => return Err(errno(e)),
                }
            }
        }
        Ok(buf)
    }

    fn read(&mut self, ino: u64, offset: u64, len: u64) -> Result<Vec<u8>, Errno> {
        let size = match self.pending.get(&ino) {
            Some(p) => p.size,
            None => self.backing_file(ino)?.metadata().map_err(errno)?.len(),
        };
        let end = (offset + len).min(size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let block = self.block(ino, index)?;
            let from = (at % BLOCK) as usize;
            let to = ((end - index * BLOCK).min(BLOCK)) as usize;
            out.extend_from_slice(&block[from..to]);
            at = index * BLOCK + to as u64;
        }
        Ok(out)
    }

    fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<(), Errno> {
        let end = offset + data.len() as u64;
        let size = self.pending_mut(ino)?.size;
        if end > size {
            if let Some(q) = self.quota {
                if self.used + (end - size) > q {
                    return Err(Errno::ENOSPC);
                }
            }
            self.used += end - size;
        }
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let mut block = self.block(ino, index)?;
            let from = (at % BLOCK) as usize;
            let n = ((end - at) as usize).min(BLOCK as usize - from);
            let src = (at - offset) as usize;
            block[from..from + n].copy_from_slice(&data[src..src + n]);
            self.pending_mut(ino)?.blocks.insert(index, block);
            at += n as u64;
        }
        let p = self.pending_mut(ino)?;
        p.size = p.size.max(end);
        Ok(())
    }

    fn truncate(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        let old = self.pending_mut(ino)?.size;
        if size > old {
            if let Some(q) = self.quota {
                if self.used + (size - old) > q {
                    return Err(Errno::ENOSPC);
                }
            }
        }
        if size >= old {
            self.used += size - old;
        } else {
            self.used = self.used.saturating_sub(old - size);
        }
        if size < old {
            // Keep the tail of the last block zeroed so a later growth
            // reads zeros, not what was cut.
            let last = size / BLOCK;
            let cut_at = (size % BLOCK) as usize;
            if cut_at > 0 {
                let mut block = self.block(ino, last)?;
                block[cut_at..].fill(0);
                self.pending_mut(ino)?.blocks.insert(last, block);
            }
            let p = self.pending_mut(ino)?;
            p.blocks.retain(|i, _| *i * BLOCK < size);
            p.zero_from = p.zero_from.min(size);
        }
        self.pending_mut(ino)?.size = size;
        Ok(())
    }

    /// Moves `ino`'s pending writes to the backing file.
    fn sync(&mut self, ino: u64) -> Result<(), Errno> {
        let Some(p) = self.pending.remove(&ino) else {
            return Ok(());
        };
        let file = self.backing_file(ino)?;
        let current = file.metadata().map_err(errno)?.len();
        if p.zero_from < current {
            file.set_len(p.zero_from).map_err(errno)?;
        }
        for (index, block) in &p.blocks {
            let start = index * BLOCK;
            let len = (p.size.saturating_sub(start)).min(BLOCK) as usize;
            file.write_all_at(&block[..len], start).map_err(errno)?;
            self.synced_bytes += len as u64;
        }
        file.set_len(p.size).map_err(errno)?;
        Ok(())
    }
}

impl LossyFs {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Filesystem for LossyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.state();
        let found = (|| {
            let rel = s.path_of(parent)?.join(name);
            fs::symlink_metadata(s.full(&rel)).map_err(errno)?;
            let ino = s.ino_for(&rel);
            s.attr(ino)
        })();
        match found {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().attr(ino.0) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.state();
        let done = (|| {
            s.writable()?;
            if let Some(size) = size {
                s.truncate(ino.0, size)?;
            }
            if let Some(mode) = mode {
                let rel = s.path_of(ino)?;
                fs::set_permissions(s.full(&rel), fs::Permissions::from_mode(mode))
                    .map_err(errno)?;
            }
            s.attr(ino.0)
        })();
        match done {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.state();
        let done = (|| {
            s.writable()?;
            let rel = s.path_of(parent)?.join(name);
            fs::create_dir(s.full(&rel)).map_err(errno)?;
            let _ = fs::set_permissions(s.full(&rel), fs::Permissions::from_mode(mode));
            let ino = s.ino_for(&rel);
            s.attr(ino)
        })();
        match done {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        let done = (|| {
            s.writable()?;
            let rel = s.path_of(parent)?.join(name);
            let size = match s.inodes.get(&rel).and_then(|i| s.pending.get(i)) {
                Some(p) => p.size,
                None => fs::symlink_metadata(s.full(&rel)).map_err(errno)?.len(),
            };
            fs::remove_file(s.full(&rel)).map_err(errno)?;
            s.used = s.used.saturating_sub(size);
            s.forget_path(&rel);
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        let done = (|| {
            s.writable()?;
            let rel = s.path_of(parent)?.join(name);
            fs::remove_dir(s.full(&rel)).map_err(errno)?;
            s.forget_path(&rel);
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        let done = (|| {
            s.writable()?;
            let from = s.path_of(parent)?.join(name);
            let to = s.path_of(newparent)?.join(newname);
            // A replaced file's bytes are gone.
            if let Ok(m) = fs::symlink_metadata(s.full(&to)) {
                if m.is_file() {
                    let size = s
                        .inodes
                        .get(&to)
                        .and_then(|i| s.pending.get(i))
                        .map_or(m.len(), |p| p.size);
                    s.used = s.used.saturating_sub(size);
                }
            }
            fs::rename(s.full(&from), s.full(&to)).map_err(errno)?;
            s.forget_path(&to);
            // Move the renamed path and everything under it.
            let moved: Vec<(PathBuf, u64)> = s
                .inodes
                .iter()
                .filter(|(p, _)| p.starts_with(&from))
                .map(|(p, i)| (p.clone(), *i))
                .collect();
            for (old, ino) in moved {
                // `join("")` would add a trailing slash, making a file look
                // like a directory.
                let new = match old.strip_prefix(&from) {
                    Ok(rest) if !rest.as_os_str().is_empty() => to.join(rest),
                    _ => to.clone(),
                };
                s.inodes.remove(&old);
                s.inodes.insert(new.clone(), ino);
                s.paths.insert(ino, new);
            }
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.state();
        let done = (|| {
            s.live()?;
            if flags.0 & libc::O_TRUNC != 0 {
                s.writable()?;
                s.truncate(ino.0, 0)?;
            }
            Ok(())
        })();
        match done {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.state();
        let done = (|| {
            s.writable()?;
            let rel = s.path_of(parent)?.join(name);
            let mut o = OpenOptions::new();
            o.write(true);
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            } else {
                o.create(true);
            }
            o.open(s.full(&rel)).map_err(errno)?;
            let _ = fs::set_permissions(s.full(&rel), fs::Permissions::from_mode(mode));
            let ino = s.ino_for(&rel);
            if flags & libc::O_TRUNC != 0 {
                s.truncate(ino, 0)?;
            }
            s.attr(ino)
        })();
        match done {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let mut s = self.state();
        let done = s.live().and_then(|_| s.read(ino.0, offset, size as u64));
        match done {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.state();
        match s.writable().and_then(|_| s.write(ino.0, offset, data)) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // A close makes nothing durable.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        match s.writable().and_then(|_| s.sync(ino.0)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut s = self.state();
        let listed = (|| {
            let rel = s.path_of(ino)?;
            let mut entries = vec![
                (ino.0, FileType::Directory, ".".into()),
                (1, FileType::Directory, "..".into()),
            ];
            for e in fs::read_dir(s.full(&rel)).map_err(errno)?.flatten() {
                let kind = match e.file_type() {
                    Ok(t) if t.is_dir() => FileType::Directory,
                    _ => FileType::RegularFile,
                };
                let child = rel.join(e.file_name());
                let i = s.ino_for(&child);
                entries.push((i, kind, e.file_name()));
            }
            Ok::<_, Errno>(entries)
        })();
        match listed {
            Ok(entries) => {
                for (n, (i, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(INodeNo(i), (n + 1) as u64, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.state().live() {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.state();
        let total = s.quota.unwrap_or(1 << 40) / BLOCK;
        let free = total.saturating_sub(s.used / BLOCK);
        reply.statfs(
            total,
            free,
            free,
            1 << 20,
            1 << 20,
            BLOCK as u32,
            255,
            BLOCK as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}
