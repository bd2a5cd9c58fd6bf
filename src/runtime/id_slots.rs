//! Choosing the host ids of a `--userns` container: the home's range, and
//! the lowest slot of it that no other container of the home holds (chosen
//! at create, like a VIP, under a home-wide lock). Without a range of its
//! own, root gets Incus' default one (`DEFAULT_RANGE`) where it overlaps
//! no range of /etc/subuid or /etc/subgid.

use std::path::Path;

use super::{BoxError, Runtime, RuntimeError};
use crate::container::config::UsernsIds;
use crate::container::subids::{HomeIds, IdRange};
use crate::container::ContainerError;
use crate::home::{LockKind, ObjectLock};
use crate::names::Name;

/// The host ids a home uses when neither `[userns] range` nor root's
/// lines in /etc/subuid and /etc/subgid say otherwise: what Incus uses,
/// and what `scripts/install.sh` writes for root (15258 containers).
pub const DEFAULT_RANGE: IdRange = IdRange {
    start: 1_000_000,
    count: 1_000_000_000,
};

fn ids_error(name: &str, step: &'static str, reason: impl Into<BoxError>) -> RuntimeError {
    RuntimeError::Step {
        name: name.to_string(),
        step,
        source: reason.into(),
    }
}

impl Runtime {
    /// The uid and gid ranges of this home: `[userns] range`, else root's
    /// ranges in /etc/subuid and /etc/subgid.
    pub fn home_ids(&self, name: &Name) -> Result<HomeIds, RuntimeError> {
        if let Some(text) = &self.config.userns.range {
            let range =
                IdRange::parse(text).map_err(|r| ids_error("xdocker.toml", "[userns] range", r))?;
            return Ok(HomeIds {
                uids: range,
                gids: range,
            });
        }
        let from = |file: &str| {
            let text = std::fs::read_to_string(Path::new(file)).unwrap_or_default();
            IdRange::from_subid_file(&text, &["root", "0"])
        };
        match (from("/etc/subuid"), from("/etc/subgid")) {
            (Some(uids), Some(gids)) => Ok(HomeIds { uids, gids }),
            _ => default_ids(&[
                &std::fs::read_to_string("/etc/subuid").unwrap_or_default(),
                &std::fs::read_to_string("/etc/subgid").unwrap_or_default(),
            ])
            .map_err(|other| {
                ids_error(
                    name.as_str(),
                    "--userns",
                    format!(
                        "no subordinate ids for root, and the default range {}:{} overlaps \
                         {other}: add a line such as root:1000000:1000000000 to /etc/subuid \
                         and /etc/subgid, or set [userns] range in xdocker.toml",
                        DEFAULT_RANGE.start, DEFAULT_RANGE.count
                    ),
                )
            }),
        }
    }

    /// The ids of a new unprivileged container `name` (a free slot), once
    /// the probe says the host and the home's file systems support them
    /// (see [`super::unprivileged`]). The caller holds
    /// [`Self::id_slots_lock`] until the config is saved.
    pub fn choose_unprivileged(&self, name: &Name) -> Result<UsernsIds, RuntimeError> {
        let ids = self.home_ids(name)?;
        let any_slot = UsernsIds {
            uid: ids.uids.start,
            gid: ids.gids.start,
        };
        let home = self.containers.home();
        super::unprivileged::check(
            home.root(),
            [&home.images_dir(), &home.containers_dir()],
            any_slot,
        )
        .map_err(|reason| ids_error(name.as_str(), "--userns", reason))?;
        self.choose_userns_ids(name)
    }
}

/// Both default id ranges, where [`DEFAULT_RANGE`] overlaps no line of
/// `subid_files` (the texts of /etc/subuid and /etc/subgid); otherwise the
/// line it overlaps.
fn default_ids(subid_files: &[&str]) -> Result<HomeIds, String> {
    let end = |r: &IdRange| u64::from(r.start) + u64::from(r.count);
    for text in subid_files {
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some(range) = line
                .split_once(':')
                .and_then(|(_, r)| IdRange::parse(r).ok())
            else {
                continue;
            };
            if u64::from(range.start) < end(&DEFAULT_RANGE)
                && u64::from(DEFAULT_RANGE.start) < end(&range)
            {
                return Err(format!("{:?}", line.trim()));
            }
        }
    }
    Ok(HomeIds {
        uids: DEFAULT_RANGE,
        gids: DEFAULT_RANGE,
    })
}

impl Runtime {
    /// The home-wide lock of id slots; held until the config is saved.
    pub fn id_slots_lock(&self) -> Result<ObjectLock, RuntimeError> {
        let fixed =
            Name::parse_as("lock name", "userns").map_err(|e| ids_error("userns", "lock", e))?;
        Ok(self
            .containers
            .home()
            .lock(LockKind::IdSlots, &fixed)
            .map_err(ContainerError::from)?)
    }

    /// The lowest free slot of ids for container `name`.
    pub fn choose_userns_ids(&self, name: &Name) -> Result<UsernsIds, RuntimeError> {
        let ids = self.home_ids(name)?;
        let mut taken = Vec::new();
        for other in self.containers.names()? {
            if other == *name {
                continue;
            }
            if let Some(t) = self
                .containers
                .config(&other)
                .ok()
                .and_then(|c| c.security.userns)
            {
                taken.push(t);
            }
        }
        ids.first_free(&taken).ok_or_else(|| {
            ids_error(
                name.as_str(),
                "--userns",
                format!(
                    "no free ids left: the {} slots of 65536 ids (uids from {}, gids from {}) \
                     are all taken",
                    ids.slots(),
                    ids.uids.start,
                    ids.gids.start
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_range_is_taken_only_where_it_overlaps_no_other() {
        let ids = default_ids(&["", "# comment\n"]).expect("free");
        assert_eq!(ids.uids, DEFAULT_RANGE);
        assert_eq!(ids.gids, DEFAULT_RANGE);
        // Debian's useradd gives users 100000:65536 and up: no overlap.
        assert!(default_ids(&["alice:100000:65536\nbob:165536:65536\n", ""]).is_ok());
        let why = default_ids(&["", "carol:999999:2\n"]).expect_err("overlaps");
        assert!(why.contains("carol:999999:2"), "{why}");
        assert!(default_ids(&["dave:1000999999:5\n", ""]).is_err());
        assert!(
            default_ids(&["erin:1001000000:5\n", ""]).is_ok(),
            "just past it"
        );
    }
}
