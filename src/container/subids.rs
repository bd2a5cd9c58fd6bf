//! Subordinate ids for `--userns`: the home's range (`[userns] range` in
//! xdocker.toml, else root's lines in /etc/subuid and /etc/subgid, as LXC
//! and Docker's userns-remap read them), cut into slots of 65536 ids, one
//! slot per container so that no two containers share a host uid.

use super::config::UsernsIds;

/// Ids each container gets: uid and gid 0..65535 inside.
pub const IDS_PER_CONTAINER: u32 = 65536;

/// A run of host ids: `start`, `start + 1`, ... `start + count - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

impl IdRange {
    /// `START:COUNT`, as in /etc/subuid after the user name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not START:COUNT");
        let (start, count) = text.trim().split_once(':').ok_or_else(bad)?;
        let start: u32 = start.parse().map_err(|_| bad())?;
        let count: u32 = count.parse().map_err(|_| bad())?;
        if start == 0 {
            return Err(format!("{text:?} starts at host id 0 (root)"));
        }
        if start.checked_add(count).is_none() {
            return Err(format!("{text:?} runs past the last id"));
        }
        Ok(Self { start, count })
    }

    /// The first range of `user` (a name or a numeric uid) in the text of
    /// /etc/subuid or /etc/subgid.
    pub fn from_subid_file(text: &str, users: &[&str]) -> Option<Self> {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .find(|(user, _)| users.contains(&user.trim()))
            .and_then(|(_, range)| Self::parse(range).ok())
    }
}

/// The uid and gid ranges of one home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HomeIds {
    pub uids: IdRange,
    pub gids: IdRange,
}

impl HomeIds {
    /// How many containers fit.
    pub fn slots(&self) -> u32 {
        self.uids.count.min(self.gids.count) / IDS_PER_CONTAINER
    }

    fn slot(&self, i: u32) -> UsernsIds {
        UsernsIds {
            uid: self.uids.start + i * IDS_PER_CONTAINER,
            gid: self.gids.start + i * IDS_PER_CONTAINER,
        }
    }

    /// The lowest slot whose ids no other container has.
    pub fn first_free(&self, taken: &[UsernsIds]) -> Option<UsernsIds> {
        let overlaps = |a: u32, b: u32| a.abs_diff(b) < IDS_PER_CONTAINER;
        (0..self.slots()).map(|i| self.slot(i)).find(|s| {
            !taken
                .iter()
                .any(|t| overlaps(t.uid, s.uid) || overlaps(t.gid, s.gid))
        })
    }
}

/// Maps owner ids between the host and a container with a user namespace
/// (identity without one): uid `u` inside is `base + u` on the host; a host
/// id outside the container's ids shows as nobody (65534), as the kernel
/// shows it inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdShift(pub Option<UsernsIds>);

const NOBODY: u32 = 65534;

impl IdShift {
    fn into_inside(id: u32, base: u32) -> u32 {
        base + if id < IDS_PER_CONTAINER { id } else { NOBODY }
    }

    fn out_of(id: u32, base: u32) -> u32 {
        match id.checked_sub(base) {
            Some(inside) if inside < IDS_PER_CONTAINER => inside,
            _ => NOBODY,
        }
    }

    /// The host ids of a host file's owner `(uid, gid)` put into the container.
    pub fn into_container(&self, (uid, gid): (u32, u32)) -> (u32, u32) {
        match self.0 {
            Some(b) => (Self::into_inside(uid, b.uid), Self::into_inside(gid, b.gid)),
            None => (uid, gid),
        }
    }

    /// The ids for the host copy of a file the host sees owned by `(uid, gid)`
    /// in the container.
    pub fn out_of_container(&self, (uid, gid): (u32, u32)) -> (u32, u32) {
        match self.0 {
            Some(b) => (Self::out_of(uid, b.uid), Self::out_of(gid, b.gid)),
            None => (uid, gid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_come_from_subid_files() {
        assert_eq!(
            IdRange::parse("100000:65536"),
            Ok(IdRange {
                start: 100000,
                count: 65536
            })
        );
        for bad in ["", "100000", "x:1", "1:x", "0:65536", "4294967295:2"] {
            assert!(IdRange::parse(bad).is_err(), "{bad}");
        }
        let file = "# comment\nalice:100000:65536\nroot:165536:131072\n0:1:1\n";
        assert_eq!(
            IdRange::from_subid_file(file, &["root", "0"]),
            Some(IdRange {
                start: 165536,
                count: 131072
            })
        );
        assert_eq!(IdRange::from_subid_file(file, &["bob"]), None);
    }

    #[test]
    fn each_container_gets_its_own_slot() {
        let ids = HomeIds {
            uids: IdRange {
                start: 100000,
                count: 3 * 65536 + 5,
            },
            gids: IdRange {
                start: 500000,
                count: 2 * 65536,
            },
        };
        assert_eq!(ids.slots(), 2);
        let first = ids.first_free(&[]).expect("slot");
        assert_eq!(
            first,
            UsernsIds {
                uid: 100000,
                gid: 500000
            }
        );
        let second = ids.first_free(&[first]).expect("slot");
        assert_eq!(
            second,
            UsernsIds {
                uid: 165536,
                gid: 565536
            }
        );
        assert_eq!(ids.first_free(&[first, second]), None);
        // A container placed by hand across two slots blocks both.
        let odd = UsernsIds {
            uid: 130000,
            gid: 530000,
        };
        assert_eq!(ids.first_free(&[odd]), None);
    }

    #[test]
    fn owners_shift_across_the_namespace() {
        let shift = IdShift(Some(UsernsIds {
            uid: 100000,
            gid: 200000,
        }));
        assert_eq!(shift.into_container((0, 0)), (100000, 200000));
        assert_eq!(shift.into_container((1000, 5)), (101000, 200005));
        assert_eq!(shift.into_container((70000, 0)), (165534, 200000));
        assert_eq!(shift.out_of_container((100000, 200005)), (0, 5));
        assert_eq!(shift.out_of_container((0, 0)), (65534, 65534));
        assert_eq!(shift.out_of_container((165536, 200000)), (65534, 0));
        let none = IdShift(None);
        assert_eq!(none.into_container((7, 8)), (7, 8));
        assert_eq!(none.out_of_container((7, 8)), (7, 8));
    }
}
