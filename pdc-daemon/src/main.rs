//! `pdc-daemon`: create and run a Sec-Net PDC node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pdc_daemon::config::{CONFIG_FILE, Config, Role, default_data_dir};

/// Sec-Net PDC node: holds your medical data and decides who may read it.
#[derive(Parser, Debug)]
#[command(name = "pdc-daemon", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new node: signing key, records key, API token and config (all 0600).
    Init {
        /// patient or hospital.
        #[arg(long)]
        role: Role,
        /// Display name (a label; others see it beside your key fingerprint).
        #[arg(long)]
        name: String,
        /// Where the node keeps its keys and data.
        #[arg(long, env = "PDC_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run the node until SIGINT or SIGTERM.
    Run {
        /// The node's data directory (holds config.toml).
        #[arg(long, env = "PDC_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Config file; default: DATA_DIR/config.toml.
        #[arg(long, env = "PDC_CONFIG")]
        config: Option<PathBuf>,
        /// Override the API listen address, e.g. 127.0.0.1:0 for any free port.
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
    },
    /// Start a whole demo network in this process: Hospital1, Hospital2, Alice, patients
    /// imported from FHIR bundles and a new patient to register; prints each portal's
    /// URL and demo login. Ctrl-C stops it.
    Demo {
        /// Keep the nodes' data here (reused by the next run); default: a temporary
        /// directory removed at exit.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// First portal port (node i gets PORT_BASE+i); 0 picks free ports.
        #[arg(long, default_value_t = 7100)]
        port_base: u16,
        /// FHIR bundles to import as extra patients; default: the shared synthetic
        /// bundles next to the repository, when present.
        #[arg(long)]
        fhir: Option<PathBuf>,
        /// How many bundles to import.
        #[arg(long, default_value_t = 3)]
        fhir_patients: usize,
    },
    /// Evaluate the disease search: import every FHIR bundle of DIR as one patient, run
    /// every query of FILE.tsv, print precision and recall beside a substring baseline.
    /// Or, with --typed and --typed-queries, the same over patient-typed conditions
    /// (one record each). With --split and --half, only that half of the set.
    SearchEval(pdc_daemon::search_eval::EvalOptions),
    /// Regenerate the embedded ICD-10-CM terminology file from the CMS tabular XML.
    Icd10Gen {
        /// The tabular XML, e.g. ../shared/data/icd10cm/icd10c-tabular-April-1-2026.xml.
        #[arg(long)]
        xml: PathBuf,
        /// Output file; default pdc-daemon/src/search/icd10cm.tsv.
        #[arg(long, default_value = "pdc-daemon/src/search/icd10cm.tsv")]
        out: PathBuf,
    },
    /// Replay labelled traffic (a trace file, or one generated from a seed) through the
    /// real access guard as a node's decision path drives it, and print detection and
    /// false-positive rates beside a fixed rate limit and a per-requester z-score.
    GuardEval {
        /// Seed of the traffic generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Generator: clinic (day-shift hospitals) or shifted (night EDs, research,
        /// newcomers, drift).
        #[arg(long, default_value = "clinic")]
        generator: pdc_daemon::guard_eval::Generator,
        /// Replay this trace (JSON lines, see the README) instead of generating one.
        #[arg(long, conflicts_with_all = ["seed", "generator", "write_traffic"])]
        traffic: Option<PathBuf>,
        /// Write the generated trace to this file instead of evaluating it.
        #[arg(long)]
        write_traffic: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", pdc_proto::report::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init {
            role,
            name,
            data_dir,
        } => init(role, &name, data_dir),
        Command::Run {
            data_dir,
            config,
            api_listen,
        } => run(data_dir, config, api_listen),
        Command::Demo {
            dir,
            port_base,
            fhir,
            fhir_patients,
        } => demo(pdc_daemon::demo::DemoOptions {
            dir,
            port_base,
            fhir,
            fhir_patients,
        }),
        Command::SearchEval(opts) => search_eval(&opts),
        Command::Icd10Gen { xml, out } => icd10_gen(&xml, &out),
        Command::GuardEval {
            seed,
            generator,
            traffic,
            write_traffic,
        } => guard_eval(seed, generator, traffic, write_traffic),
    }
}

