//! `switchboard dialog run FILE`: plays a scripted conversation against a running server
//! and reports each step (docs/ci.md, "Scripted dialogs").

mod junit;
mod parse;
mod runner;

use crate::chat::client::{Admin, Conn};
use anyhow::Context;
use clap::{Args, Subcommand};
use runner::Outcome;
use std::path::PathBuf;

#[derive(Args)]
pub struct DialogArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: DialogCommand,
}

#[derive(Subcommand)]
enum DialogCommand {
    /// Play a dialog file's steps; exit 0 only when every step passes.
    Run {
        /// The dialog (TOML).
        file: PathBuf,
        /// Also write the results as JUnit XML to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
}

/// A dialog with a failed step: its lines are printed already, so the error says only that.
#[derive(Debug)]
pub struct DialogFailed {
    failed: usize,
    total: usize,
}

impl std::fmt::Display for DialogFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} steps did not pass", self.failed, self.total)
    }
}

impl std::error::Error for DialogFailed {}

pub async fn run(args: DialogArgs) -> anyhow::Result<()> {
    let DialogCommand::Run { file, junit } = args.command;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("dialog")
        .trim_end_matches(".dialog");
    let dialog = parse::parse(&text, stem).with_context(|| format!("{}", file.display()))?;
    let admin = Admin::new(&args.conn)?;
    let mut printed = Ok(());
    let results = runner::run(&admin, &dialog, |r| {
        let head = format!("step {} (line {}): {}", r.index, r.line, r.name);
        let line = match &r.outcome {
            Outcome::Passed(what) => format!("PASS {head}: {what} ({:.2}s)", r.seconds),
            Outcome::Failed(why) => format!("FAIL {head} ({:.2}s): {why}", r.seconds),
            Outcome::Skipped => format!("SKIP {head}"),
        };
        if printed.is_ok() {
            printed = crate::outln(line);
        }
    })
    .await;
    if let Some(path) = junit {
        std::fs::write(&path, junit::render(&dialog.name, &results))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    printed?;
    let failed = results
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Passed(_)))
        .count();
    if failed > 0 {
        return Err(DialogFailed {
            failed,
            total: results.len(),
        }
        .into());
    }
    crate::outln(format_args!(
        "{}: all {} steps passed",
        dialog.name,
        results.len()
    ))
}
