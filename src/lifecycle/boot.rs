//! `boot`: cgroup limits, the restart policy and variables given with it
//! are stored first (they apply to this and every later boot); then the
//! container boots detached, runs one command (`-e`), or boots with the
//! caller attached to its shell (`-t`).

use super::create::apply_limits;
use super::LifecycleError;
use crate::container::config::LimitsConfig;
use crate::container::{ContainerConfig, EnvVar, RestartPolicy, Status};
use crate::names::Name;
use crate::runtime::{BootOutcome, Runtime, RuntimeError};
use crate::session::{End, Stdio};

/// How a container is started.
#[derive(Debug)]
pub enum Start<'a> {
    /// In the background; the stored command (Docker-style containers)
    /// is its main process, in the background too.
    Detached,
    /// With this command as its main process, waited for (`-e`).
    Exec(String),
    /// In the background, the caller's terminal attached to root's shell
    /// at once (`-t`).
    Attach(Stdio<'a>),
    /// In the background, the stored command its main process, the
    /// caller's terminal attached at once to the main process's terminal
    /// (Docker's `run -it CMD`, `start -a` of a `-t` container).
    AttachMain(Stdio<'a>),
}

/// `boot`.
#[derive(Debug)]
pub struct BootRequest<'a> {
    pub name: Name,
    /// Limits to store before the boot (empty: the stored ones apply).
    pub limits: LimitsConfig,
    /// `--restart` to store before the boot (None: the stored one applies).
    pub restart: Option<RestartPolicy>,
    /// Variables to store before the boot, over the stored ones (a key
    /// given again takes the new value).
    pub env: Vec<EnvVar>,
    /// `--workdir` and `--user` to store before the boot (None: the
    /// stored ones apply).
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub start: Start<'a>,
}

impl<'a> BootRequest<'a> {
    /// A boot of `name` with the options it has stored (nothing changed
    /// before the boot).
    pub fn stored(name: Name, start: Start<'a>) -> Self {
        Self {
            name,
            limits: LimitsConfig::default(),
            restart: None,
            env: Vec::new(),
            workdir: None,
            user: None,
            start,
        }
    }
}

/// The main process a start asks for: `-e CMD` waited for, the stored
/// command in the background (its terminal attached to at once), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Main<'s> {
    Wait(&'s str),
    Background(&'s str),
    Attached(&'s str),
    None,
}

/// What `start` starts of container `config`: `Exec` its command, waited
/// for; otherwise the stored command, in the background, if any.
pub(super) fn main_process<'s>(start: &'s Start<'_>, config: &'s ContainerConfig) -> Main<'s> {
    match (start, &config.command) {
        (Start::Exec(cmd), _) => Main::Wait(cmd),
        (Start::AttachMain(_), Some(cmd)) if config.tty => Main::Attached(cmd),
        (_, Some(cmd)) => Main::Background(cmd),
        (_, None) => Main::None,
    }
}

/// How a boot went for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booted {
    /// Running in the background.
    Detached { pid: i32 },
    /// The `-e` command ran to its end with this exit code.
    Exited { code: i32 },
    /// Booted, and the attached session ended so.
    Attached(End),
}

/// Boots a stopped container.
pub fn boot(rt: &Runtime, req: BootRequest<'_>) -> Result<Booted, LifecycleError> {
    let name = &req.name;
    let changes = !req.limits.is_empty()
        || req.restart.is_some()
        || !req.env.is_empty()
        || req.workdir.is_some()
        || req.user.is_some();
    if changes {
        let _lock = rt.containers.lock(name)?;
        let mut config = rt.containers.config(name)?;
        // A running container keeps its config: the boot would fail.
        if let Status::Running { pid } = rt.containers.status(name)? {
            return Err(RuntimeError::Running(name.to_string(), pid).into());
        }
        config.limits = apply_limits(&req.limits, config.limits.clone())?;
        config.restart = req.restart.or(config.restart);
        config.env = crate::container::env::merge(&config.env, &req.env);
        config.workdir = req.workdir.clone().or(config.workdir);
        config.user = req.user.clone().or(config.user);
        rt.containers.save_config(&config)?;
    }
    let config = rt.containers.config(name)?;
    let outcome = match main_process(&req.start, &config) {
        Main::Wait(cmd) => rt.boot(name, Some(cmd))?,
        Main::Background(cmd) => rt.boot_background(name, cmd, None)?,
        Main::Attached(cmd) => rt.boot_for_attach(name, cmd, None)?,
        Main::None => rt.boot(name, None)?,
    };
    after_boot(rt, name, outcome, req.start)
}

/// What follows a boot that worked: the caller attached, when asked.
pub(super) fn after_boot(
    rt: &Runtime,
    name: &Name,
    outcome: BootOutcome,
    start: Start<'_>,
) -> Result<Booted, LifecycleError> {
    Ok(match (outcome, start) {
        // The session socket listens from before the container's first
        // instruction, so there is no wait.
        (_, Start::Attach(io)) => Booted::Attached(super::session::attach(rt, name, io)?),
        (_, Start::AttachMain(io)) => {
            Booted::Attached(super::session::attach_main(rt, name, io, true)?)
        }
        (BootOutcome::Detached { pid }, _) => Booted::Detached { pid },
        (BootOutcome::Exited { code }, _) => {
            // A waited-for run of a `--rm` container ends with it.
            super::stop::remove_if_auto(rt, name)?;
            Booted::Exited { code }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_wins_then_the_stored_command_runs_in_the_background() {
        let mut config: ContainerConfig = toml::from_str(
            "name = \"c\"\nhostname = \"c\"\nimages = [\"test\"]\nnet = \"HOST\"\ncreated = \"now\"\n",
        )
        .expect("config");
        assert_eq!(main_process(&Start::Detached, &config), Main::None);
        config.command = Some("sleep 1".into());
        assert_eq!(
            main_process(&Start::Detached, &config),
            Main::Background("sleep 1")
        );
        let exec = Start::Exec("true".into());
        assert_eq!(main_process(&exec, &config), Main::Wait("true"));
        let stdin = std::io::stdin();
        let fd = std::os::fd::AsFd::as_fd(&stdin);
        let io = Stdio {
            stdin: fd,
            stdout: fd,
            stderr: fd,
        };
        // Attached at once only to a main process with a terminal (-t).
        assert_eq!(
            main_process(&Start::AttachMain(io), &config),
            Main::Background("sleep 1")
        );
        config.tty = true;
        assert_eq!(
            main_process(&Start::AttachMain(io), &config),
            Main::Attached("sleep 1")
        );
    }
}
