//! `abridge serve`: loads the model, listens (loopback by default), and serves until Ctrl-C
//! or SIGTERM, after which it answers the requests it has taken and exits 0; a second
//! Ctrl-C exits at once with 130.

use super::args::{ModelArgs, ReadingArgs, SummaryArgs, SUMMARIZE_DEFAULTS};
use super::INTERRUPTED;
use crate::serve::{self, queue, Settings};
use crate::summarize::SummaryOptions;
use anyhow::{Context, Result};
use clap::builder::RangedU64ValueParser;
use clap::Args;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

/// Examples of `abridge serve`.
pub(super) const EXAMPLES: &str = "\
Examples:
  abridge serve                                   # http://127.0.0.1:8080, the default model
  abridge serve --port 9000 --batch-size 8 --model smollm2-135m-instruct
  abridge serve --host 0.0.0.0 --queue 16 --report # every machine that reaches it; no auth";

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    summary: SummaryArgs,
    /// Add the article report to every summary whose request does not say `"report": false`.
    #[arg(long)]
    report: bool,
    /// The address to listen on. Loopback by default: any other address lets every machine
    /// that reaches it use the model (there is no authentication).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// The port to listen on; 0 picks a free one (the line on standard error names it).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Requests that may wait for the model; more at once are answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    queue: usize,
    /// The largest request body, in kilobytes (2^10 bytes); a larger one is answered 413.
    #[arg(long, value_name = "KB", default_value_t = 1024,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1 << 20))]
    max_request_kb: usize,
    #[command(flatten)]
    reading: ReadingArgs,
}

pub(super) fn run(args: ServeArgs) -> Result<ExitCode> {
    let options = SummaryOptions {
        report: args.report,
        ..args.summary.options(&args.model, SUMMARIZE_DEFAULTS)
    };
    let (model, checked) = (args.model.clone(), options.clone());
    let (queue, model_thread) = queue::start(
        move || {
            let summarizer = model.load()?;
            summarizer.check_options(&checked)?;
            Ok(summarizer)
        },
        args.queue,
        args.model.batch_size,
    )?;
    let settings = Settings {
        defaults: options,
        fetching: args.reading.fetching(args.model.source.offline()),
        max_request_bytes: args.max_request_kb << 10,
        log: !args.model.quiet,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let (host, port) = (args.host, args.port);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .with_context(|| format!("cannot listen on {host} port {port}"))?;
        let address = listener.local_addr()?;
        if !host.is_loopback() {
            eprintln!(
                "abridge: warning: listening on {host}: every machine that reaches it can use \
                 the model (no authentication)"
            );
        }
        // The address line is printed even with --quiet: with --port 0 it is the only way
        // to learn the port.
        eprintln!(
            "abridge: serving {} on http://{address} (POST /v1/summarize, GET /health); \
             Ctrl-C stops",
            queue.model()
        );
        serve::serve(listener, settings, queue, stop_signal()).await?;
        anyhow::Ok(())
    })?;
    // Every request taken has been answered; the model's thread ends with the queue.
    let _ = model_thread.join();
    if !args.model.quiet {
        eprintln!("abridge: stopped");
    }
    Ok(ExitCode::SUCCESS)
}

/// Completes at the first Ctrl-C or SIGTERM; from then on a second Ctrl-C exits at once.
async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("abridge: stopping: answering the requests already taken (Ctrl-C again to stop now)");
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(INTERRUPTED.into());
    });
}
