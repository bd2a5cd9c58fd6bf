//! `ps [-a] [-q] [--format table|json]`: the containers (running ones,
//! `-a` all), made by either grammar: NAME, IMAGE, COMMAND, CREATED,
//! STATUS (`Up 5 minutes`, `Exited (3) 2 minutes ago`, `Paused`,
//! `Created`), PORTS; `--format json` one object a line, as Docker's.

use std::time::SystemTime;

use anyhow::Result;
use serde::Serialize;

use super::{human_duration, since};
use crate::commands::{table, Ctx, Output};
use crate::container::Status;
use crate::docker_cli::{Format, PsArgs};
use crate::lifecycle::{self, Summary};

/// One container as `ps` shows it (the JSON keys are Docker's).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    names: String,
    image: String,
    command: String,
    created_at: String,
    /// `running`, `paused`, `exited`, `created`.
    state: String,
    status: String,
    ports: String,
    exit_code: Option<i32>,
}

fn status(s: &Summary, ran: bool) -> (String, String) {
    let ago = |t: Option<SystemTime>| {
        t.and_then(|t| t.elapsed().ok())
            .map(|d| format!(" {} ago", human_duration(d)))
            .unwrap_or_default()
    };
    let up = || {
        s.booted_at
            .as_deref()
            .and_then(since)
            .map(|d| format!("Up {}", human_duration(d)))
            .unwrap_or_else(|| "Up".to_string())
    };
    match s.status {
        Status::Running { .. } => ("running".into(), up()),
        Status::Paused { .. } => ("paused".into(), "Paused".into()),
        Status::Stopped if !ran => ("created".into(), "Created".into()),
        Status::Stopped => (
            "exited".into(),
            match s.exit_code {
                Some(code) => format!("Exited ({code}){}", ago(s.exited_at)),
                None => "Exited".to_string(),
            },
        ),
    }
}

fn row(ctx: &Ctx, s: Summary) -> Row {
    // An exit record (even an empty one) tells it ran.
    let ran = ctx
        .runtime
        .containers
        .path(&s.name, crate::container::store::EXIT_FILE)
        .exists();
    let (state, status) = status(&s, ran);
    let (image, command, created_at, ports) = match &s.config {
        Ok(c) => (
            c.images.last().map(ToString::to_string).unwrap_or_default(),
            s.exec
                .clone()
                .or_else(|| c.command.clone())
                .unwrap_or_default(),
            c.created.clone(),
            c.port_mappings
                .iter()
                .map(|p| {
                    let proto = if p.udp { "udp" } else { "tcp" };
                    format!("0.0.0.0:{}->{}/{proto}", p.host, p.container)
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Err(_) => Default::default(),
    };
    Row {
        names: s.name.to_string(),
        image,
        command,
        created_at,
        state,
        status,
        ports,
        exit_code: s.exit_code,
    }
}

/// `"sh -c 'echo…"`: at most 20 characters, quoted.
fn short_command(command: &str) -> String {
    let mut text: String = command.chars().take(20).collect();
    if command.chars().count() > 20 {
        text.pop();
        text.push('…');
    }
    format!("\"{text}\"")
}

pub fn run(ctx: &Ctx, a: &PsArgs) -> Result<Output> {
    let rows: Vec<Row> = lifecycle::list(&ctx.runtime)?
        .into_iter()
        .filter(|s| a.all || s.status != Status::Stopped)
        .map(|s| row(ctx, s))
        .collect();
    if a.quiet {
        return Ok(Output::Text(
            rows.iter().map(|r| format!("{}\n", r.names)).collect(),
        ));
    }
    if a.format == Some(Format::Json) {
        let mut out = String::new();
        for r in &rows {
            out.push_str(&serde_json::to_string(r)?);
            out.push('\n');
        }
        return Ok(Output::Text(out));
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.names.clone(),
                r.image.clone(),
                short_command(&r.command),
                since(&r.created_at)
                    .map(|d| format!("{} ago", human_duration(d)))
                    .unwrap_or_default(),
                r.status.clone(),
                r.ports.clone(),
            ]
        })
        .collect();
    Ok(Output::Text(table(
        &["NAME", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"],
        &cells,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_cut_as_docker_cuts_them() {
        assert_eq!(short_command("sleep 1"), "\"sleep 1\"");
        assert_eq!(
            short_command("sh -c 'echo hello; sleep 100'"),
            "\"sh -c 'echo hello; …\""
        );
        assert_eq!(short_command(""), "\"\"");
    }
}
