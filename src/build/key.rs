//! Cache keys. Each stage carries a chain: a sha256 over its base (the
//! FROM image's layers and their creation times, `scratch`, or the chain
//! of an earlier stage) and, step by step, what each step depends on: its
//! instruction with variables substituted, for RUN the build arguments in
//! scope (they are its environment), for COPY and ADD a checksum of the
//! sources' contents and metadata (names, types, modes, link targets;
//! never times). A step that makes a layer is found in the cache under
//! the chain after it, so a changed step changes the key of every later
//! one: after the first miss every later step runs.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use sha2::{Digest, Sha256};

use super::files::Entry;
use crate::image::archive::hex;

/// The running key of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain(String);

fn field(h: &mut Sha256, data: &[u8]) {
    h.update((data.len() as u64).to_le_bytes());
    h.update(data);
}

impl Chain {
    /// The chain of a stage on `base` (a description of its base).
    pub fn start(base: &str) -> Self {
        let mut h = Sha256::new();
        field(&mut h, b"xdocker build chain 1");
        field(&mut h, base.as_bytes());
        Self(hex(&h.finalize()))
    }

    /// The chain after a step that depends on `parts`.
    pub fn next(&self, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        field(&mut h, self.0.as_bytes());
        for p in parts {
            field(&mut h, p.as_bytes());
        }
        Self(hex(&h.finalize()))
    }

    /// The id of the layer a step made with this chain (a version of the
    /// build cache image: 32 hex digits).
    pub fn layer_id(&self) -> String {
        self.0[..32].to_string()
    }

    /// The chain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The checksum of COPY/ADD sources: for each entry its path below the
/// destination, type, permission bits, and its content (a file) or
/// target (a symlink) or device number. Times and owners never count
/// (COPY sets owners itself).
pub fn sources_digest(entries: &[Entry]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    field(&mut h, b"xdocker build sources 1");
    let mut buf = vec![0u8; 1 << 16];
    for e in entries {
        field(&mut h, e.sub.as_os_str().as_encoded_bytes());
        let ft = e.meta.file_type();
        h.update((e.meta.mode() & 0o170000).to_le_bytes());
        h.update((e.meta.mode() & 0o7777).to_le_bytes());
        if e.keep_owner {
            h.update(e.meta.uid().to_le_bytes());
            h.update(e.meta.gid().to_le_bytes());
        }
        if ft.is_file() {
            h.update(e.meta.len().to_le_bytes());
            let mut f = File::open(&e.host)?;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        } else if ft.is_symlink() {
            field(
                &mut h,
                std::fs::read_link(&e.host)?.as_os_str().as_encoded_bytes(),
            );
        } else if !ft.is_dir() {
            h.update(e.meta.rdev().to_le_bytes());
        }
    }
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::build::files::{collect, Origin};
    use crate::build::ignore::Ignore;

    fn digest(dir: &std::path::Path, ignore: &Ignore) -> String {
        let (entries, _) = collect(
            Origin::Context { dir, ignore },
            &["src".to_string()],
            "/app/",
            false,
        )
        .unwrap();
        sources_digest(&entries).unwrap()
    }

    #[test]
    fn content_and_mode_count_times_and_ignored_files_do_not() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("a"), "one").unwrap();
        std::fs::write(src.join("skip.log"), "x").unwrap();
        let ignore = Ignore::parse("src/*.log\n");
        let first = digest(t.path(), &ignore);
        // Only the time changes.
        let past = nix::sys::time::TimeSpec::new(1_000_000, 0);
        nix::sys::stat::utimensat(
            None,
            &src.join("a"),
            &past,
            &past,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        assert_eq!(digest(t.path(), &ignore), first);
        // An ignored file changes.
        std::fs::write(src.join("skip.log"), "changed").unwrap();
        assert_eq!(digest(t.path(), &ignore), first);
        assert_ne!(digest(t.path(), &Ignore::default()), first);
        // The mode changes.
        std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let moded = digest(t.path(), &ignore);
        assert_ne!(moded, first);
        // The content changes.
        std::fs::write(src.join("a"), "two").unwrap();
        assert_ne!(digest(t.path(), &ignore), moded);
        let c = Chain::start("scratch");
        assert_ne!(c.next(&["RUN a"]), c.next(&["RUN b"]));
        assert_eq!(c.next(&["RUN a"]).layer_id().len(), 32);
    }
}
