//! One rollback stack for a multi-step operation (a boot): each step that
//! made something pushes its undo; a failure (or a panic) undoes what was
//! made, newest first; success commits once and keeps everything
//! (crun's `cleanup_*` attributes, youki's `Drop` guards, in one place).

use std::fmt;

/// One step's undo, named.
type Undo<'a> = (&'static str, Box<dyn FnOnce() + 'a>);

/// Undo actions, run newest first on drop unless committed.
pub struct Rollback<'a> {
    undos: Vec<Undo<'a>>,
}

impl fmt::Debug for Rollback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<&str> = self.undos.iter().map(|(what, _)| *what).collect();
        f.debug_struct("Rollback").field("undos", &steps).finish()
    }
}

impl Default for Rollback<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Rollback<'a> {
    pub fn new() -> Self {
        Self { undos: Vec::new() }
    }

    /// Remembers how to undo the step `what` that just succeeded.
    pub fn push(&mut self, what: &'static str, undo: impl FnOnce() + 'a) {
        self.undos.push((what, Box::new(undo)));
    }

    /// Everything succeeded: nothing is undone.
    pub fn commit(mut self) {
        self.undos.clear();
    }
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        while let Some((_, undo)) = self.undos.pop() {
            undo();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_failure_undoes_newest_first_and_a_commit_undoes_nothing() {
        let log = RefCell::new(Vec::new());
        {
            let mut r = Rollback::new();
            r.push("cgroup", || log.borrow_mut().push("cgroup"));
            r.push("netns", || log.borrow_mut().push("netns"));
            r.push("veth", || log.borrow_mut().push("veth"));
            assert_eq!(
                format!("{r:?}"),
                r#"Rollback { undos: ["cgroup", "netns", "veth"] }"#
            );
        }
        assert_eq!(*log.borrow(), ["veth", "netns", "cgroup"]);
        log.borrow_mut().clear();
        let mut r = Rollback::new();
        r.push("cgroup", || log.borrow_mut().push("cgroup"));
        r.commit();
        assert!(log.borrow().is_empty());
    }

    #[test]
    fn a_panic_mid_way_still_undoes() {
        let log = std::sync::Mutex::new(Vec::new());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut r = Rollback::new();
            r.push("state", || log.lock().expect("lock").push("state"));
            panic!("step failed");
        }));
        assert!(result.is_err());
        assert_eq!(*log.lock().expect("lock"), ["state"]);
    }
}
