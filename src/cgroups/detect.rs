//! Picks the cgroup backend once per run, from what is mounted at the root:
//! a cgroup2 file system there means pure v2; v1 controller directories
//! mean v1, which includes the "hybrid" layout (systemd's
//! `/sys/fs/cgroup/unified`), whose v2 half holds no resource controllers
//! because they are all bound to v1 (cgroups(7), "Cgroups version 2").

use std::path::Path;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::{CgroupError, Cgroups, V1, V2};

/// The backend for the hierarchy at `root` (normally `/sys/fs/cgroup`),
/// with containers' groups under `parent`.
pub fn detect(root: &Path, parent: &str) -> Result<Box<dyn Cgroups>, CgroupError> {
    let fs = statfs(root).map_err(|errno| CgroupError::Statfs {
        path: root.to_path_buf(),
        error: errno.into(),
    })?;
    if fs.filesystem_type() == CGROUP2_SUPER_MAGIC {
        return Ok(Box::new(V2::new(root, parent)?));
    }
    if root.join("memory").is_dir() || root.join("cpu").is_dir() {
        return Ok(Box::new(V1::new(root, parent)?));
    }
    Err(CgroupError::NoHierarchy {
        path: root.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_no_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(dir.path(), "xdocker").unwrap_err();
        assert!(matches!(err, CgroupError::NoHierarchy { .. }), "{err}");
        assert!(err.to_string().starts_with("no cgroup hierarchy at "));
    }

    #[test]
    fn v1_controller_directories_mean_v1() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("memory")).unwrap();
        assert_eq!(detect(dir.path(), "xdocker").unwrap().version(), "v1");
    }

    #[test]
    fn a_missing_root_names_the_path() {
        let err = detect(Path::new("/nonexistent/cgroup"), "xdocker").unwrap_err();
        assert_eq!(
            err.to_string(),
            "detect cgroup hierarchy at /nonexistent/cgroup: no such file or directory"
        );
    }
}
