//! The home as both grammars show it: `-s info` without `-c` and
//! `xdocker info` (text, or the summary as JSON).

use anyhow::Result;

use super::{human_size, Ctx, Output};
use crate::lifecycle::{self, HomeSummary};

pub fn write(ctx: &Ctx, json: bool) -> Result<Output> {
    let summary = lifecycle::home(&ctx.runtime)?;
    if json {
        return Output::json(&summary);
    }
    Ok(Output::Text(text(&summary)))
}

fn text(s: &HomeSummary) -> String {
    let n = &s.names;
    let c = &s.containers;
    let lines = [
        ("version", format!("xdocker v{}", s.version)),
        ("home", n.path.display().to_string()),
        (
            "config",
            format!(
                "{} ({})",
                s.config_file.display(),
                if s.config_file_exists {
                    "present"
                } else {
                    "absent: every setting is its default"
                }
            ),
        ),
        (
            "cgroups",
            format!(
                "{} at {}, parent {}",
                s.cgroup_version,
                n.cgroup_root.display(),
                n.cgroup_parent
            ),
        ),
        ("bridge", format!("{} {}", n.bridge, n.subnet)),
        ("nft_table", n.nft_table.clone()),
        (
            "containers",
            format!(
                "{} ({} running, {} paused, {} stopped, {} broken)",
                c.total, c.running, c.paused, c.stopped, c.broken
            ),
        ),
        ("images", s.images.to_string()),
        ("networks", format!("{} (besides BRIDGE)", s.networks)),
        (
            "logs",
            format!(
                "rotated at {}, {} files kept",
                human_size(s.log_max_size),
                s.log_max_files
            ),
        ),
    ];
    lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}
