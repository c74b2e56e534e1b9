//! The `hookflow` command line: `serve`, `setup`, `flows`, `deliveries` (delegated to
//! [`crate::durable::cli`]), and the signature tools (`signature`, `send`, delegated to
//! [`crate::signature::cli`]). Entered from the binary's `main` with the
//! flows compiled into it; builds the tokio runtime here so nothing generic is compiled in the
//! binary crate.
//!
//! Exit codes: 0 success; 1 the server failed at run time; 2 a usage or configuration mistake
//! (bad answers file, bad bundle, bad `--listen`), with a message naming the key at fault.

use crate::__gen::Registry;
use crate::config::{self, ConfigError, Overrides};
use crate::reload::{Live, Source};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// hookflow: webhooks in, YAML flows compiled into this binary.
#[derive(Debug, Parser)]
#[command(
    name = "hookflow",
    version,
    about = "hookflow: a webhook receiver whose YAML flows are compiled into this binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook server (POST /events/webhook/{tenant}/{event_type}).
    ///
    /// Without BUNDLE_DIR it runs on the embedded defaults: 127.0.0.1:8080, provider enabled,
    /// public_base_url http://127.0.0.1:8080, no signature checks. Every bundle setting can also
    /// come from a HOOKFLOW_* variable (docs/configuration.md). Log filtering with HOOKFLOW_LOG or
    /// RUST_LOG (default `info`). SIGHUP reloads the configuration without a restart.
    Serve(ServeArgs),
    /// Validate an answers.json and write a bundle directory that `serve` runs from; prints the
    /// webhook URLs to register. Exit code 2 (and nothing written) if the answers are invalid.
    Setup(SetupArgs),
    /// List the compiled flows: triggers, nodes and the edges between them.
    Flows,
    /// Check or produce webhook signatures (the server's own code path).
    Signature(crate::signature::cli::SignatureArgs),
    /// Send one (optionally signed) delivery to a running hookflow.
    Send(crate::signature::cli::SendArgs),
    /// Make a running `serve` re-read its configuration (through its admin endpoint); the same
    /// as `kill -HUP <pid>`. Exit 1 if the server refused the file (it keeps the old one).
    Reload(ReloadArgs),
    /// Look into the delivery store: list, show, replay, retry dead work.
    Deliveries(crate::durable::cli::DeliveriesArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A bundle directory written by `hookflow setup`.
    #[arg(env = "HOOKFLOW_BUNDLE")]
    pub bundle_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080 (overrides HOOKFLOW_LISTEN and the bundle's
    /// `listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "HOOKFLOW_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Also listen on this loopback address for `hookflow reload` (POST /reload) and private
    /// metrics (GET /metrics), e.g. 127.0.0.1:9090. Off by default; loopback only.
    #[arg(long, env = "HOOKFLOW_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// The state directory: the delivery store (`hookflow.db`). Default: the bundle's `state/`,
    /// else $XDG_STATE_HOME/hookflow (or ~/.local/state/hookflow).
    #[arg(long, env = "HOOKFLOW_STATE", value_name = "DIR")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    /// The admin address `serve --admin-listen` was given.
    #[arg(long, env = "HOOKFLOW_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin: String,
}

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// The answers file (`{"events-webhook": {...}}`).
    #[arg(long, value_name = "FILE")]
    pub answers: PathBuf,
    /// Where to write the bundle (created if needed).
    pub bundle_dir: PathBuf,
}

pub use crate::logging::LogFormat;

/// Runs the command line with the flows compiled into this binary.
pub fn main(flows: &'static Registry) -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args, flows),
        Command::Setup(args) => setup(&args, flows),
        Command::Flows => {
            print!("{}", describe_flows(flows));
            ExitCode::SUCCESS
        }
        Command::Signature(args) => crate::signature::cli::run(args),
        Command::Send(args) => crate::signature::cli::run_send(args),
        Command::Reload(args) => reload(&args),
        Command::Deliveries(args) => crate::durable::cli::main(args, flows),
    }
}

