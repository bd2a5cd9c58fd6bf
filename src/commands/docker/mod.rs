//! The Docker-style verbs ([`crate::docker_cli`]), one thin module each:
//! checked options -> library call(s) -> what `entry` prints, over the
//! same library as the `-s`/`-a` commands. What they share is here (and
//! in [`super::args`]): the new container of `run` and `create`, running
//! a verb over several containers, Docker's durations.

mod attach;
mod build;
mod cp;
mod create;
mod exec;
mod images;
mod inspect;
mod logs;
mod network;
mod pause;
mod ps;
mod restart;
mod rm;
mod run;
mod start;
mod stop;
mod top;

use std::time::Duration;

use anyhow::{bail, Result};

use super::{args, Ctx, Output};
use crate::container::config::LimitsConfig;
use crate::docker_cli::{ContainerOpts, DockerVerb};
use crate::lifecycle::{self, CreateRequest, NewContainer, Security, Start};
use crate::names::Name;
use crate::network::Net;

/// Runs one checked Docker-style request.
pub fn dispatch(ctx: &Ctx, verb: &DockerVerb) -> Result<Output> {
    // As for the original grammar: what stopped since the last command
    // is released (and `--rm` containers removed), and a conversion
    // killed half-way is finished or rolled back.
    lifecycle::release_stopped(&ctx.runtime)?;
    crate::conversion::finish_interrupted(&ctx.runtime);
    match verb {
        DockerVerb::Run(a) => run::run(ctx, a),
        DockerVerb::Create(a) => create::run(ctx, a),
        DockerVerb::Start(a) => start::run(ctx, a),
        DockerVerb::Stop(a) => stop::stop(ctx, a),
        DockerVerb::Restart(a) => restart::run(ctx, a),
        DockerVerb::Kill(a) => stop::kill(ctx, a),
        DockerVerb::Rm(a) => rm::run(ctx, a),
        DockerVerb::Ps(a) => ps::run(ctx, a),
        DockerVerb::Exec(a) => exec::run(ctx, a),
        DockerVerb::Attach(a) => attach::run(ctx, a),
        DockerVerb::Logs(a) => logs::run(ctx, a),
        DockerVerb::Inspect(a) => inspect::run(ctx, a),
        DockerVerb::Pause(a) => pause::pause(ctx, a),
        DockerVerb::Unpause(a) => pause::unpause(ctx, a),
        DockerVerb::Top(a) => top::run(ctx, a),
        DockerVerb::Cp(a) => cp::run(ctx, a),
        DockerVerb::Commit(a) => images::commit(ctx, a),
        DockerVerb::Export(a) => images::export(ctx, a),
        DockerVerb::Images(a) => images::list(ctx, a),
        DockerVerb::Info(a) => {
            super::home_output::write(ctx, a.format == Some(crate::docker_cli::Format::Json))
        }
        DockerVerb::Rmi(a) => images::rmi(ctx, a),
        DockerVerb::Tag(a) => images::tag(ctx, a),
        DockerVerb::Import(a) => images::import(ctx, a),
        DockerVerb::Save(a) => images::save(ctx, a),
        DockerVerb::Load(a) => images::load(ctx, a),
        DockerVerb::Build(a) => build::run(ctx, a),
        DockerVerb::Network(v) => network::run(ctx, v),
    }
}

/// The create request of `run` and `create`: Docker's defaults (the
/// bridge network, a generated name), the main process of
/// [`lifecycle::main_command`].
fn create_request<'a>(
    ctx: &Ctx,
    o: &ContainerOpts,
    boot: Option<Start<'a>>,
) -> Result<CreateRequest<'a>> {
    let name = match &o.name {
        Some(n) => n.clone(),
        None => crate::names::generated(|n| {
            Name::parse_as("container name", n).is_ok_and(|n| ctx.runtime.containers.present(&n))
        }),
    };
    let net = o.network.clone().unwrap_or(Net::Bridge);
    let command =
        lifecycle::main_command(&ctx.runtime, &o.image, o.entrypoint.as_deref(), &o.command);
    let container = NewContainer {
        hostname: o.hostname.clone(),
        net,
        host_eth: None,
        vip: o.ip,
        port_maps: o.publish.clone(),
        volumes: o.volume.clone(),
        limits: LimitsConfig {
            cpus: o.cpuset_cpus.as_ref().map(|c| c.0.clone()),
            cpu_quota_percent: o.cpus,
            mem_limit_bytes: o.memory.map(|m| m.0),
            pids_limit: o.pids_limit,
            cpu_shares: o.cpu_shares,
        },
        security: Security {
            seccomp: true,
            cap_add: o.cap_add.iter().flat_map(|c| c.0.clone()).collect(),
            cap_drop: o.cap_drop.iter().flat_map(|c| c.0.clone()).collect(),
        },
        userns: o.userns,
        autostart: None,
        restart: o.restart,
        services: Vec::new(),
        env: args::env_of(&o.env_file, &o.env)?,
        workdir: o.workdir.clone(),
        user: o.user.clone(),
        auto_remove: o.rm,
        tty: o.tty && command.is_some(),
        command,
    };
    Ok(CreateRequest {
        name: Some(name),
        images: vec![o.image.clone()],
        container,
        boot,
    })
}

/// Without `-i` a main process waited for reads nothing (Docker's): this
/// process's stdin, which it inherits, becomes /dev/null.
fn stdin_from_null() -> Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2(null.as_raw_fd(), 0)?;
    Ok(())
}

/// Runs `f` on each container in turn, as Docker does: every one is
/// tried; their names are printed, one a line; the failures, if any,
/// make one error.
fn each(names: &[Name], mut f: impl FnMut(&Name) -> Result<()>) -> Result<Output> {
    let mut done = String::new();
    let mut failed = Vec::new();
    for name in names {
        match f(name) {
            Ok(()) => done.push_str(&format!("{name}\n")),
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    match failed.is_empty() {
        true => Ok(Output::Text(done)),
        false if done.is_empty() => bail!("{}", failed.join("; ")),
        false => bail!(
            "{} (done: {})",
            failed.join("; "),
            done.trim_end().replace('\n', ", ")
        ),
    }
}

/// A duration as Docker writes it (`Less than a second`, `5 minutes`,
/// `About an hour`, `3 days`).
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (minutes, hours, days) = (s / 60, s / 3600, s / 86400);
    match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".to_string(),
        120..=3599 => format!("{minutes} minutes"),
        3600..=7199 => "About an hour".to_string(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if days < 14 => format!("{days} days"),
        _ if days < 90 => format!("{} weeks", days / 7),
        _ if days < 730 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    }
}

/// How long ago an RFC 3339 time was (None: not a time).
fn since(time: &str) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    (chrono::Local::now().fixed_offset() - t).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_s() {
        let d = Duration::from_secs;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(59)), "59 seconds");
        assert_eq!(human_duration(d(61)), "About a minute");
        assert_eq!(human_duration(d(300)), "5 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(5 * 3600)), "5 hours");
        assert_eq!(human_duration(d(3 * 86400)), "3 days");
        assert_eq!(human_duration(d(21 * 86400)), "3 weeks");
        assert_eq!(human_duration(d(800 * 86400)), "2 years");
    }
}
