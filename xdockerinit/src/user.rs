//! Who a process of the container runs as, and where: `--user` and
//! `--workdir` (the container's defaults, for the main process and the
//! sessions) and a session's own. A user is `NAME`, `UID`, `NAME:GROUP` or
//! `UID:GID`, resolved inside the container against its own /etc/passwd
//! and /etc/group, as Docker (runc's `GetExecUser`) does: a name must
//! exist; a number need not (its group is then 0); without a group the
//! user's supplementary groups are those of /etc/group that list it, with
//! a group only that group. Resolution allocates and reads files, so it
//! happens before fork; the child only makes the system calls
//! ([`Launch::apply`]).

use std::ffi::CString;
use std::fmt;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

/// A user as given: `USER[:GROUP]`, each a name or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// Name or UID.
    pub user: String,
    /// Name or GID.
    pub group: Option<String>,
}

/// A user that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserError {
    /// Not `USER[:GROUP]`.
    BadSpec(String),
    /// A user name that /etc/passwd does not have.
    NoUser(String),
    /// A group name that /etc/group does not have.
    NoGroup(String),
    /// A working directory that is not an absolute path.
    BadWorkdir(String),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::BadSpec(s) => {
                write!(f, "user '{s}' is not NAME, UID, NAME:GROUP or UID:GID")
            }
            UserError::NoUser(s) => {
                write!(f, "user '{s}': no such user in the container's /etc/passwd")
            }
            UserError::NoGroup(s) => {
                write!(
                    f,
                    "group '{s}': no such group in the container's /etc/group"
                )
            }
            UserError::BadWorkdir(s) => {
                write!(f, "working directory '{s}' is not an absolute path")
            }
        }
    }
}

impl std::error::Error for UserError {}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-$@".contains(&b))
}

impl UserSpec {
    /// Parses `USER[:GROUP]`.
    pub fn parse(s: &str) -> Result<Self, UserError> {
        let bad = || UserError::BadSpec(s.to_string());
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        if !valid_part(user) || group.is_some_and(|g| !valid_part(g)) {
            return Err(bad());
        }
        Ok(Self {
            user: user.to_string(),
            group: group.map(str::to_string),
        })
    }
}

/// Checks a working directory: an absolute path without NUL.
pub fn check_workdir(dir: &str) -> Result<(), UserError> {
    if !dir.starts_with('/') || dir.contains('\0') {
        return Err(UserError::BadWorkdir(dir.to_string()));
    }
    Ok(())
}

/// A resolved user: the ids a process takes, and its home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// From /etc/passwd; `/` for a UID it does not have.
    pub home: String,
}

/// One line of /etc/passwd: name, uid, gid, home.
fn passwd_entries(text: &str) -> impl Iterator<Item = (&str, u32, u32, &str)> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        match f.as_slice() {
            [name, _, uid, gid, _, home, ..] => {
                Some((*name, uid.parse().ok()?, gid.parse().ok()?, *home))
            }
            _ => None,
        }
    })
}

/// One line of /etc/group: name, gid, members.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        match f.as_slice() {
            [name, _, gid, members, ..] => Some((
                *name,
                gid.parse().ok()?,
                members.split(',').filter(|m| !m.is_empty()).collect(),
            )),
            [name, _, gid] => Some((*name, gid.parse().ok()?, Vec::new())),
            _ => None,
        }
    })
}

/// Resolves `spec` against the text of /etc/passwd and /etc/group.
pub fn resolve_with(spec: &UserSpec, passwd: &str, group: &str) -> Result<Identity, UserError> {
    let numeric_user: Option<u32> = spec.user.parse().ok();
    let entry = passwd_entries(passwd).find(|(name, uid, _, _)| match numeric_user {
        Some(n) => *uid == n,
        None => *name == spec.user,
    });
    let (name, uid, mut gid, home) = match (entry, numeric_user) {
        (Some((name, uid, gid, home)), _) => (Some(name), uid, gid, home.to_string()),
        (None, Some(uid)) => (None, uid, 0, "/".to_string()),
        (None, None) => return Err(UserError::NoUser(spec.user.clone())),
    };
    let groups = match &spec.group {
        Some(g) => {
            gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => group_entries(group)
                    .find(|(n, _, _)| n == g)
                    .map(|(_, gid, _)| gid)
                    .ok_or_else(|| UserError::NoGroup(g.clone()))?,
            };
            vec![gid]
        }
        None => {
            let mut groups = vec![gid];
            if let Some(name) = name {
                for (_, g, members) in group_entries(group) {
                    if members.contains(&name) && !groups.contains(&g) {
                        groups.push(g);
                    }
                }
            }
            groups
        }
    };
    Ok(Identity {
        uid,
        gid,
        groups,
        home: if home.is_empty() {
            "/".to_string()
        } else {
            home
        },
    })
}

/// Resolves `spec` against the container's /etc/passwd and /etc/group (a
/// missing file has no entries).
pub fn resolve(spec: &UserSpec) -> Result<Identity, UserError> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    resolve_with(spec, &read("/etc/passwd"), &read("/etc/group"))
}

