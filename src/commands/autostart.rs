//! `-a autostart`: boots every container flagged with `--autostart ORDER`,
//! lower orders first and names breaking ties (what the systemd unit runs at
//! host start, like `lxc-autostart`); `-h` shuts them down in the reverse
//! order; `-c C --autostart ORDER|off` sets or clears the flag.

use anyhow::{bail, Result};

use super::{Ctx, Output};
use crate::cli::Args;
use crate::lifecycle;

pub fn run(ctx: &Ctx, args: &Args) -> Result<Output> {
    if let Some(name) = &args.container {
        let Some(setting) = args.autostart else {
            bail!("-a autostart -c {name} needs --autostart ORDER|off");
        };
        lifecycle::set_autostart(&ctx.runtime, name, setting.order())?;
        return Ok(Output::Ok);
    }
    let report = lifecycle::autostart(&ctx.runtime, args.shutdown, ctx.force)?;
    Ok(Output::Text(
        report
            .iter()
            .map(|(name, what)| format!("{name}: {what}\n"))
            .collect(),
    ))
}
