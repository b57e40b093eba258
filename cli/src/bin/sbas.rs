//! `sbas`: assemble Sigma assembly text into `.sbc` bytecode.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sigma_cli::report_error;

#[derive(Parser)]
#[command(
    name = "sbas",
    version,
    about = "Assemble Sigma assembly (.sbas) into bytecode (.sbc)"
)]
struct Cli {
    /// Input assembly file.
    input: PathBuf,
    /// Output file (default: the input with a .sbc extension).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let text = match std::fs::read_to_string(&cli.input) {
        Ok(t) => t,
        Err(e) => {
            report_error("sbas", &format!("cannot read {}: {e}", cli.input.display()));
            return ExitCode::from(2);
        }
    };
    let (module, _) = match sigma_vm::runtime::assemble(&text, &cli.input.display().to_string()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let out = cli
        .output
        .unwrap_or_else(|| cli.input.with_extension("sbc"));
    if let Err(e) = std::fs::write(&out, sigma_vm::runtime::encode(&module)) {
        report_error("sbas", &format!("cannot write {}: {e}", out.display()));
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
