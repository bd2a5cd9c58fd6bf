//! `-a putfile`, `-a getfile`, `-a rplfile`: files of a running container.
//! Every container path is resolved inside the container's root
//! (`fsutil::inroot`, through [`lifecycle::container_root`]), never on the
//! host.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::fsutil::inroot::{self, InRootError};
use crate::lifecycle;
use crate::logging;
use crate::names::Name;
use crate::template;

/// Largest template read from a container.
const TEMPLATE_LIMIT: u64 = 64 << 20;

fn container(args: &Args) -> Result<&Name> {
    args.container
        .as_ref()
        .ok_or_else(|| anyhow!("needs -c/--container"))
}

fn required<'a>(value: &'a Option<PathBuf>, option: &str) -> Result<&'a Path> {
    value.as_deref().ok_or_else(|| anyhow!("needs {option}"))
}

fn in_container<'a>(
    name: &'a Name,
    verb: &'a str,
) -> impl FnOnce(InRootError) -> anyhow::Error + 'a {
    move |e| anyhow!("container {name}: {verb}: {e}")
}

/// `-a putfile -c C --src-file HOST --dst-file CTR`.
pub fn putfile(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name = container(args)?;
    let src = required(&args.src_file, "--src-file")?;
    let dst = required(&args.dst_file, "--dst-file")?;
    lifecycle::put_file(&ctx.runtime, name, src, dst)?;
    Ok(Output::Ok)
}

/// `-a getfile -c C --src-file CTR --dst-file HOST`.
pub fn getfile(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name = container(args)?;
    let src = required(&args.src_file, "--src-file")?;
    let dst = required(&args.dst_file, "--dst-file")?;
    lifecycle::get_file(&ctx.runtime, name, src, dst)?;
    Ok(Output::Ok)
}

/// The instance path of a template without `--instance-file`: the template
/// path without its `.tpl` suffix.
/// The most a mapping file may hold.
const MAPPING_LIMIT: u64 = 16 << 20;

/// Reads a host mapping file: a regular file of at most [`MAPPING_LIMIT`]
/// bytes (a FIFO, a device such as /dev/zero, or a directory is refused
/// without blocking or reading it).
fn read_mapping(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("is not a regular file"));
    }
    if meta.len() > MAPPING_LIMIT {
        return Err(std::io::Error::other(format!(
            "is larger than {} MiB",
            MAPPING_LIMIT >> 20
        )));
    }
    let mut data = Vec::new();
    file.take(MAPPING_LIMIT + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAPPING_LIMIT {
        return Err(std::io::Error::other(format!(
            "is larger than {} MiB",
            MAPPING_LIMIT >> 20
        )));
    }
    Ok(data)
}

/// The instance of a template when `--instance-file` is not given (SPEC
/// §6): `X.tpl` gives `X`; any other template is instantiated in place, as
/// the original tool does (atomically, keeping its mode and owner).
fn default_instance(template: &Path) -> PathBuf {
    let stem = template
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tpl"))
        .filter(|s| !s.is_empty());
    match stem {
        Some(stem) => template.with_file_name(stem),
        None => template.to_path_buf(),
    }
}

/// `-a rplfile -c C --template-file T --mapping-file M [--instance-file I]`.
pub fn rplfile(ctx: &Ctx, args: &Args) -> Result<Output> {
    let name = container(args)?;
    let template_path = required(&args.template_file, "--template-file")?;
    let mapping_path = required(&args.mapping_file, "--mapping-file")?;
    let instance_path = match &args.instance_file {
        Some(p) => p.clone(),
        None => default_instance(template_path),
    };
    let (root, ids) = lifecycle::container_root(&ctx.runtime, name)?;
    let mapping = read_mapping(mapping_path).map_err(|e| {
        anyhow!(
            "container {name}: rplfile: mapping file {}: {e}",
            mapping_path.display()
        )
    })?;
    let rules = template::parse_mapping(&mapping).map_err(|e| {
        anyhow!(
            "container {name}: rplfile: mapping file {}: {e}",
            mapping_path.display()
        )
    })?;
    let count = rules.len();
    let _as_root = lifecycle::as_container_root(name, ids)?;
    (|| {
        let (text, tpl) = root.read_file(template_path, TEMPLATE_LIMIT)?;
        let out = template::instantiate(&text, &rules);
        let spot = root.locate(&instance_path)?;
        // An existing instance keeps its mode and owner; a new one gets the
        // template's.
        let from = match spot.stat() {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => *st,
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                return Err(InRootError::Refused {
                    side: inroot::Side::Container,
                    path: instance_path.clone(),
                    reason: "is a directory".into(),
                })
            }
            Some(_) => {
                return Err(InRootError::Refused {
                    side: inroot::Side::Container,
                    path: instance_path.clone(),
                    reason: "is not a regular file".into(),
                })
            }
            None => tpl,
        };
        spot.replace_file(&out, from.st_mode, from.st_uid, from.st_gid)
    })()
    .map_err(in_container(name, "rplfile"))?;
    logging::info(&format!(
        "container {name}: rplfile {} -> {} with {count} rules from {}",
        template_path.display(),
        instance_path.display(),
        mapping_path.display()
    ));
    Ok(Output::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_files_must_be_small_regular_files() {
        let t = tempfile::tempdir().expect("tempdir");
        let ok = t.path().join("m");
        std::fs::write(&ok, "K=V\n").expect("write");
        assert_eq!(read_mapping(&ok).expect("read"), b"K=V\n");
        let e = read_mapping(Path::new("/dev/zero")).expect_err("device");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        let e = read_mapping(&fifo).expect_err("fifo, without blocking");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_mapping(t.path()).is_err(), "a directory");
        let big = t.path().join("big");
        let f = std::fs::File::create(&big).expect("create");
        f.set_len(MAPPING_LIMIT + 1).expect("truncate");
        let e = read_mapping(&big).expect_err("too big");
        assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
    }

    #[test]
    fn instance_is_the_template_without_tpl_or_the_template_itself() {
        let d = |p: &str| default_instance(Path::new(p));
        assert_eq!(d("/etc/app.conf.tpl"), PathBuf::from("/etc/app.conf"));
        assert_eq!(d("rel/x.tpl"), PathBuf::from("rel/x"));
        // Without the suffix: the template itself, in place.
        assert_eq!(d("/etc/app.conf"), PathBuf::from("/etc/app.conf"));
        assert_eq!(d("/etc/.tpl"), PathBuf::from("/etc/.tpl"));
        assert_eq!(d("/"), PathBuf::from("/"));
    }
}
