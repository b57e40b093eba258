//! `sigma bench`: times a program under the interpreter alone and with the JIT, in this
//! process, and reports median, min and max per tier and the speedup.
//!
//! Each run uses a fresh Vm (so the JIT compiles every time, as a command-line run would) and
//! discards the program's output after checking that every run printed the same thing.

use sigma_vm::OutputBuffer;
use std::time::{Duration, Instant};

use sigma_vm::{
    main_function, new_vm, run_main, Capabilities, JitConfig, JitMode, Module, ModuleInfo, VmConfig,
};

/// What to measure.
pub struct BenchOptions {
    /// Timed runs per tier.
    pub runs: usize,
    /// Untimed runs per tier before timing.
    pub warmup: usize,
    /// Arguments passed to `main`.
    pub args: Vec<String>,
    /// JIT threshold for the `jit` tier.
    pub threshold: u32,
    /// The program's file (its directory is searched for imported modules).
    pub path: Option<std::path::PathBuf>,
    /// More directories searched for imported modules.
    pub module_paths: Vec<std::path::PathBuf>,
}

/// Timings of one tier.
#[derive(Debug, Clone)]
pub struct TierTimes {
    /// The tier's name (`interp` or `jit`).
    pub tier: &'static str,
    /// Every timed run.
    pub samples: Vec<Duration>,
}

impl TierTimes {
    fn sorted(&self) -> Vec<Duration> {
        let mut s = self.samples.clone();
        s.sort();
        s
    }

    /// Median run time.
    pub fn median(&self) -> Duration {
        let s = self.sorted();
        match s.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2,
        }
    }

    /// Fastest run.
    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }

    /// Slowest run.
    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }
}

/// A finished benchmark.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The program's name.
    pub program: String,
    /// Interpreter timings, then JIT timings.
    pub tiers: Vec<TierTimes>,
}

impl BenchReport {
    /// Interpreter median over JIT median.
    pub fn speedup(&self) -> f64 {
        let (i, j) = (
            self.tiers[0].median().as_secs_f64(),
            self.tiers[1].median().as_secs_f64(),
        );
        if j > 0.0 {
            i / j
        } else {
            f64::INFINITY
        }
    }

    /// The human-readable table.
    pub fn table(&self, runs: usize, warmup: usize) -> String {
        let mut out = format!(
            "{}: {runs} timed runs per tier after {warmup} warm-up\n",
            self.program
        );
        out.push_str("| tier   | median     | min        | max        |\n");
        out.push_str("|--------|------------|------------|------------|\n");
        for t in &self.tiers {
            out.push_str(&format!(
                "| {:<6} | {:>8.3} s | {:>8.3} s | {:>8.3} s |\n",
                t.tier,
                t.median().as_secs_f64(),
                t.min().as_secs_f64(),
                t.max().as_secs_f64()
            ));
        }
        out.push_str(&format!(
            "speedup of the JIT (median): {:.2}x\n",
            self.speedup()
        ));
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        let tier = |t: &TierTimes| {
            serde_json::json!({
                "median_s": t.median().as_secs_f64(),
                "min_s": t.min().as_secs_f64(),
                "max_s": t.max().as_secs_f64(),
                "samples_s": t.samples.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            })
        };
        let mut report = serde_json::Map::new();
        report.insert("program".into(), self.program.clone().into());
        for t in &self.tiers {
            report.insert(t.tier.into(), tier(t));
        }
        report.insert("speedup".into(), self.speedup().into());
        serde_json::Value::Object(report).to_string()
    }
}

/// Runs the program once in a fresh Vm; returns the time and what it printed.
fn run_once(
    module: &Module,
    info: &ModuleInfo,
    jit: JitConfig,
    opts: &BenchOptions,
) -> Result<(Duration, Vec<u8>), String> {
    let args = &opts.args;
    let mut vm = new_vm(VmConfig {
        jit,
        capabilities: Capabilities::ALL,
        ..VmConfig::default()
    });
    for dir in &opts.module_paths {
        vm.add_module_path(dir);
    }
    let out = OutputBuffer::default();
    vm.set_stdout(Box::new(out.clone()));
    let started = Instant::now();
    let m = match &opts.path {
        Some(path) => vm.load_from(module, info, path),
        None => vm.load(module, info),
    }
    .map_err(|e| e.to_string())?;
    let main = main_function(&vm, m).map_err(|e| e.to_string())?;
    let result = run_main(&mut vm, main, args);
    let elapsed = started.elapsed();
    if let Err(sigma_vm::Stop::Trap(t)) = result {
        return Err(format!("the program trapped: {t}"));
    }
    let printed = out.bytes();
    Ok((elapsed, printed))
}

/// Benchmarks a loaded program under both tiers.
pub fn bench(
    program: &str,
    module: &Module,
    info: &ModuleInfo,
    opts: &BenchOptions,
) -> Result<BenchReport, String> {
    let tiers = [
        (
            "interp",
            JitConfig {
                mode: JitMode::Off,
                ..JitConfig::default()
            },
        ),
        (
            "jit",
            JitConfig {
                mode: JitMode::On,
                threshold: opts.threshold,
                trace: false,
            },
        ),
    ];
    let mut reference: Option<Vec<u8>> = None;
    let mut report = BenchReport {
        program: program.to_owned(),
        tiers: Vec::new(),
    };
    for (name, jit) in tiers {
        let mut samples = Vec::new();
        for i in 0..opts.warmup + opts.runs {
            let (t, printed) = run_once(module, info, jit, opts)?;
            match &reference {
                None => reference = Some(printed),
                Some(r) if *r != printed => {
                    return Err(format!(
                    "the {name} tier printed different output than the first run:\n{}\nversus\n{}",
                    String::from_utf8_lossy(r),
                    String::from_utf8_lossy(&printed)
                ))
                }
                Some(_) => {}
            }
            if i >= opts.warmup {
                samples.push(t);
            }
        }
        report.tiers.push(TierTimes {
            tier: name,
            samples,
        });
    }
    Ok(report)
}
