//! Choosing the host ids of a `--userns` container: the home's range, and
//! the lowest slot of it that no other container of the home holds (chosen
//! at create, like a VIP, under a home-wide lock).

use std::path::Path;

use super::{Runtime, RuntimeError};
use crate::container::config::UsernsIds;
use crate::container::subids::{HomeIds, IdRange};
use crate::container::ContainerError;
use crate::home::{LockKind, ObjectLock};
use crate::names::Name;

fn ids_error(name: &str, step: &'static str, reason: String) -> RuntimeError {
    RuntimeError::Step {
        name: name.to_string(),
        step,
        reason,
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
            _ => Err(ids_error(
                name.as_str(),
                "--userns",
                "no subordinate ids for root: add a line such as root:1000000:65536000 to \
                 /etc/subuid and /etc/subgid, or set [userns] range in xdocker.toml"
                    .to_string(),
            )),
        }
    }

    /// The home-wide lock of id slots; held until the config is saved.
    pub fn id_slots_lock(&self) -> Result<ObjectLock, RuntimeError> {
        let fixed = Name::parse_as("lock name", "userns")
            .map_err(|e| ids_error("userns", "lock", e.to_string()))?;
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
