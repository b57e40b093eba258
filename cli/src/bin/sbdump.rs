//! `sbdump`: print Sigma bytecode as assembly text that `sbas` assembles back to the same bytes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sigma_cli::report_error;

#[derive(Parser)]
#[command(
    name = "sbdump",
    version,
    about = "Disassemble Sigma bytecode (.sbc) into assembly text that sbas reassembles to identical bytes"
)]
struct Cli {
    /// Input bytecode file (.sbas input is assembled first).
    input: PathBuf,
    /// Write the text here instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (module, _) = match sigma_vm::load_file(&cli.input) {
        Ok(m) => m,
        Err(e) => {
            report_error("sbdump", &e);
            return ExitCode::from(1);
        }
    };
    let text = sigma_vm::runtime::disassemble(&module);
    let written = match &cli.output {
        Some(path) => std::fs::write(path, text),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        report_error("sbdump", &format!("cannot write output: {e}"));
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