/// Installs the global `tracing` subscriber (see [`crate::logging::init`]).
pub fn init_logging(format: LogFormat) {
    crate::logging::init(format);
}

fn serve(args: ServeArgs, flows: &'static Registry) -> ExitCode {
    init_logging(args.log_format);
    let overrides = Overrides {
        listen: args.listen,
        state_dir: args.state,
    };
    let admin = match args
        .admin_listen
        .as_deref()
        .map(crate::admin::parse_addr)
        .transpose()
    {
        Ok(a) => a,
        Err(message) => {
            return config_error(&ConfigError::Invalid {
                key: "--admin-listen / HOOKFLOW_ADMIN_LISTEN".to_string(),
                message,
            })
        }
    };
    let live = match Live::load(Source {
        bundle: args.bundle_dir.clone(),
        overrides,
    }) {
        Ok(l) => l,
        Err(e) => return config_error(&e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let served = rt.block_on(async {
        if let Some(addr) = admin {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| crate::server::ServerError::Bind { addr, source })?;
            let bound = listener.local_addr().unwrap_or(addr);
            tracing::info!("admin endpoint on http://{bound} (POST /reload, GET /metrics)");
            tokio::spawn(crate::admin::serve(listener, live.clone(), flows));
        }
        #[cfg(unix)]
        tokio::spawn(crate::reload::reload_on_sighup(live.clone(), flows));
        crate::server::run(live, flows, None, shutdown_signal()).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        // A secret a flow needs is missing: a configuration mistake, like a bad bundle.
        Err(
            e @ (crate::server::ServerError::Setup(_)
            | crate::server::ServerError::Store(crate::durable::OpenError::Locked(_))),
        ) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

/// `hookflow reload`: 0 reloaded (warnings on stderr), 1 refused or unreachable, 2 bad address.
fn reload(args: &ReloadArgs) -> ExitCode {
    let addr = match crate::admin::parse_addr(&args.admin) {
        Ok(a) => a,
        Err(message) => {
            return config_error(&ConfigError::Invalid {
                key: "--admin / HOOKFLOW_ADMIN_LISTEN".to_string(),
                message,
            })
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(crate::admin::request_reload(addr)) {
        Ok(crate::admin::ReloadOutcome::Reloaded(v)) => {
            let changed: Vec<&str> = v["changed"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
                .unwrap_or_default();
            if changed.is_empty() {
                eprintln!("reloaded (no key changed; file: secrets were re-read)");
            } else {
                eprintln!("reloaded; changed: {}", changed.join(", "));
            }
            for w in v["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Ok(crate::admin::ReloadOutcome::Refused(m)) | Err(m) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

fn setup(args: &SetupArgs, flows: &'static Registry) -> ExitCode {
    let text = match std::fs::read_to_string(&args.answers) {
        Ok(t) => t,
        Err(e) => {
            return config_error(&ConfigError::Read {
                path: args.answers.clone(),
                message: e.to_string(),
            })
        }
    };
    let config = match config::write_bundle(&text, &args.bundle_dir) {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    eprintln!(
        "wrote {} and {}/",
        args.bundle_dir.join(config::BUNDLE_FILE).display(),
        args.bundle_dir.join(config::STATE_DIR).display()
    );
    let urls = config.webhook_urls(flows);
    if urls.is_empty() {
        eprintln!("no compiled flow has a trigger: there is no webhook URL to register");
    } else {
        eprintln!("register these webhook URLs with your senders (POST):");
    }
    for u in urls {
        println!("{u}");
    }
    for w in setup_warnings(&text, &config, flows) {
        eprintln!("warning: {w}");
    }
    eprintln!("run it with: hookflow serve {}", args.bundle_dir.display());
    ExitCode::SUCCESS
}

/// `setup`'s warnings (the bundle is still written): every compiled trigger event type that
/// some tenant can deliver without a signature check, and every inline secret in the bundle.
pub fn setup_warnings(answers: &str, config: &config::Config, flows: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    for e in config::Config::event_types(flows) {
        if !config.is_signed_for_all_tenants(e) {
            out.push(format!(
                "event type `{e}` has no signature check configured for every tenant (unsigned deliveries are accepted, or rejected where `require_signature` is true); add `signatures.{e}` or `tenants.<tenant>.signatures.{e}` (see docs/signatures.md)"
            ));
        }
    }
    if let Ok(raw) = config::RawConfig::from_answers_json(answers) {
        for key in raw.inline_secret_keys() {
            out.push(format!(
                "{key}: the secret is written inline into the bundle; prefer a reference, `env:NAME` or `file:PATH`, which is resolved at start and never written"
            ));
        }
    }
    out
}

/// The text of `hookflow flows`.
pub fn describe_flows(flows: &Registry) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if flows.flows.is_empty() {
        out.push_str("no flows compiled into this binary (add flows/*.yaml and rebuild)\n");
    }
    for f in flows.flows {
        let _ = writeln!(out, "flow {} (version {}, {})", f.name, f.version, f.file);
        let node = |ix: u16| f.nodes.get(usize::from(ix)).map_or("?", |n| n.id);
        if f.triggers.is_empty() {
            let _ = writeln!(out, "  triggers: none (started by `async` only)");
        }
        for t in f.triggers {
            let _ = writeln!(
                out,
                "  trigger event_type {:?} -> {}",
                t.event_type,
                node(t.target)
            );
        }
        for n in f.nodes {
            let _ = writeln!(out, "  node {} [{}] line {}", n.id, n.kind, n.line);
            for e in n.edges {
                let _ = writeln!(out, "    {} --{}--> {}", n.id, e.label, node(e.to));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__gen::{EdgeDef, FlowDef, NodeDef, TriggerDef, Yield};

    static FLOW: FlowDef = FlowDef {
        name: "handle_github",
        version: "1.0",
        file: "flows/github.yaml",
        triggers: &[TriggerDef {
            event_type: "github",
            target: 0,
        }],
        nodes: &[
            NodeDef {
                id: "check_event",
                kind: "branch",
                line: 4,
                edges: &[
                    EdgeDef {
                        label: "headers['x-github-event'] == 'push'",
                        to: 1,
                    },
                    EdgeDef {
                        label: "default",
                        to: 1,
                    },
                ],
            },
            NodeDef {
                id: "respond",
                kind: "http_response",
                line: 12,
                edges: &[],
            },
        ],
        secrets: &[],
        payload_fields: None,
        run: |_, _| Ok(Yield::Finished),
    };
    static LATER: FlowDef = FlowDef {
        name: "later",
        version: "1",
        file: "flows/later.yaml",
        triggers: &[],
        nodes: &[],
        secrets: &[],
        payload_fields: None,
        run: |_, _| Ok(Yield::Finished),
    };

    #[test]
    fn flows_lists_triggers_nodes_and_edges() {
        static REG: Registry = Registry {
            flows: &[&FLOW, &LATER],
        };
        let text = describe_flows(&REG);
        let want = "\
flow handle_github (version 1.0, flows/github.yaml)
  trigger event_type \"github\" -> check_event
  node check_event [branch] line 4
    check_event --headers['x-github-event'] == 'push'--> respond
    check_event --default--> respond
  node respond [http_response] line 12
flow later (version 1, flows/later.yaml)
  triggers: none (started by `async` only)
";
        assert_eq!(text, want);
    }

    #[test]
    fn the_command_line_parses() {
        let cli = Cli::try_parse_from([
            "hookflow",
            "serve",
            "b",
            "--listen",
            "0.0.0.0:1",
            "--log-format",
            "json",
        ]);
        match cli.map(|c| c.command) {
            Ok(Command::Serve(a)) => {
                assert_eq!(a.bundle_dir, Some(PathBuf::from("b")));
                assert_eq!(a.listen.as_deref(), Some("0.0.0.0:1"));
                assert_eq!(a.log_format, LogFormat::Json);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Cli::try_parse_from(["hookflow", "setup", "b"]).is_err(),
            "--answers is required"
        );
        assert!(Cli::try_parse_from(["hookflow", "serve", "--log-format", "xml"]).is_err());
    }
}