/// A multi-threaded runtime for the subcommands that run async code.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `init`: creates the node and tells the user what to back up and how to start it.
fn init(role: Role, name: &str, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = data_dir.unwrap_or_else(default_data_dir);
    let report = pdc_daemon::node::init(&dir, role, name)?;
    println!(
        "created {role} node '{}' in {}",
        name.trim(),
        report.data_dir.display()
    );
    println!("account:  {}", report.account);
    println!("peer id:  {}", report.peer_id);
    println!(
        "Back up {}/keys/node.key: losing it loses this account.",
        report.data_dir.display()
    );
    println!(
        "Start it with: pdc-daemon run --data-dir {}",
        report.data_dir.display()
    );
    Ok(())
}

/// `run`: loads the config (refusing with the `init` command line when there is none)
/// and runs the node until a shutdown signal.
fn run(
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    api_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let path = match (config, data_dir) {
        (Some(c), _) => c,
        (None, Some(d)) => d.join(CONFIG_FILE),
        (None, None) => default_data_dir().join(CONFIG_FILE),
    };
    if !path.exists() {
        anyhow::bail!(
            "no node config at {}; create a node first with `pdc-daemon init --role patient|hospital --name NAME --data-dir DIR`",
            path.display()
        );
    }
    let mut cfg = Config::load(&path)?;
    if let Some(a) = api_listen {
        cfg.api_listen = a;
    }
    init_tracing(&cfg.log);
    runtime()?.block_on(pdc_daemon::daemon::run(
        cfg,
        pdc_daemon::node::shutdown_signal(),
    ))?;
    Ok(())
}

/// `demo`: the whole demo network in this process, with the shared FHIR bundles when
/// no directory is named and they are found next to the repository.
fn demo(mut opts: pdc_daemon::demo::DemoOptions) -> anyhow::Result<()> {
    init_tracing("warn");
    opts.fhir = opts.fhir.or_else(|| {
        [
            PathBuf::from("../shared/data/fhir"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fhir"),
        ]
        .into_iter()
        .find(|p| p.is_dir())
    });
    runtime()?.block_on(pdc_daemon::demo::run(
        opts,
        pdc_daemon::node::shutdown_signal(),
    ))
}

/// `search-eval`: runs the evaluation and prints its report.
fn search_eval(opts: &pdc_daemon::search_eval::EvalOptions) -> anyhow::Result<()> {
    let report = runtime()?
        .block_on(pdc_daemon::search_eval::run_with(opts))?
        .to_string();
    // The last line is machine-read: make sure it is a whole line.
    if report.ends_with('\n') {
        print!("{report}");
    } else {
        println!("{report}");
    }
    Ok(())
}

/// `icd10-gen`: regenerates the embedded terminology file from the CMS XML.
fn icd10_gen(xml: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(xml).with_context(|| format!("cannot read {}", xml.display()))?;
    let data = pdc_daemon::search::generate_terminology(&text)?;
    std::fs::write(out, &data).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), data.len());
    Ok(())
}

/// `guard-eval`: writes a generated trace, or evaluates a trace file or a generated one.
fn guard_eval(
    seed: u64,
    generator: pdc_daemon::guard_eval::Generator,
    traffic: Option<PathBuf>,
    write_traffic: Option<PathBuf>,
) -> anyhow::Result<()> {
    use pdc_daemon::guard_eval::{Trace, evaluate_trace, generate_traffic, run_guard_eval};
    if let Some(path) = write_traffic {
        let trace = generate_traffic(generator, seed);
        let f = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        trace
            .write(std::io::BufWriter::new(f))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "wrote {} ({} requests, {generator} generator, seed {seed})",
            path.display(),
            trace.lines.len()
        );
        return Ok(());
    }
    let report = match traffic {
        Some(path) => {
            let trace = Trace::load(&path)?;
            evaluate_trace(&trace, &format!("trace {}", path.display()))
        }
        None => run_guard_eval(generator, seed),
    };
    println!("{report}");
    Ok(())
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