/// Who and where a child runs, prepared before fork.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// None: root, as init.
    pub identity: Option<Identity>,
    /// The directory to start in; None: stay where the parent is.
    pub workdir: Option<CString>,
    /// Without a working directory: the directory to start in when it can
    /// be entered, else `/` (a session's home).
    pub home: Option<CString>,
    /// The identity's groups, made before fork.
    gids: Vec<Gid>,
}

impl Launch {
    /// The user given (resolved now, inside the container) and the
    /// working directory.
    pub fn prepare(user: Option<&str>, workdir: Option<&str>) -> Result<Self, UserError> {
        let identity = match user {
            Some(u) => Some(resolve(&UserSpec::parse(u)?)?),
            None => None,
        };
        let workdir = match workdir {
            Some(d) => {
                check_workdir(d)?;
                Some(CString::new(d).map_err(|_| UserError::BadWorkdir(d.to_string()))?)
            }
            None => None,
        };
        Ok(Self::new(identity, workdir))
    }

    /// A launch as `identity` in `workdir`.
    pub fn new(identity: Option<Identity>, workdir: Option<CString>) -> Self {
        let gids = identity
            .iter()
            .flat_map(|id| id.groups.iter().map(|g| Gid::from_raw(*g)))
            .collect();
        Self {
            identity,
            workdir,
            home: None,
            gids,
        }
    }

    /// `env` with HOME set to the user's home when it has none.
    pub fn env_with_home(&self, env: &[CString]) -> Vec<CString> {
        let mut env = env.to_vec();
        if let Some(id) = &self.identity {
            if !env.iter().any(|e| e.to_bytes().starts_with(b"HOME=")) {
                env.extend(CString::new(format!("HOME={}", id.home)).ok());
            }
        }
        env
    }

    /// In the child, after fork: the working directory (entered as root,
    /// so a directory only root may enter still works), then the groups
    /// and ids. Only system calls, no allocation. The error names what
    /// failed.
    pub fn apply(&self) -> Result<(), (&'static str, Errno)> {
        match (&self.workdir, &self.home) {
            (Some(dir), _) => nix::unistd::chdir(dir.as_c_str())
                .map_err(|e| ("enter the working directory", e))?,
            (None, Some(home)) => {
                if nix::unistd::chdir(home.as_c_str()).is_err() {
                    let _ = nix::unistd::chdir(c"/");
                }
            }
            (None, None) => {}
        }
        if let Some(id) = &self.identity {
            nix::unistd::setgroups(&self.gids).map_err(|e| ("set the groups", e))?;
            let gid = Gid::from_raw(id.gid);
            nix::unistd::setresgid(gid, gid, gid).map_err(|e| ("set the group id", e))?;
            let uid = Uid::from_raw(id.uid);
            nix::unistd::setresuid(uid, uid, uid).map_err(|e| ("set the user id", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
                          app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:app,root\nstaff:x:50:app\napp:x:1000:\n";

    fn resolved(s: &str) -> Result<Identity, UserError> {
        resolve_with(&UserSpec::parse(s).expect("spec"), PASSWD, GROUP)
    }

    #[test]
    fn names_and_numbers_resolve_as_docker_does() {
        let app = resolved("app").expect("app");
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.groups, vec![1000, 10, 50]);
        assert_eq!(app.home, "/home/app");
        // A uid of passwd is that user; one it lacks is fine, group 0.
        assert_eq!(resolved("1000").expect("uid"), app);
        let stranger = resolved("4242").expect("unknown uid");
        assert_eq!(
            (stranger.uid, stranger.gid, stranger.home.as_str()),
            (4242, 0, "/")
        );
        assert_eq!(stranger.groups, vec![0]);
        // A group given: that group only.
        let g = resolved("app:staff").expect("app:staff");
        assert_eq!((g.uid, g.gid, g.groups.clone()), (1000, 50, vec![50]));
        let n = resolved("4242:777").expect("uid:gid");
        assert_eq!((n.uid, n.gid, n.groups), (4242, 777, vec![777]));
        assert_eq!(resolved("root").expect("root").home, "/root");
    }

    #[test]
    fn unknown_names_and_bad_specs_are_refused() {
        assert_eq!(resolved("bob"), Err(UserError::NoUser("bob".into())));
        assert_eq!(
            resolved("app:nogroup"),
            Err(UserError::NoGroup("nogroup".into()))
        );
        for bad in ["", ":", "app:", ":app", "a b", "a:b:c", "x\ny"] {
            assert_eq!(
                UserSpec::parse(bad),
                Err(UserError::BadSpec(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            UserError::NoUser("bob".into()).to_string(),
            "user 'bob': no such user in the container's /etc/passwd"
        );
        assert!(check_workdir("/srv/app").is_ok());
        assert_eq!(
            check_workdir("srv"),
            Err(UserError::BadWorkdir("srv".into()))
        );
    }

    #[test]
    fn home_is_added_only_when_missing() {
        let launch = Launch::new(Some(resolved("app").expect("app")), None);
        let env = launch.env_with_home(&[c"PATH=/bin".to_owned()]);
        assert_eq!(env[1].as_c_str(), c"HOME=/home/app");
        let env = launch.env_with_home(&[c"HOME=/x".to_owned()]);
        assert_eq!(env, vec![c"HOME=/x".to_owned()]);
        assert_eq!(Launch::default().env_with_home(&[]), Vec::<CString>::new());
    }
}
